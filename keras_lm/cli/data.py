"""`keras-lm data list|report|clean`: look at a corpus, measure its quality, write a cleaned copy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.data.corpus import Corpus
from keras_lm.data.datasets import EMBEDDED_DESCRIPTIONS
from keras_lm.data.datasets import DatasetSplits
from keras_lm.data.datasets import available
from keras_lm.data.datasets import default_cleaning
from keras_lm.data.datasets import find_local
from keras_lm.data.datasets import load
from keras_lm.data.registry import REGISTRY
from keras_lm.errors import KerasLMError
from keras_lm.io import atomic_dir


def register(commands) -> None:
    group = commands.add_parser("data", help="corpora: list, quality report, cleaning")
    sub = group.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="the data sets keras_lm knows, and where they were found")
    listing.add_argument("--data-dir", help="directory laid out as <dir>/<name>/<split files>")
    listing.set_defaults(run=run_list)

    report = sub.add_parser("report", help="print a data-quality table and write it as JSON")
    add_source_arguments(report)
    report.add_argument("--split", default="all", help="train, valid, test or all (default all)")
    report.add_argument(
        "--out", default="reports/data", help="folder for the JSON reports (default reports/data)"
    )
    report.set_defaults(run=run_report)

    clean = sub.add_parser("clean", help="apply the cleaning rules and write the cleaned corpus")
    add_source_arguments(clean)
    clean.add_argument(
        "--out", required=True, help="data directory to write <out>/<name>/<split files> into"
    )
    clean.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="RULE=VALUE",
        help="override a cleaning option",
    )
    clean.add_argument("--config", help="a CleaningConfig YAML/JSON file")
    clean.add_argument("--force", action="store_true", help="replace an existing cleaned copy")
    clean.set_defaults(run=run_clean)


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", metavar="NAME_OR_PATH", help=f"a data set ({', '.join(available())}) or a file"
    )
    parser.add_argument(
        "--data-dir", help="directory laid out as <dir>/<name>/<split files> (else $KERAS_LM_DATA)"
    )
    parser.add_argument(
        "--format",
        choices=["text", "parallel", "labelled"],
        help="how to read a file (default: guessed)",
    )
    parser.add_argument("--labels", help="comma-separated declared label set, for labelled files")
    parser.add_argument(
        "--encoding-errors",
        choices=["strict", "replace"],
        default="strict",
        help="on bytes that are not UTF-8: stop with the offset (strict), or substitute U+FFFD",
    )
    parser.add_argument("--no-download", action="store_true", help="never download; fail if absent")


def open_source(args) -> DatasetSplits:
    """The data set named by `args.source`, or the file at that path as a single `train` split."""
    options = {"labels": tuple(args.labels.split(","))} if args.labels else {}
    return load(
        args.source,
        data_dir=args.data_dir,
        download=not args.no_download,
        errors=args.encoding_errors,
        kind=args.format,
        **options,
    )


def run_list(args) -> int:
    from rich.table import Table

    table = Table("name", "kind", "found in", "description")
    for name in available():
        spec = REGISTRY.get(name)
        folder = find_local(spec, args.data_dir) if spec else None
        where = str(folder) if folder else ("built in" if spec is None else "absent (downloadable)")
        description = spec.description if spec else EMBEDDED_DESCRIPTIONS[name]
        table.add_row(name, spec.kind if spec else "embedded", where, description)
    out_console().print(table)
    return 0


def run_report(args) -> int:
    from keras_lm.data.quality import format_report_text
    from keras_lm.data.quality import quality_report
    from keras_lm.data.quality import write_report

    ds = open_source(args)
    out = out_console()
    for split in _splits(ds, args.split):
        reference = ds.splits.get("train") if split != "train" else None
        report = quality_report(ds[split], reference=reference, config=default_cleaning(ds))
        report["dataset"] = {"name": ds.name, "split": split, "split_info": ds.info.to_dict()}
        path = write_report(report, Path(args.out) / f"{ds.name}.{split}.quality.json")
        out.print(f"[bold]{ds.name} / {split}[/]")
        out.print(format_report_text(report), markup=False)
        out.print(f"report written to {path}")
    return 0


def run_clean(args) -> int:
    from keras_lm.data.cleaning import CleaningConfig
    from keras_lm.data.cleaning import clean
    from keras_lm.data.writers import write_corpus

    ds = open_source(args)
    target = Path(args.out) / ds.name
    if target.exists() and not args.force:
        raise KerasLMError(f"{target} already exists; pass --force to replace it")
    config = CleaningConfig.load(args.config) if args.config else default_cleaning(ds)
    config = config.with_overrides(args.set)
    summary = {"dataset": ds.name, "config": config.to_dict(), "splits": {}}
    cleaned: dict[str, Corpus] = {}
    for split, corpus in ds.splits.items():
        result = clean(corpus, config)
        cleaned[split] = result.corpus
        summary["splits"][split] = result.to_dict()
    spec = REGISTRY.get(ds.name)
    with atomic_dir(target, overwrite=args.force) as tmp:
        for split, corpus in cleaned.items():
            write_corpus(
                corpus, tmp / (spec.split_files[split] if spec else f"{split}{_suffix(ds.kind)}")
            )
        (tmp / "cleaning.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        ds.info.save(tmp / "split.json")
    _print_clean_summary(summary)
    err_console().print(f"cleaned corpus written to {target}")
    return 0


def _print_clean_summary(summary: dict) -> None:
    from rich.table import Table

    splits = summary["splits"]
    rules = list(dict.fromkeys(rule for s in splits.values() for rule in s["dropped"]))
    table = Table(
        "split",
        "rows in",
        *rules,
        "rows out",
        title=f"{summary['dataset']}: rows dropped by each rule",
    )
    for split, result in splits.items():
        table.add_row(
            split,
            str(result["rows_in"]),
            *(str(result["dropped"].get(r, 0)) for r in rules),
            str(result["rows_out"]),
        )
    out_console().print(table)


def _splits(ds: DatasetSplits, wanted: str) -> list[str]:
    if wanted == "all":
        return list(ds.splits)
    if wanted not in ds.splits:
        raise KerasLMError(f"{ds.name} has no {wanted!r} split; it has {', '.join(ds.splits)}")
    return [wanted]


def _suffix(kind: str) -> str:
    return ".tsv" if kind in ("parallel", "labelled") else ".txt"
