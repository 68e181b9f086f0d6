"""`keras-lm demo`: the README's main job on the embedded default corpus (no download).

It prints a line per stage with its time (`[3/10] train demo-transformer-seq2seq ... done in
95.2 s`) on stderr, and the report's path on stdout. `--resume` (what `make demo` passes) skips
the stages whose inputs did not change since the last demo in `--out`, or since a failed one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from keras_lm.cli.argtypes import default_torch_ref
from keras_lm.cli.console import StageLog
from keras_lm.cli.console import out_console
from keras_lm.errors import InputError


def register(commands) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole path on the embedded standard-library corpus and write a report"
    )
    demo.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    demo.add_argument(
        "--dataset",
        default="stdlib-sig2text",
        help="data set to run on (default: the embedded one)",
    )
    demo.add_argument("--data-dir", help="data directory for a real data set (else $KERAS_LM_DATA)")
    demo.add_argument("--force", action="store_true", help="replace an existing output folder")
    demo.add_argument(
        "--resume",
        action="store_true",
        help="reuse the stages of the last demo in --out (or of a failed one) whose inputs, "
        "settings and keras_lm code did not change; replaces --out like --force",
    )
    demo.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a DemoConfig field, e.g. eval_limit=100 or bench.threads=1 (repeatable)",
    )
    demo.set_defaults(run=run_demo)


def run_demo(args) -> int:
    from keras_lm.demo import DEMO_BENCH
    from keras_lm.demo import DemoConfig
    from keras_lm.demo import plan
    from keras_lm.demo import run

    if Path(args.out).exists() and not (args.force or args.resume):
        raise InputError(
            args.out,
            "already exists; pass --force to replace it (after the new run), "
            "or --resume to reuse its unchanged stages",
        )
    # PyTorch rows when torch_ref sits beside the checkout (as in `make demo`); --set overrides it.
    bench = dataclasses.replace(DEMO_BENCH, torch_ref=default_torch_ref())
    config = DemoConfig(dataset=args.dataset, data_dir=args.data_dir, bench=bench)
    config = config.with_overrides(args.set)
    with StageLog(total=len(plan(config))) as stages:
        report = run(config, args.out, overwrite=args.force, progress=stages, resume=args.resume)
    out_console().print(f"demo report: {report}")
    return 0
