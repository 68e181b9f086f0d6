"""`keras-lm bench ...`: the benchmark commands; each parses its options and calls one function.

The product benchmarks (`bench BUNDLE...`, `bench mobile`) are `keras_lm.bench`. The
research benchmarks (`train`, `parity`, `step`, `quality`, `tokenizers`, `generate`)
are the `benchmarks/` package of a source checkout, the folder beside `keras_lm/`:
it is not in the wheel, and without it these commands fail with one line saying so.

Example:
>>> research_module("processes").ROOT == CHECKOUT  # in a source checkout
True
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import keras_lm
from keras_lm.cli.argtypes import add_torch_ref_arguments
from keras_lm.cli.argtypes import comma_list
from keras_lm.cli.argtypes import command_line
from keras_lm.cli.argtypes import int_list
from keras_lm.cli.argtypes import positive_int
from keras_lm.cli.argtypes import seed_list
from keras_lm.cli.bench_bundles import register_bundles
from keras_lm.cli.bench_mobile import register_mobile
from keras_lm.cli.console import StageLog
from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.cli.data import add_source_arguments
from keras_lm.errors import KerasLMError

# The folder that holds the keras_lm package: a source checkout has benchmarks/ there too.
CHECKOUT = Path(keras_lm.__file__).resolve().parents[1]
KINDS = ("char", "byte", "wordpiece", "sentencepiece")


def register(commands) -> None:
    group = commands.add_parser(
        "bench", help="benchmarks (results printed with the command that made them)"
    )
    sub = group.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    _register_tokenizers(sub)
    _register_train(sub)
    _register_step(sub)
    _register_generate(sub)
    _register_quality(sub)
    register_bundles(sub)
    register_mobile(sub)
    _register_parity(sub)


def research_module(name: str, checkout: Path | None = None) -> ModuleType:
    """`benchmarks.<name>` of the source checkout keras_lm runs from.

    A `KerasLMError` (printed by the CLI as one line) when there is no `benchmarks/`
    beside the keras_lm package, as in an install from a wheel.
    """
    folder = (checkout or CHECKOUT) / "benchmarks"
    if not (folder / "__init__.py").is_file():
        raise KerasLMError(
            "this is a research benchmark: it runs from a source checkout of keras_lm "
            f"(the benchmarks/ folder beside keras_lm/), and {folder} is absent; "
            "clone the repository and `pip install -e .` there"
        )
    package = sys.modules.get("benchmarks")
    if package is None:
        spec = importlib.util.spec_from_file_location(
            "benchmarks", folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        spec.loader.exec_module(package)
    if Path(package.__file__).resolve().parent != folder.resolve():
        raise KerasLMError(
            f"another package named benchmarks is imported ({package.__file__}), not {folder}"
        )
    return importlib.import_module(f"benchmarks.{name}")


def run_with_status(function: Callable, config) -> str:
    """`function(config, command, progress)`, each stage it reports a line with its time on
    stderr (`keras_lm.cli.console.StageLog`); its Markdown."""
    with StageLog() as stages:
        return function(config, command_line(), progress=stages)


def _print(text: str, out: str | None = None) -> int:
    out_console().print(text, markup=False)
    if out:
        err_console().print(f"written to {out}")
    return 0


# === tokenizers ===


def _register_tokenizers(sub) -> None:
    tok = sub.add_parser(
        "tokenizers", help="tokens/s of each tokenizer, TensorFlow graph vs TensorFlow-free"
    )
    add_source_arguments(tok)
    tok.add_argument(
        "--kinds",
        type=comma_list,
        default=KINDS,
        help=f"comma-separated, from {', '.join(KINDS)}",
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


def run_tokenizers(args: argparse.Namespace) -> int:
    module = research_module("tokenizer_speed")
    config = module.TokenizerBenchConfig(
        source=args.source,
        data_dir=args.data_dir,
        download=not args.no_download,
        format=args.format,
        labels=comma_list(args.labels) if args.labels else (),
        encoding_errors=args.encoding_errors,
        kinds=tuple(args.kinds),
        vocab_size=args.vocab_size,
        lines=args.lines,
        repeats=args.repeats,
        out=args.out,
    )
    text = run_with_status(module.run_tokenizers, config)
    return _print(text, f"{Path(args.out) / 'tokenizers.md'} and tokenizers.json")


# === train ===


def _register_train(sub) -> None:
    train = sub.add_parser(
        "train", help="training tokens/s of the shipped GPT configs vs the PyTorch reference"
    )
    train.add_argument(
        "--configs",
        type=comma_list,
        default=("shakespeare-baby", "shakespeare-small"),
        help="comma-separated",
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


def run_train_speed(args: argparse.Namespace) -> int:
    module = research_module("speed_rounds")
    config = module.TrainSpeedConfig(
        configs=tuple(args.configs),
        steps=args.steps,
        repeats=args.repeats,
        variants=tuple(args.variant),
        overrides=tuple(args.set),
        quality_steps=args.quality_steps,
        data_dir=args.data_dir,
        torch_python=args.torch_python,
        torch_ref=args.torch_ref,
        out=args.out,
    )
    return _print(run_with_status(module.run_train_speed, config))


# === parity ===


def _register_parity(sub) -> None:
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


def run_parity(args: argparse.Namespace) -> int:
    module = research_module("torch_parity")
    config = module.ParityConfig(
        config=args.config,
        steps=args.steps,
        seeds=tuple(args.seeds),
        overrides=tuple(args.set),
        data_dir=args.data_dir,
        torch_python=args.torch_python,
        torch_ref=args.torch_ref,
        out=args.out,
    )
    return _print(run_with_status(module.run_parity, config))


# === step ===


def _register_step(sub) -> None:
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


def run_step(args: argparse.Namespace) -> int:
    module = research_module("step_breakdown")
    config = module.StepConfig(config=args.config, variants=tuple(args.variant), ops=args.ops)
    return _print(run_with_status(module.run_step, config))


# === generate ===


def _register_generate(sub) -> None:
    generate = sub.add_parser(
        "generate", help="in-process Keras decoding: KV cache against full recompute"
    )
    generate.add_argument("--config", default="shakespeare-small", help="architecture to time")
    generate.add_argument(
        "--lengths", type=int_list, default=(64, 256, 512), help="new tokens per measurement"
    )
    generate.add_argument("--prompt-length", type=int, default=32)
    generate.add_argument("--out", default="reports/bench", help="folder for generate.json and .md")
    generate.set_defaults(run=run_generation_speed)


def run_generation_speed(args: argparse.Namespace) -> int:
    module = research_module("generation_speed")
    config = module.GenerationBenchConfig(
        config=args.config,
        lengths=tuple(args.lengths),
        prompt_length=args.prompt_length,
        out=args.out,
    )
    return _print(run_with_status(module.run_generation_speed, config))


# === quality ===


def _register_quality(sub) -> None:
    quality = sub.add_parser(
        "quality", help="train each shipped config within its CPU budget and evaluate it on valid"
    )
    quality.add_argument(
        "--configs",
        type=comma_list,
        default=(),
        help="comma-separated subset of the table's configs (default: all)",
    )
    quality.add_argument("--work", default="runs/quality", help="folder for the runs and the log")
    quality.add_argument(
        "--out", default="reports/bench", help="folder for quality.json and quality.md"
    )
    quality.set_defaults(run=run_quality)


def run_quality(args: argparse.Namespace) -> int:
    module = research_module("quality")
    config = module.QualityConfig(configs=tuple(args.configs), work=args.work, out=args.out)
    return _print(run_with_status(module.run_quality, config))
