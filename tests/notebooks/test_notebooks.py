"""The tutorials in notebooks/: committed clean, parameterised, and runnable top to bottom.

Each notebook has a `parameters` cell (papermill's tag). The slow test runs each one in a
fresh `python3` kernel from the repository root, in small mode, with a cell injected after
the parameters cell that sets `SMALL = True` and points `OUT` at a temporary folder, so
nothing is written into the checkout. The kernel inherits this process's environment
(TF_CPP_MIN_LOG_LEVEL from conftest, KERAS_LM_DATA), so the notebooks read the real data sets
when they are there and fall back to the embedded corpora when not.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [path.stem for path in NOTEBOOKS]
CELL_TIMEOUT_S = 300
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def parameters_index(nb: nbformat.NotebookNode) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def kernel_env() -> dict[str, str]:
    """This process's environment, with KERAS_LM_DATA set as conftest finds the real data."""
    env = dict(os.environ)
    beside = ROOT.parent / "shared" / "data"
    if not env.get("KERAS_LM_DATA") and (beside / "README.md").is_file():
        env["KERAS_LM_DATA"] = str(beside)
    return env


def test_the_tutorials_are_there():
    names = {path.name for path in NOTEBOOKS}
    assert {
        "01_quickstart.ipynb",
        "02_translation_lstm_vs_transformer.ipynb",
        "03_text_generation.ipynb",
        "04_text_classification.ipynb",
        "05_export_and_benchmark.ipynb",
        "06_keras_hub_lora.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before "
        "committing (Jupyter: Edit > Clear All Outputs, then save)"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_explains_itself_then_takes_parameters(path):
    nb = read(path)
    index = parameters_index(nb)
    assert nb.cells[0].cell_type == "markdown", (
        f"{path.name}: the first cell should explain the notebook"
    )
    assert "SMALL" in nb.cells[0].source, f"{path.name}: the first cell should explain the modes"
    cell = nb.cells[index]
    assert index == 1 and cell.cell_type == "code", (
        f"{path.name}: the parameters cell should be the first code cell"
    )
    names = set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*=", cell.source, flags=re.M))
    assert {"SMALL", "OUT"} <= names, f"{path.name}: the parameters cell sets {sorted(names)}"
    assert re.search(r"^SMALL\s*=\s*True\b", cell.source, flags=re.M), "small mode is the default"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runs_top_to_bottom_in_small_mode(path, tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbclient.exceptions import CellTimeoutError

    nb = read(path)
    injected = nbformat.v4.new_code_cell(
        f"SMALL = True\nOUT = {str(tmp_path / 'out')!r}\n"
        "import sys\n"
        f"assert sys.executable == {sys.executable!r}, sys.executable"
    )
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(parameters_index(nb) + 1, injected)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},  # the kernel's working directory
    )
    start = time.perf_counter()
    try:
        client.execute(env=kernel_env())
    except (CellExecutionError, CellTimeoutError) as err:
        pytest.fail(_failure(path, nb, err), pytrace=False)
    print(f"{path.name}: {time.perf_counter() - start:.1f} s in small mode")


def _failure(path: Path, nb: nbformat.NotebookNode, err: Exception) -> str:
    """The failing cell (the last one that started) with its source and error."""
    started = [
        (i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.execution_count
    ]
    if not started:
        return f"{path.name}: the kernel failed before any cell ran: {err}"
    index, cell = started[-1]
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    if errors:
        detail = ANSI.sub("", "\n".join(errors[0].get("traceback", [])))
    else:
        detail = f"{type(err).__name__}: {err}"
    return (
        f"{path.name}: cell {index} failed (the injected parameters are cell "
        f"{parameters_index(nb) + 1})\n--- source ---\n{cell.source}\n--- error ---\n{detail}"
    )
