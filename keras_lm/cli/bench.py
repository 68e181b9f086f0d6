"""`keras-lm bench tokenizers`: measured speed, printed with the command that produced it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from keras_lm.cli.argtypes import positive_int
from keras_lm.cli.bench_parity import add_torch_ref_arguments
from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.cli.data import add_source_arguments
from keras_lm.cli.data import open_source
from keras_lm.errors import ConfigError
from keras_lm.io import write_text_atomic

KINDS = ("char", "byte", "wordpiece", "sentencepiece")


def register(commands) -> None:
    group = commands.add_parser(
        "bench", help="benchmarks (results printed with the command that made them)"
    )
    sub = group.add_subparsers(dest="bench_command", metavar="WHAT", required=True)

    tok = sub.add_parser(
        "tokenizers", help="tokens/s of each tokenizer, TensorFlow graph vs TensorFlow-free"
    )
    add_source_arguments(tok)
    tok.add_argument(
        "--kinds", default=",".join(KINDS), help=f"comma-separated, from {', '.join(KINDS)}"
    )
    tok.add_argument(
        "--vocab-size", type=int, default=8000, help="vocabulary of the subword tokenizers"
    )
    tok.add_argument("--lines", type=int, default=0, help="benchmark on the first N texts (0: all)")
    tok.add_argument("--repeats", type=int, default=3)
    tok.add_argument(
        "--out", default="reports/bench", help="folder for tokenizers.json and tokenizers.md"
    )
    tok.set_defaults(run=run_tokenizers)

    train = sub.add_parser(
        "train", help="training tokens/s of the shipped GPT configs vs the PyTorch reference"
    )
    train.add_argument(
        "--configs", default="shakespeare-baby,shakespeare-small", help="comma-separated"
    )
    train.add_argument(
        "--steps", type=int, default=120, help="steps per measurement (the first 10 are warm-up)"
    )
    train.add_argument(
        "--repeats",
        type=positive_int,
        default=1,
        help="measure every row this many times, in rounds; report medians and paired ratios",
    )
    train.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="an extra keras_lm variant to time, e.g. loop.jit_compile=true (repeatable)",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override for every run, both sides (model.dropout is passed to torch_ref too)",
    )
    add_torch_ref_arguments(train)  # torch_ref's rows are skipped where the torch venv is absent
    train.add_argument(
        "--quality-steps",
        type=int,
        default=0,
        help="also train both sides this many steps and compare the validation loss (0: skip)",
    )
    train.add_argument("--out", default="reports/bench", help="folder for train.json and train.md")
    train.set_defaults(run=run_train_speed)

    step = sub.add_parser(
        "step", help="one train step: Keras fit vs a bare tf.function step vs forward"
    )
    step.add_argument("--config", default="shakespeare-baby", help="a shipped config name or file")
    step.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="also time this variant, e.g. loop.jit_compile=true (repeatable)",
    )
    step.add_argument(
        "--ops", action="store_true", help="also profile the step and print CPU time by op kind"
    )
    step.set_defaults(run=run_step)

    generate = sub.add_parser(
        "generate", help="in-process Keras decoding: KV cache against full recompute"
    )
    generate.add_argument("--config", default="shakespeare-small", help="architecture to time")
    generate.add_argument("--lengths", default="64,256,512", help="new tokens per measurement")
    generate.add_argument("--prompt-length", type=int, default=32)
    generate.add_argument("--out", default="reports/bench", help="folder for generate.json and .md")
    generate.set_defaults(run=run_generation_speed)

    quality = sub.add_parser(
        "quality", help="train each shipped config within its CPU budget and evaluate it on valid"
    )
    quality.add_argument(
        "--configs",
        default=None,
        help="comma-separated subset of the table's configs (default: all)",
    )
    quality.add_argument("--work", default="runs/quality", help="folder for the runs and the log")
    quality.add_argument(
        "--out", default="reports/bench", help="folder for quality.json and quality.md"
    )
    quality.set_defaults(run=run_quality)

    from keras_lm.cli.bench_bundles import register_bundles
    from keras_lm.cli.bench_mobile import register_mobile
    from keras_lm.cli.bench_parity import register_parity

    register_bundles(sub)
    register_mobile(sub)
    register_parity(sub)


def command_line() -> str:
    return "keras-lm " + shlex.join(sys.argv[1:]) if sys.argv else "keras-lm"


def run_tokenizers(args) -> int:
    from keras_lm.bench.tokenizer_speed import benchmark_tokenizers
    from keras_lm.bench.tokenizer_speed import format_markdown
    from keras_lm.tokenizers import TokenizerConfig
    from keras_lm.tokenizers import train_tokenizer

    ds = open_source(args)
    texts = ds["train"].texts()
    texts = texts[: args.lines] if args.lines else texts
    tokenizers = {}
    for kind in args.kinds.split(","):
        with err_console().status(f"training {kind} on {ds.name}/train"):
            config = TokenizerConfig(kind=kind)
            if kind in ("wordpiece", "sentencepiece"):
                config = config.with_overrides([f"vocab_size={args.vocab_size}"])
            tokenizers[kind] = train_tokenizer(texts, config)
    with err_console().status("timing"):
        rows = benchmark_tokenizers(texts, tokenizers, repeats=args.repeats)
    command = command_line()
    table = format_markdown(rows)
    header = (
        f"Tokenizer throughput on {ds.name}/train ({len(texts)} texts).\n\nCommand: `{command}`\n\n"
    )
    out = Path(args.out)
    write_text_atomic(out / "tokenizers.md", header + table + "\n")
    write_text_atomic(
        out / "tokenizers.json",
        json.dumps({"command": command, "rows": rows}, indent=2) + "\n",
    )
    out_console().print(header + table, markup=False)
    err_console().print(f"written to {out / 'tokenizers.md'} and tokenizers.json")
    return 0


def run_train_speed(args) -> int:
    import os

    from keras_lm.bench.speed_rounds import combine_rounds
    from keras_lm.bench.train_speed import format_markdown
    from keras_lm.data.datasets import find_local
    from keras_lm.data.registry import get_spec

    data_dir = args.data_dir or os.environ.get("KERAS_LM_DATA")
    folder = find_local(get_spec("tinyshakespeare"), data_dir)
    has_torch = Path(args.torch_python).is_file() and folder is not None
    if not has_torch:
        err_console().print(
            f"no PyTorch reference run: {args.torch_python} or tinyshakespeare is absent "
            "(make torchref creates the venv)"
        )
    jobs, partner = _speed_jobs(args, data_dir, folder, has_torch)
    rounds = []
    for r in range(args.repeats):
        measured = []
        for label, job in jobs:
            with err_console().status(f"round {r + 1}/{args.repeats}: {label}"):
                measured.append(job())
        rounds.append(measured)
    rows = combine_rounds(rounds, partner)
    quality = _quality_rows(args, data_dir, folder, has_torch) if args.quality_steps else []
    command = command_line()
    text = (
        f"Training speed, {args.steps} steps each, one process at a time, {args.repeats} round(s); "
        "tokens/s is the median over rounds, keras/torch the median of the per-round ratios.\n\n"
        f"Command: `{command}`\n\n"
    )
    text += format_markdown(rows)
    if quality:
        from keras_lm.bench.train_speed import format_quality

        text += f"\n\nValidation loss after {args.quality_steps} steps:\n\n" + format_quality(
            quality
        )
    out = Path(args.out)
    write_text_atomic(out / "train.md", text + "\n")
    write_text_atomic(
        out / "train.json",
        json.dumps({"command": command, "rows": rows, "quality": quality}, indent=2) + "\n",
    )
    out_console().print(text, markup=False)
    return 0


def _speed_jobs(args, data_dir, folder, has_torch) -> tuple[list, list[int | None]]:
    """One round's measurements as (label, thunk), and the torch_ref row each is compared with."""
    from functools import partial

    from keras_lm.bench.train_speed import run_keras
    from keras_lm.bench.train_speed import torch_worker
    from keras_lm.training.presets import load_config

    jobs, partner = [], []
    for name in args.configs.split(","):
        torch_index = None
        if has_torch:
            dropout = load_config(name, args.set).model["dropout"]
            torch_index = len(jobs)
            jobs.append(
                (
                    f"torch_ref {name}",
                    partial(
                        torch_worker,
                        name,
                        args.steps,
                        args.torch_python,
                        Path(args.torch_ref),
                        folder,
                        dropout,
                    ),
                )
            )
            partner.append(None)
        for variant in ["", *args.variant]:
            overrides = [*args.set, *(v for v in variant.split(",") if v)]
            jobs.append(
                (
                    f"keras_lm {name} {variant}",
                    partial(run_keras, name, args.steps, overrides, data_dir),
                )
            )
            partner.append(torch_index)
    return jobs, partner


def _quality_rows(args, data_dir, folder, has_torch) -> list[dict]:
    import tempfile

    from keras_lm.bench.train_speed import quality_run
    from keras_lm.bench.train_speed import torch_quality_run
    from keras_lm.training.presets import load_config

    rows = []
    for name in args.configs.split(","):
        if has_torch:
            dropout = load_config(name, args.set).model["dropout"]
            with err_console().status(f"torch_ref {name}: {args.quality_steps} steps"):
                rows.append(
                    torch_quality_run(
                        name,
                        args.quality_steps,
                        args.torch_python,
                        Path(args.torch_ref),
                        folder,
                        dropout,
                    )
                )
        for variant in ["", *args.variant]:
            overrides = [*args.set, *(v for v in variant.split(",") if v)]
            run_dir = Path(tempfile.mkdtemp(prefix="keras_lm_quality_")) / name
            with err_console().status(f"keras_lm {name} {variant}: {args.quality_steps} steps"):
                rows.append(quality_run(name, args.quality_steps, overrides, data_dir, run_dir))
    return rows


def run_step(args) -> int:
    from keras_lm.bench.step_breakdown import step_breakdown

    lines = [
        f"Command: `{command_line()}`",
        "",
        "| config | variant | fit step ms | bare step ms | forward+backward ms | forward ms |",
        "|---|---|---|---|---|---|",
    ]
    profiles = []
    for variant in ["", *args.variant]:
        overrides = [v for v in variant.split(",") if v]
        with err_console().status(f"timing {args.config} {variant}"):
            row = step_breakdown(args.config, overrides, ops=args.ops)
        lines.append(
            f"| {args.config} | {variant or '-'} | {row['fit_step_ms']} | {row['bare_step_ms']} "
            f"| {row['gradients_ms']} | {row['forward_ms']} |"
        )
        if args.ops:
            profiles.append((variant or "-", row["ops"]))
    for variant, ops in profiles:
        lines += [
            "",
            f"CPU time by op kind, bare step, variant {variant} (summed over threads):",
            "",
        ]
        lines += ["| op kind | ms per step | share |", "|---|---|---|"]
        lines += [f"| {kind} | {ms} | {share:.0%} |" for kind, ms, share in ops]
    out_console().print("\n".join(lines), markup=False)
    return 0


def run_quality(args) -> int:
    from keras_lm.bench.quality import ROWS
    from keras_lm.bench.quality import format_markdown
    from keras_lm.bench.quality import run_row

    wanted = args.configs.split(",") if args.configs else [r.config for r in ROWS]
    unknown = set(wanted) - {r.config for r in ROWS}
    if unknown:
        raise ConfigError(
            f"--configs: {sorted(unknown)} not in the table {[r.config for r in ROWS]}"
        )
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    command, rows = command_line(), []
    for row in (r for r in ROWS if r.config in wanted):
        with err_console().status(
            f"{row.config}: calibrate, train {row.budget_minutes} min, evaluate"
        ):
            rows.append(run_row(row, work, work / "quality.log"))
        text = f"Quality within CPU budgets on this machine.\n\nCommand: `{command}`\n\n"
        text += format_markdown(rows)
        write_text_atomic(out / "quality.md", text + "\n")
        write_text_atomic(
            out / "quality.json", json.dumps({"command": command, "rows": rows}, indent=2) + "\n"
        )
    out_console().print(text, markup=False)
    return 0


def run_generation_speed(args) -> int:
    from keras_lm.bench.generation_speed import format_markdown
    from keras_lm.bench.generation_speed import generation_speed

    lengths = tuple(int(n) for n in args.lengths.split(","))
    with err_console().status(f"timing {args.config} at {lengths} new tokens"):
        rows = generation_speed(args.config, lengths, args.prompt_length)
    command = command_line()
    text = (
        f"Greedy decoding, batch 1, random weights.\n\nCommand: `{command}`\n\n"
        + format_markdown(rows)
    )
    out = Path(args.out)
    write_text_atomic(out / "generate.md", text + "\n")
    write_text_atomic(
        out / "generate.json", json.dumps({"command": command, "rows": rows}, indent=2) + "\n"
    )
    out_console().print(text, markup=False)
    return 0
