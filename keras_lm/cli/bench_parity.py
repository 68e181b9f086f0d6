"""`keras-lm bench parity`: keras_lm and torch_ref trained from the same weights on the same batches."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from keras_lm.cli.argtypes import positive_int
from keras_lm.cli.argtypes import seed_list
from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.errors import InputError
from keras_lm.io import write_text_atomic


def add_torch_ref_arguments(parser) -> None:
    """--data-dir, --torch-python, --torch-ref: where tinyshakespeare, the torch venv and torch_ref are."""
    parser.add_argument(
        "--data-dir", help="data directory holding tinyshakespeare (else $KERAS_LM_DATA)"
    )
    parser.add_argument(
        "--torch-python",
        default=".venv-torchref/bin/python",
        help="python of a venv with torch==2.13.0 (make torchref)",
    )
    parser.add_argument(
        "--torch-ref", default="../shared/anchors/torch_ref", help="torch_ref folder"
    )


def register_parity(sub) -> None:
    parity = sub.add_parser(
        "parity",
        help="train keras_lm from torch_ref's initial weights on torch_ref's batches; compare losses",
    )
    parity.add_argument(
        "--config", default="shakespeare-small", help="a shipped transformer_lm config"
    )
    parity.add_argument("--steps", type=positive_int, default=120, help="steps on both sides")
    parity.add_argument(
        "--seeds",
        "--seed",
        type=seed_list,
        default=[1337],
        help="comma-separated seeds, one run each: torch_ref's seed (weights, batches, dropout) "
        "and keras_lm's loop.seed (its dropout); default 1337, torch_ref's own",
    )
    parity.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, both sides",
    )
    add_torch_ref_arguments(parity)
    parity.add_argument(
        "--out", default="reports/bench", help="folder for parity.json and parity.md"
    )
    parity.set_defaults(run=run_parity)


def run_parity(args) -> int:
    from keras_lm.bench.torch_parity import format_parity
    from keras_lm.bench.torch_parity import format_seeds
    from keras_lm.bench.torch_parity import seeds_summary
    from keras_lm.cli.bench import command_line
    from keras_lm.training.presets import load_config

    # The user's --set comes after the seed, so an explicit loop.seed wins.
    configs = {s: load_config(args.config, [f"loop.seed={s}", *args.set]) for s in args.seeds}
    family = next(iter(configs.values())).family
    if family != "transformer_lm":
        raise InputError("--config", f"expected a transformer_lm config, got {family}")
    folder = _tinyshakespeare(args)
    if not Path(args.torch_python).is_file():
        raise InputError(
            "--torch-python", f"{args.torch_python} is absent (make torchref creates it)"
        )
    reports = [_one_seed(args, config, seed, folder) for seed, config in configs.items()]
    command = command_line()
    parts = [f"Command: `{command}`"]
    summary = seeds_summary(reports) if len(reports) > 1 else None
    if summary:
        parts.append(format_seeds(summary))
    parts += [format_parity(report) for report in reports]
    text = "\n\n".join(parts)
    out = Path(args.out)
    result = {"command": command, "summary": summary, "runs": reports}
    write_text_atomic(out / "parity.md", text + "\n")
    write_text_atomic(out / "parity.json", json.dumps(result, indent=2) + "\n")
    out_console().print(text, markup=False)
    return 0


def _tinyshakespeare(args) -> Path:
    from keras_lm.data.datasets import find_local
    from keras_lm.data.registry import get_spec

    folder = find_local(
        get_spec("tinyshakespeare"), args.data_dir or os.environ.get("KERAS_LM_DATA")
    )
    if folder is None:
        raise InputError(
            "--data-dir", "tinyshakespeare not found (pass --data-dir or set KERAS_LM_DATA)"
        )
    return folder


def _one_seed(args, config, seed: int, folder: Path) -> dict:
    """torch_ref's run at `seed`, then keras_lm's on its weights and batches: the parity report."""
    from keras_lm.bench.torch_parity import parity_report
    from keras_lm.bench.torch_parity import run_keras_side
    from keras_lm.bench.torch_parity import run_torch_side

    with tempfile.TemporaryDirectory(prefix="keras_lm_parity_") as tmp:
        with err_console().status(f"torch_ref, seed {seed}: {args.steps} steps"):
            path = run_torch_side(
                config,
                args.steps,
                seed,
                args.torch_python,
                Path(args.torch_ref),
                folder,
                Path(tmp) / "torch.npz",
            )
        record = dict(np.load(path))
    with err_console().status(f"keras_lm, seed {seed}: {args.steps} steps on the same batches"):
        return parity_report(args.config, record, run_keras_side(config, record), seed=seed)
