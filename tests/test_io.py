"""Atomic writes leave nothing half-written behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from keras_lm.io import atomic_dir
from keras_lm.io import atomic_write
from keras_lm.io import data_dir_candidates
from keras_lm.io import final_name
from keras_lm.io import new_folder
from keras_lm.io import remove_stale_temporaries


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failed_directory_leaves_nothing(tmp_path):
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "model.bin").write_bytes(b"x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old").write_text("1")
    with pytest.raises(FileExistsError), atomic_dir(target):
        pass
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("KERAS_LM_CACHE", str(tmp_path / "cache"))
    assert data_dir_candidates(tmp_path / "arg") == [
        tmp_path / "arg",
        tmp_path / "env",
        tmp_path / "cache",
    ]


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_temporary_names_its_process_and_a_dead_ones_is_removed_by_the_next_write(tmp_path):
    # A process killed inside `atomic_dir` (as an export is) leaves its temporary folder.
    code = (
        "import os, signal, sys\n"
        "from keras_lm.io import atomic_dir\n"
        "with atomic_dir(sys.argv[1]) as tmp:\n"
        "    (tmp / 'model.onnx').write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    target = tmp_path / "bundle"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run([sys.executable, "-c", code, str(target)], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    (left,) = _temporaries(tmp_path)
    assert re.fullmatch(r"\.bundle\.pid\d+\.[a-z0-9_]{8}\.tmp", left)
    with atomic_dir(target) as tmp:
        (tmp / "model.onnx").write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_only_temporaries_of_dead_processes_are_stale(tmp_path):
    live = tmp_path / f".bundle.pid{os.getpid()}.abcd1234.tmp"  # this process: still writing
    dead = tmp_path / ".bundle.pid999999999.abcd1234.tmp"  # past any pid_max
    other = tmp_path / ".other.pid999999999.abcd1234.tmp"
    unowned = tmp_path / ".bundle.abcd1234.tmp"  # written before temporaries named their PID
    for folder in (live, dead, other, unowned):
        folder.mkdir()
    (tmp_path / ".bundle.pid999999999.abcd1234.tmp.bak").write_text("not ours")
    assert remove_stale_temporaries(tmp_path, "bundle") == [dead]
    assert remove_stale_temporaries(tmp_path) == [other]
    assert remove_stale_temporaries(tmp_path, unowned=True) == [unowned]
    assert live.is_dir() and (tmp_path / ".bundle.pid999999999.abcd1234.tmp.bak").is_file()
    assert final_name(live) == str(tmp_path / "bundle")


def test_new_folder_removes_the_folders_it_made_when_the_block_fails(tmp_path):
    with pytest.raises(OSError), new_folder(tmp_path / "cache" / "datasets" / "spa-eng"):
        raise OSError("network unreachable")
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "cache"
    kept.mkdir()
    with pytest.raises(OSError), new_folder(kept / "spa-eng") as folder:
        (folder / "spa-eng.zip").write_bytes(b"complete")
        raise OSError("later failure")
    assert (kept / "spa-eng" / "spa-eng.zip").is_file()  # what was put there stays
