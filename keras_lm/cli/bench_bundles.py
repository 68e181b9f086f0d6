"""`keras-lm bench BUNDLE...` (also `keras-lm bench bundles BUNDLE...`): the inference benchmark.

Example:
>>> with_bundles_alias(["bench", "export/shakespeare-small"], {"train", "bundles"})
['bench', 'bundles', 'export/shakespeare-small']
>>> with_bundles_alias(["bench", "train"], {"train", "bundles"})
['bench', 'train']
"""

from __future__ import annotations

import argparse

from keras_lm.bench.runtime_speed import RuntimeBenchConfig
from keras_lm.bench.runtime_speed import run_bench
from keras_lm.cli.argtypes import TORCH_PYTHON
from keras_lm.cli.argtypes import TORCH_REF_BESIDE
from keras_lm.cli.argtypes import command_line
from keras_lm.cli.argtypes import default_torch_ref
from keras_lm.cli.console import StageLog
from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.errors import InputError


def with_bundles_alias(argv: list[str], subcommands: set[str]) -> list[str]:
    """`bench PATH ...` means `bench bundles PATH ...` (a bundle is not a bench subcommand)."""
    bench = len(argv) >= 2 and argv[0] == "bench"
    if bench and argv[1] not in subcommands and not argv[1].startswith("-"):
        return ["bench", "bundles", *argv[1:]]
    return list(argv)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as err:
        raise InputError("arguments", f"expected comma-separated integers, got {text!r}") from err


def register_bundles(sub) -> None:
    bundles = sub.add_parser(
        "bundles",
        help="exported bundles: tokens/s, latency, size, memory, quality kept (`bench BUNDLE...`)",
    )
    bundles.add_argument("bundles", nargs="+", metavar="BUNDLE", help="export/<name> folders")
    bundles.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    bundles.add_argument("--batches", default="1,8", help="batch sizes, comma-separated")
    bundles.add_argument("--prompt-length", type=int, default=32, help="prompt (or source) tokens")
    bundles.add_argument("--new-tokens", type=int, default=96, help="tokens generated per row")
    bundles.add_argument("--repeats", type=int, default=3, help="timed runs per cell")
    bundles.add_argument("--engines", default="onnx,tflite", help="runtimes to measure")
    bundles.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip Keras in-process, naive recompute and PyTorch rows",
    )
    bundles.add_argument(
        "--no-recompute",
        action="store_true",
        help="skip the naive-recompute rows only (slow at real scale)",
    )
    bundles.add_argument(
        "--torch-python",
        default=TORCH_PYTHON,
        help="python with torch==2.13.0 (make torchref); PyTorch rows are skipped if absent",
    )
    bundles.add_argument(
        "--torch-ref",
        default=default_torch_ref(),
        help=f"torch_ref folder for the PyTorch rows (default {TORCH_REF_BESIDE} if it exists)",
    )
    bundles.add_argument(
        "--anchors-python",
        default=".venv-anchors/bin/python",
        help="python of `make anchors` (HF eager, optimum ONNX + ORT, onnxruntime-genai, "
        "litert-torch at the bundle's weights); anchor rows are skipped if absent",
    )
    bundles.add_argument(
        "--out", default="reports/bench/runtime", help="folder for bench.json, .md, plots"
    )
    bundles.set_defaults(run=run_bundles)


def run_bundles(args: argparse.Namespace) -> int:
    config = RuntimeBenchConfig(
        threads=_ints(args.threads),
        batches=_ints(args.batches),
        prompt_length=args.prompt_length,
        new_tokens=args.new_tokens,
        repeats=args.repeats,
        engines=tuple(args.engines.split(",")),
        baselines=not args.no_baselines,
        recompute=not args.no_recompute,
        torch_python=args.torch_python,
        torch_ref=args.torch_ref,
        anchors_python=args.anchors_python,
    )
    with StageLog() as stages:  # a stage per bundle, a bar over its measurements
        report = run_bench(args.bundles, config, args.out, command_line(), stages)
    out_console().print(report.read_text(encoding="utf-8"), markup=False)
    err_console().print(f"written to {report} (with bench.json and the plots)")
    return 0
