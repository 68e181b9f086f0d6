"""The demo: the whole keras_lm path on the embedded standard-library corpus, into one folder.

Stages, in the order data flows: load the embedded parallel corpus (a function's
signature -> its description in words), write the data-quality report of every split,
clean it, train the tokenizers and check that the TensorFlow-free twins give the
same ids as the TensorFlow graph ones; train the LSTM seq2seq baseline and the
Transformer; evaluate both on the valid split (BLEU, chrF); export every format
and quantization, each verified against Keras before it is written; benchmark the
bundles TensorFlow-free against Keras in-process, with plots; and the mobile
readiness of every `.tflite`. One Markdown report links it all: a summary first
(`keras_lm.demo.summary`: quality against trivial baselines, five examples, speed,
sizes, one picture), then each stage's details with its command. The folder is
written atomically: a failed demo leaves no half-written report.

Example (the CLI does this; README gives the time of each stage of `make demo`):
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "demo"
>>> report = run(DemoConfig(tokenizers=("char",)), out)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from keras_lm.bench.runtime_speed import RuntimeBenchConfig
from keras_lm.config import Config
from keras_lm.config import at_least
from keras_lm.data.cleaning import clean
from keras_lm.data.datasets import EMBEDDED_DESCRIPTIONS
from keras_lm.data.datasets import default_cleaning
from keras_lm.data.datasets import load
from keras_lm.data.quality import format_report_text
from keras_lm.data.quality import quality_report
from keras_lm.data.quality import write_report
from keras_lm.data.registry import REGISTRY
from keras_lm.data.writers import write_corpus
from keras_lm.demo.stages import RECORD
from keras_lm.demo.stages import Ledger
from keras_lm.demo.stages import files_key
from keras_lm.demo.stages import key
from keras_lm.demo.stages import partial_folder
from keras_lm.demo.summary import summary_lines
from keras_lm.io import atomic_dir
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer

# Short workloads: the demo shows every number once; `keras-lm bench` measures at length.
DEMO_BENCH = RuntimeBenchConfig(prompt_length=16, new_tokens=24, repeats=3)
# `progress(stage)` when a stage starts; `progress(stage, done, total)` as a long one goes on.
Progress = Callable[..., None]


@dataclasses.dataclass(frozen=True)
class DemoConfig(Config):
    """What the demo runs on.

    Args:
        dataset: str. A data set name (default: the embedded `stdlib-sig2text`).
        data_dir: str | None. Data directory for the registered data sets.
        tokenizers: tuple of str. Tokenizer kinds to train.
        vocab_size: int. Vocabulary of the subword tokenizers.
        train: tuple of str. Shipped training configs to run (empty: data stages only).
        train_overrides: tuple of str. `--set` overrides for every training run.
        eval_limit: int | None. Valid examples to translate for BLEU (None: the whole split).
        quantize: tuple of str. Quantized variants to export beside float32.
        bench: RuntimeBenchConfig. The inference benchmark's workload.
        seed: int. Seed for splits and training.
    """

    RANGES = {"vocab_size": at_least(1), "eval_limit": at_least(1), "seed": at_least(0)}

    dataset: str = "stdlib-sig2text"
    data_dir: str | None = None
    tokenizers: tuple[str, ...] = ("char", "wordpiece", "sentencepiece")
    vocab_size: int = 1000
    train: tuple[str, ...] = ("demo-transformer-seq2seq", "demo-lstm-seq2seq")
    train_overrides: tuple[str, ...] = ()
    eval_limit: int | None = 300
    quantize: tuple[str, ...] = ("fp16", "int8")
    bench: RuntimeBenchConfig = DEMO_BENCH
    seed: int = 1337


def plan(config: DemoConfig) -> list[str]:
    """The demo's stages, in order: what `run` reports to its `progress` callback.

    >>> plan(DemoConfig(train=("demo-lstm-seq2seq",)))  # doctest: +NORMALIZE_WHITESPACE
    ['data', 'tokenizers', 'train demo-lstm-seq2seq', 'evaluate demo-lstm-seq2seq',
     'export demo-lstm-seq2seq', 'benchmark', 'mobile readiness']
    """
    models = [f"{verb} {name}" for name in config.train for verb in ("train", "evaluate", "export")]
    return ["data", "tokenizers", *models, *(["benchmark", "mobile readiness"] if models else [])]


def run(
    config: DemoConfig,
    out: str | Path,
    overwrite: bool = False,
    progress: Progress | None = None,
    resume: bool = False,
) -> Path:
    """Run the demo into `out`; return the path of its Markdown report.

    Args:
        config: DemoConfig. What to run.
        out: str | Path. The demo folder, written atomically.
        overwrite: bool. Replace an existing `out` (once the new one is complete).
        progress: callable | None. Told each stage of `plan(config)` as it starts,
            `progress(stage)`, and how far a long one is, `progress(stage, done, total)`.
        resume: bool. Reuse the stages of the demo in `out`, or of the work a failed demo kept
            (`keras_lm.demo.stages`), whose inputs did not change; implies `overwrite`.
    """
    out = Path(out)
    partial = partial_folder(out)
    sources = [folder for folder in (out, partial) if resume and folder.is_dir()]
    with atomic_dir(out, overwrite=overwrite or resume) as tmp:
        try:
            ledger = Ledger(tmp, out, sources)
            report = _run(config, tmp, out, ledger, progress or _silent)
        except BaseException:
            if (tmp / RECORD).is_file():  # keep the finished stages for `--resume`
                shutil.rmtree(partial, ignore_errors=True)
                os.replace(tmp, partial)
            raise
    shutil.rmtree(partial, ignore_errors=True)
    return report


def _run(config: DemoConfig, tmp: Path, out: Path, ledger: Ledger, progress: Progress) -> Path:
    progress("data")  # seconds: always run, its files are the key of every later stage
    started = time.perf_counter()
    ds = load(config.dataset, data_dir=config.data_dir, seed=config.seed)
    ds.info.save(tmp / "data" / "split.json")
    details = _data_stage(ds, tmp / "data")
    data_key = files_key(list((tmp / "data").iterdir()))
    ledger.record("data", data_key, [], ["data"], time.perf_counter() - started)
    details += _stage(
        ledger,
        progress,
        "tokenizers",
        key("tokenizers", data_key, config.tokenizers, config.vocab_size),
        ["tokenizers"],
        functools.partial(_tokenizer_stage, ds, config, tmp / "tokenizers", progress),
    )
    details += _model_stages(config, tmp, out, ledger, progress, data_key)
    sections = [
        f"# keras_lm demo: {config.dataset}\n",
        *summary_lines(config, tmp, ledger.records, _data_line(ds, config)),
        "# Details\n",
        "Each section ends with the command that repeats it. The demo's settings:\n",
        "```json\n" + config.to_json() + "```\n",
        *details,
    ]
    report = "\n".join(sections).replace(str(tmp), str(out))  # the paths after the rename
    (tmp / "report.md").write_text(report, encoding="utf-8")
    return out / "report.md"


def _data_line(ds, config: DemoConfig) -> str:
    """What was trained on: the data set, its splits and how they were held out."""
    description = EMBEDDED_DESCRIPTIONS.get(ds.name) or getattr(
        REGISTRY.get(ds.name), "description", ""
    )
    sizes = " / ".join(f"{n:,} {split}" for split, n in ds.info.sizes.items())
    method = HELD_OUT.get(ds.info.method, ds.info.method)
    note = f"; {ds.info.note}" if ds.info.note else ""
    return (
        f"Trained on `{ds.name}`: {description}; {sizes} rows, {method}{note}. "
        f"Models: {', '.join(f'`{n}`' for n in config.train) or 'none (data stages only)'}."
    )


# How a split method reads in the summary (`SplitInfo.method`).
HELD_OUT = {
    "grouped_random": "valid and test held out by normalised source (no source in two splits)",
    "pairs_grouped_by_source": "valid and test held out by source sentence",
    "contiguous_lines_90_5_5": "90/5/5 by line",
}


def _silent(stage: str, done: int | None = None, total: int | None = None) -> None:
    pass


def _stage(
    ledger: Ledger,
    progress: Progress,
    name: str,
    stage_key: str,
    outputs: list[str],
    work: Callable[[], list[str]],
) -> list[str]:
    """Stage `name`: reuse its `outputs` (paths in the demo folder) if a finished one had
    `stage_key`, else run `work`, which writes them and returns the stage's report lines."""
    found = ledger.find(name, stage_key)
    if found is not None:
        progress(f"{name}: unchanged, reused")
        return ledger.reuse(name, found)
    progress(name)
    started = time.perf_counter()
    lines = work()
    ledger.record(name, stage_key, lines, outputs, time.perf_counter() - started)
    return lines


def _data_stage(ds, folder: Path) -> list[str]:

    lines = ["## Data\n", f"Splits: {ds.info.sizes} ({ds.info.method}; {ds.info.note})\n"]
    config = default_cleaning(ds)
    for split, corpus in ds.splits.items():
        report = quality_report(
            corpus, reference=ds.splits["train"] if split != "train" else None, config=config
        )
        write_report(report, folder / f"quality.{split}.json")
        result = clean(corpus, config)
        write_corpus(result.corpus, folder / f"clean.{split}.tsv")
        lines += [f"### {split}\n", "```", format_report_text(report), "```\n"]
        lines.append(
            f"Cleaning dropped {result.rows_in - result.rows_out} of {result.rows_in} rows: "
            f"{json.dumps(result.dropped)}\n"
        )
    return [*lines, f"Command: `keras-lm data report {ds.name} --split valid`\n"]


def _tokenizer_stage(ds, config: DemoConfig, folder: Path, progress: Progress) -> list[str]:

    lines = [
        "## Tokenizers\n",
        "| kind | vocabulary | train s | ids equal TF graph (valid) | example |",
        "|---|---|---|---|---|",
    ]
    texts = ds["train"].texts()
    valid = ds.splits.get("valid", ds["train"]).texts()
    for done, kind in enumerate(config.tokenizers):
        progress("tokenizers", done, len(config.tokenizers))
        overrides = (
            [f"vocab_size={config.vocab_size}"] if kind in ("wordpiece", "sentencepiece") else []
        )
        start = time.perf_counter()
        tokenizer = train_tokenizer(texts, TokenizerConfig(kind=kind).with_overrides(overrides))
        seconds = time.perf_counter() - start
        tokenizer.save(folder / kind)
        equal = _twin_agreement(tokenizer, valid)
        example = " ".join(tokenizer.id_to_token(i) for i in tokenizer.encode(valid[0])[:12])
        lines.append(f"| {kind} | {tokenizer.vocab_size} | {seconds:.1f} | {equal} | `{example}` |")
    command = (
        f"keras-lm tokenizer train {ds.name} --kind KIND --vocab-size {config.vocab_size} --out DIR"
    )
    return [*lines, "", f"Command: `{command}`\n"]


def _twin_agreement(tokenizer, texts: list[str]) -> str:
    """How many texts get the same ids from the TensorFlow graph twin as from the TF-free tokenizer."""
    graph = tokenizer.to_tf()
    tf_ids = graph.tokenize(texts).to_list()
    same = sum(list(a) == b for a, b in zip(tf_ids, tokenizer.encode_batch(texts), strict=True))
    return f"{same}/{len(texts)}"


def _model_stages(
    config: DemoConfig, tmp: Path, out: Path, ledger: Ledger, progress: Progress, data_key: str
) -> list[str]:
    """Train, evaluate and export each config, then benchmark every bundle together.

    The bundles name their runs where they will be after `tmp` is renamed to `out`.
    """
    from keras_lm.demo import model_stages as stages
    from keras_lm.export.bundle import record_source_run

    overrides = [f"data.dataset={config.dataset}", f"data.seed={config.seed}"]
    if config.data_dir:
        overrides.append(f"data.data_dir={config.data_dir}")
    overrides += config.train_overrides
    lines, bundles, exports = [], [], []
    for name in config.train:
        run_dir, bundle = tmp / "runs" / name, tmp / "export" / name  # a shipped config's name
        trained = key("train", data_key, name, overrides)
        exported = key("export", trained, config.quantize)
        for stage, stage_key, outputs, work in (
            (
                "train",
                trained,
                [f"runs/{name}"],
                (stages.train_stage, name, overrides, run_dir, progress),
            ),
            (
                "evaluate",
                key("evaluate", trained, config.eval_limit),
                [f"runs/{name}/eval"],
                (stages.evaluate_stage, run_dir, config.eval_limit),
            ),
            (
                "export",
                exported,
                [f"export/{name}"],
                (stages.export_stage, run_dir, config.quantize, tmp / "export"),
            ),
        ):
            lines += _stage(
                ledger, progress, f"{stage} {name}", stage_key, outputs, functools.partial(*work)
            )
        seconds = sum(ledger.records[f"{verb} {name}"]["seconds"] for verb in ("train", "export"))
        lines.append(f"({name}: {seconds:.0f} s to train and export)\n")
        bundles.append(bundle)
        exports.append(exported)
    if bundles:  # the benchmark's Keras rows load each run from where it is now
        bench = tmp / "bench"
        lines += _stage(
            ledger,
            progress,
            "benchmark",
            key("benchmark", exports, config.bench.to_dict()),
            ["bench"],
            functools.partial(stages.bench_stage, bundles, config.bench, bench, progress),
        )
        lines += _stage(
            ledger,
            progress,
            "mobile readiness",
            key("mobile", exports),
            [f"bench/{b.name}.mobile.json" for b in bundles],
            functools.partial(stages.mobile_stage, bundles, bench, progress),
        )
    for name, bundle in zip(config.train, bundles, strict=True):
        record_source_run(bundle, out / "runs" / name)
    return lines
