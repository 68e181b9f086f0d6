"""The package as a user meets it: light imports, runnable docstring examples, pinned metadata."""

from __future__ import annotations

import configparser
import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import keras_lm

ROOT = Path(__file__).resolve().parents[1]
# Modules whose import needs the [train] extra (TensorFlow, Keras); the rest must not import it.
TF_MODULES = (
    "keras_lm.data.pipelines",
    "keras_lm.training",
    "keras_lm.models",
    "keras_lm.layers",
    "keras_lm.tokenizers.tf_graph",
    "keras_lm.bench",
)


def all_modules() -> list[str]:
    names = ["keras_lm"]
    for info in pkgutil.walk_packages(keras_lm.__path__, "keras_lm."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


TF_FREE_PACKAGES = ("keras_lm.runtime", "keras_lm.inference", "keras_lm.serving")
TF_FREE_MODULES = (
    "keras_lm.models",
    "keras_lm.models.registry",
    "keras_lm.models.family",
    "keras_lm.runs",
    "keras_lm.training.config",
    "keras_lm.training.presets",
)


def test_runtime_and_inference_core_import_without_tensorflow():
    """Every module of the runtime and the inference core, and the family records, in a process
    where TensorFlow, Keras and keras_hub cannot be imported at all."""
    modules = [*TF_FREE_MODULES, "keras_lm.cli.serve"]
    for package in TF_FREE_PACKAGES:
        path = importlib.import_module(package).__path__
        modules += [package] + [i.name for i in pkgutil.walk_packages(path, package + ".")]
    modules += [f"keras_lm.models.{name}" for name in keras_lm_families()]
    modules += [f"keras_lm.models.{name}.config" for name in keras_lm_families()]
    code = (
        "import sys\n"
        "for name in ('tensorflow', 'keras', 'keras_hub', 'tensorflow_text', 'tf2onnx'):\n"
        "    sys.modules[name] = None  # any import of it raises ImportError\n"
        f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        "from keras_lm.models import FAMILIES\nassert FAMILIES\n"
        "from keras_lm.api import Manifest, SamplingConfig, get_family, load_bundle, open_run\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(modules) > 20


def keras_lm_families() -> list[str]:
    from keras_lm.models import FAMILIES

    return list(FAMILIES)


def test_importing_the_core_loads_no_tensorflow():
    code = (
        "import sys, keras_lm, keras_lm.data, keras_lm.data.cleaning, keras_lm.data.quality, keras_lm.tokenizers, "
        "keras_lm.cli.main; bad = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# Docstring examples that take more than a few seconds (loading the embedded corpus).
SLOW_EXAMPLES = {"keras_lm.data.datasets"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_EXAMPLES else n for n in all_modules()],
)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    assert runner.failures == 0, (
        f"{runner.failures} docstring example(s) failed in {name} (run with -s to see)"
    )


def test_public_api_has_docstrings():
    missing = []
    for name in all_modules():
        module = importlib.import_module(name)
        if not module.__doc__:
            missing.append(name)
        for attr in getattr(module, "__all__", []):
            if not getattr(getattr(module, attr), "__doc__", None):
                missing.append(f"{name}.{attr}")
    assert not missing, missing


def test_versions_are_pinned():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    requirements = cfg["options"]["install_requires"].split()
    for extra in ("train", "runtime", "serve", "dev"):
        lines = cfg["options.extras_require"][extra].splitlines()  # a line may carry a marker
        requirements += [r.strip() for r in lines if r.strip() and not r.strip().startswith("%")]
    assert requirements and all("==" in r for r in requirements), requirements


def test_runtime_extra_has_no_tensorflow():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    runtime = cfg["options.extras_require"]["runtime"] + cfg["options"]["install_requires"]
    assert "tensorflow" not in runtime and "keras" not in runtime


def test_notebooks_and_readme_use_the_public_api_only():
    """Tutorials import keras_lm.api (and the TF-free data and tokenizer packages), nothing deeper."""
    import json
    import re

    allowed = re.compile(
        r"^(import keras_lm|from keras_lm(\.api)? import|from keras_lm import (data|tokenizers)\b)"
    )
    found = []
    texts = {
        nb.name: json.loads(nb.read_text(encoding="utf-8")) for nb in ROOT.glob("notebooks/*.ipynb")
    }
    for name, notebook in texts.items():
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                found += [(name, line) for line in "".join(cell["source"]).splitlines()]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    python = readme.split("## From Python, in a notebook")[1].split("\n## ")[0]
    found += [("README.md", line) for line in python.splitlines()]
    imports = [
        (n, line.strip()) for n, line in found if re.match(r"\s*(from|import) keras_lm", line)
    ]
    assert len(imports) > 10
    deeper = [(n, line) for n, line in imports if not allowed.match(line)]
    assert not deeper, deeper
