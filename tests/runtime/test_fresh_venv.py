"""A fresh virtual environment with only the [runtime] extra generates from a bundle, TF-free.

The repository is installed there non-editable, with `constraints.txt`, from a copy of the
files its build reads (`keras_lm/`, `setup.cfg`, `pyproject.toml`, `README.md`): a build
writes `build/` and `*.egg-info` into the source tree, and this checkout's must stay as it
is. So the venv holds exactly what setup.cfg's install_requires and [runtime] extra bring,
plus pip and what the venv module seeds. The parent compares the venv's tokens with the
in-repo `load_bundle`'s, for both backends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.runtime.bundle import load_bundle

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PROMPTS = ["def ", "class Foo", "return the"]
NEW_TOKENS = 40  # past the tiny model's context of 32: the runtime re-prefills too
FORBIDDEN = ("tensorflow", "tensorflow_text", "keras", "keras_hub", "tf2onnx")
# What pip prints when it cannot reach a package index (the only reason to skip).
NETWORK_ERRORS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
    "Could not fetch URL",
)

# Runs inside the fresh venv: greedy tokens and text from both backends, and what was imported.
CHILD = """
import json, sys
import keras_lm
from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.runtime.bundle import load_bundle

bundle, prompts, new_tokens = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
forbidden = json.loads(sys.argv[4])
out = {}
for backend in ("onnx", "tflite"):
    model = load_bundle(bundle, backend)
    ids = [model.tokenizer.encode(p) for p in prompts]
    config = SamplingConfig(strategy="greedy", max_new_tokens=new_tokens)
    tokens = generate_lm(model.stepper, ids, config, model.tokenizer.specials.end_id)
    text = model.generate(prompts, strategy="greedy", max_new_tokens=new_tokens)
    out[backend] = {"tokens": tokens, "text": text}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({"out": out, "loaded": loaded, "keras_lm": keras_lm.__file__}))
"""


def clean_env() -> dict[str, str]:
    """This environment without what would let the venv's python see this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def copy_sources(target: Path) -> Path:
    """The files a build of the repository reads, copied to `target`."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "keras_lm", target / "keras_lm", ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy2(REPO / name, target / name)
    return target


def make_runtime_venv(tmp_path: Path) -> Path:
    """A new venv with the repository installed non-editable with [runtime]; its python."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=clean_env()
    )
    python = venv / "bin" / "python"
    source = copy_sources(tmp_path / "src")
    install = [str(python), "-m", "pip", "install", "--quiet", "--retries", "1", "--timeout", "30"]
    install += ["-c", str(source / "constraints.txt"), f"{source}[runtime]"]
    done = subprocess.run(
        install, capture_output=True, text=True, timeout=600, env=clean_env(), cwd=tmp_path
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(marker in output for marker in NETWORK_ERRORS):
            pytest.skip(f"pip cannot reach a package index: {output.strip().splitlines()[-1]}")
        pytest.fail(f"pip install of [runtime] failed ({done.returncode}):\n{output[-3000:]}")
    return python


def in_repo(bundle: Path) -> dict:
    """The same generation with this checkout's `load_bundle`."""
    out = {}
    for backend in ("onnx", "tflite"):
        model = load_bundle(bundle, backend)
        ids = [model.tokenizer.encode(p) for p in PROMPTS]
        config = SamplingConfig(strategy="greedy", max_new_tokens=NEW_TOKENS)
        tokens = generate_lm(model.stepper, ids, config, model.tokenizer.specials.end_id)
        text = model.generate(PROMPTS, strategy="greedy", max_new_tokens=NEW_TOKENS)
        out[backend] = {"tokens": tokens, "text": text}
    return out


def test_a_runtime_only_venv_generates_like_the_repo_without_tensorflow(tiny_bundle, tmp_path):
    bundle = tiny_bundle("tiny-transformer-lm", ("int8",))
    python = make_runtime_venv(tmp_path)

    for module in ("tensorflow", "keras"):
        missing = subprocess.run(
            [str(python), "-c", f"import {module}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            cwd=tmp_path,
        )
        assert missing.returncode != 0, f"{module} is importable in the [runtime] venv"
        assert f"No module named '{module}'" in missing.stderr

    done = subprocess.run(
        [str(python), "-c", CHILD, str(bundle), *map(json.dumps, (PROMPTS, NEW_TOKENS, FORBIDDEN))],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert Path(result["keras_lm"]).is_relative_to(tmp_path / "venv")  # the installed copy
    expected = in_repo(bundle)
    assert result["out"] == expected
    assert result["out"]["onnx"]["tokens"] == result["out"]["tflite"]["tokens"]
    assert all(len(row) > 0 for row in result["out"]["onnx"]["tokens"])
