"""The demo: the whole keras_lm path on the embedded standard-library corpus, into one folder.

Stages, in the order data flows: load the embedded parallel corpus (docstring
summary -> function signature), write the data-quality report of every split,
clean it, train the tokenizers and check that the TensorFlow-free twins give the
same ids as the TensorFlow graph ones; train the LSTM seq2seq baseline and the
Transformer; evaluate both on the valid split (BLEU, chrF); export every format
and quantization, each verified against Keras before it is written; benchmark the
bundles TensorFlow-free against Keras in-process, with plots; and the mobile
readiness of every `.tflite`. One Markdown report links it all. The folder is
written atomically: a failed demo leaves no half-written report.

Example (the CLI does this; `make demo` takes about six minutes on 2 cores):
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "demo"
>>> report = run(DemoConfig(tokenizers=("char",)), out)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from keras_lm.bench.runtime_speed import RuntimeBenchConfig
from keras_lm.config import Config
from keras_lm.config import at_least
from keras_lm.data.cleaning import clean
from keras_lm.data.datasets import default_cleaning
from keras_lm.data.datasets import load
from keras_lm.data.quality import format_report_text
from keras_lm.data.quality import quality_report
from keras_lm.data.quality import write_report
from keras_lm.data.writers import write_corpus
from keras_lm.io import atomic_dir
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer

# Short workloads: the demo shows every number once; `keras-lm bench` measures at length.
DEMO_BENCH = RuntimeBenchConfig(prompt_length=16, new_tokens=24, repeats=3)


@dataclasses.dataclass(frozen=True)
class DemoConfig(Config):
    """What the demo runs on.

    Args:
        dataset: str. A data set name (default: the embedded `stdlib-sigs`).
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

    dataset: str = "stdlib-sigs"
    data_dir: str | None = None
    tokenizers: tuple[str, ...] = ("char", "wordpiece", "sentencepiece")
    vocab_size: int = 1000
    train: tuple[str, ...] = ("demo-transformer-seq2seq", "demo-lstm-seq2seq")
    train_overrides: tuple[str, ...] = ()
    eval_limit: int | None = 300
    quantize: tuple[str, ...] = ("fp16", "int8")
    bench: RuntimeBenchConfig = DEMO_BENCH
    seed: int = 1337


def run(config: DemoConfig, out: str | Path, overwrite: bool = False) -> Path:
    """Run the demo into `out`; return the path of its Markdown report."""
    with atomic_dir(out, overwrite=overwrite) as tmp:
        sections = [
            f"# keras_lm demo: {config.dataset}\n",
            "Config:\n",
            "```json\n" + config.to_json() + "```\n",
        ]
        ds = load(config.dataset, data_dir=config.data_dir, seed=config.seed)
        ds.info.save(tmp / "data" / "split.json")
        sections += _data_stage(ds, tmp / "data")
        sections += _tokenizer_stage(ds, config, tmp / "tokenizers")
        sections += _model_stages(config, tmp, Path(out))
        report = "\n".join(sections).replace(str(tmp), str(out))  # the paths after the rename
        (tmp / "report.md").write_text(report, encoding="utf-8")
    return Path(out) / "report.md"


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
    return lines


def _tokenizer_stage(ds, config: DemoConfig, folder: Path) -> list[str]:

    lines = [
        "## Tokenizers\n",
        "| kind | vocabulary | train s | ids equal TF graph (valid) | example |",
        "|---|---|---|---|---|",
    ]
    texts = ds["train"].texts()
    valid = ds.splits.get("valid", ds["train"]).texts()
    for kind in config.tokenizers:
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
    return [*lines, ""]


def _twin_agreement(tokenizer, texts: list[str]) -> str:
    """How many texts get the same ids from the TensorFlow graph twin as from the TF-free tokenizer."""
    graph = tokenizer.to_tf()
    tf_ids = graph.tokenize(texts).to_list()
    same = sum(list(a) == b for a, b in zip(tf_ids, tokenizer.encode_batch(texts), strict=True))
    return f"{same}/{len(texts)}"


def _model_stages(config: DemoConfig, tmp: Path, out: Path) -> list[str]:
    """Train, evaluate and export each config, then benchmark every bundle together.

    The bundles name their runs where they will be after `tmp` is renamed to `out`.
    """
    from keras_lm.demo import model_stages as stages
    from keras_lm.export.bundle import record_source_run

    overrides = [f"data.dataset={config.dataset}", f"data.seed={config.seed}"]
    if config.data_dir:
        overrides.append(f"data.data_dir={config.data_dir}")
    lines, bundles = [], []
    for name in config.train:
        started = time.perf_counter()
        trained, run_dir = stages.train_stage(
            name, [*overrides, *config.train_overrides], tmp / "runs" / name
        )
        evaluated, _ = stages.evaluate_stage(run_dir, config.eval_limit)
        exported, bundle = stages.export_stage(run_dir, config.quantize, tmp / "export")
        lines += [*trained, *evaluated, *exported]
        lines.append(f"({name}: {time.perf_counter() - started:.0f} s from training to bundle)\n")
        bundles.append(bundle)
    if bundles:  # the benchmark's Keras rows load each run from where it is now
        lines += stages.bench_stage(bundles, config.bench, tmp / "bench")
    for name, bundle in zip(config.train, bundles, strict=True):
        record_source_run(bundle, out / "runs" / name)
    return lines
