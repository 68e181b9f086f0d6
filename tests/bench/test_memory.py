"""Peak RSS is the worker's own, not its parent's (ru_maxrss is carried over exec on Linux)."""

import subprocess
import sys

import numpy as np
import pytest

from keras_lm.bench.memory import peak_rss_mb
from keras_lm.bench.memory import wait_with_peak

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="VmHWM is in Linux's /proc")


@pytest.fixture(scope="module")
def parent_holding_1gb():
    held = np.ones(1 << 27)  # 1 GiB, touched
    yield held
    del held


@linux_only
def test_a_worker_reports_its_own_peak_not_its_parents(parent_holding_1gb):
    assert peak_rss_mb() > 1024
    out = subprocess.run(
        [sys.executable, "-m", "keras_lm.bench.memory"], capture_output=True, text=True, check=True
    )
    assert float(out.stdout.split()[0]) < 200
    inherited = subprocess.run(
        [sys.executable, "-c", "import resource; print(resource.getrusage(0).ru_maxrss)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(inherited.stdout) > 1024 * 1024  # what the old reading said: the parent's GB


@linux_only
def test_wait_with_peak_reads_a_childs_growth(parent_holding_1gb):
    code = "import time; b = bytearray(300 << 20); time.sleep(0.5)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    peak = wait_with_peak(proc, interval_s=0.02)
    assert proc.returncode == 0
    assert 300 < peak < 600


@linux_only
def test_tree_peak_adds_a_grandchilds_memory():
    # A converter subprocess (TFLite's) holds memory the export process's own VmHWM never sees.
    grandchild = "import time; b = bytearray(300 << 20); time.sleep(0.6)"
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    own = subprocess.Popen([sys.executable, "-c", code])
    assert wait_with_peak(own, interval_s=0.02) < 100
    tree = subprocess.Popen([sys.executable, "-c", code])
    assert 300 < wait_with_peak(tree, interval_s=0.02, tree=True) < 700
