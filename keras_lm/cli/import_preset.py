"""`keras-lm import PRESET --out RUN`: a keras-hub preset (GPT-2, BERT) as a run directory (checked against keras-hub)."""

from __future__ import annotations

from keras_lm.cli.argtypes import positive_int
from keras_lm.cli.console import out_console


def register(commands) -> None:
    parser = commands.add_parser(
        "import",
        help="import a keras-hub preset (a folder, or a name such as gpt2_base_en) as a run "
        "directory that generate, evaluate, export and bench take",
    )
    parser.add_argument(
        "preset", metavar="PRESET", help="a keras-hub preset folder, name or kaggle:// handle"
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="the run directory to write")
    parser.add_argument(
        "--context",
        type=positive_int,
        metavar="N",
        help="positions to keep (default: the preset's); a smaller KV cache for phones, or a "
        "classifier's longest input",
    )
    parser.add_argument(
        "--classes",
        type=positive_int,
        metavar="N",
        help="a BERT preset without a classifier head: classes of the new head (default: the "
        "number of labels of a labelled --data)",
    )
    parser.add_argument(
        "--data",
        default="stdlib-docs",
        metavar="DATASET",
        help="data set whose valid split checks the import and each export (default stdlib-docs, "
        "built from Python's own docstrings; a classifier takes its labels from a labelled one, "
        "e.g. sst2 or stdlib-kinds)",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="where data sets are (else $KERAS_LM_DATA)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing RUN")
    parser.set_defaults(run=run_import)


def run_import(args) -> int:
    import json

    from keras_lm.presets.importer import REFERENCE
    from keras_lm.presets.importer import ImportConfig
    from keras_lm.presets.importer import import_preset

    config = ImportConfig(
        preset=args.preset,
        out=args.out,
        context=args.context,
        classes=args.classes,
        dataset=args.data,
        data_dir=args.data_dir,
        overwrite=args.overwrite,
    )
    run = import_preset(config)
    reference = json.loads((run / REFERENCE).read_text(encoding="utf-8"))
    count = len(reference["prompts"])
    same = "classes" if "classes" in reference else "greedy tokens"
    out_console().print(
        f"imported {args.preset} into {run}: logits within {reference['logits_max_abs_diff']:.2g} "
        f"of keras-hub's, {same} identical on {count}/{count} "
        + ("texts" if "classes" in reference else "prompts"),
        markup=False,
        soft_wrap=True,
    )
    return 0
