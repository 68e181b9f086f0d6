"""`keras-lm export RUN --format savedmodel,tflite,onnx [--quantize fp16,int8,int8-full]`: a verified bundle.

A bundle is built in a temporary folder `OUT/.NAME.pidPID.XXXXXXXX.tmp` and renamed into
place; what a killed export left in `--out` is removed by the next export there, and
`keras-lm export --clean [--out OUT]` removes it (and older unowned ones) on its own.
"""

from __future__ import annotations

from pathlib import Path

from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.errors import InputError
from keras_lm.io import remove_stale_temporaries
from keras_lm.training.config import CHECKPOINTS


def register(commands) -> None:
    export = commands.add_parser(
        "export", help="export a run to SavedModel/TFLite/ONNX, verified against Keras"
    )
    export.add_argument(
        "run_dir", metavar="RUN", nargs="?", help="a run directory from `keras-lm train`"
    )
    export.add_argument(
        "--format", default="savedmodel,tflite,onnx", help="comma-separated formats"
    )
    export.add_argument(
        "--quantize",
        default="",
        help="comma-separated: fp16, int8 (dynamic range), int8-full (TFLite); int8, "
        "int8-weight-only, int4-weight-only (ONNX)",
    )
    export.add_argument("--out", default="export", help="folder bundles go into")
    export.add_argument("--name", default=None, help="bundle name (default: the run's name)")
    export.add_argument("--checkpoint", choices=list(CHECKPOINTS), default="best")
    export.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (17 or newer)")
    export.add_argument(
        "--decode-graphs",
        choices=["runtime_cache", "graph_cache"],
        default="runtime_cache",
        help="TFLite/ONNX decode graphs: the runtime keeps the cache (default, fast) or the "
        "graph takes and returns the whole cache (the SavedModel's graphs)",
    )
    export.add_argument(
        "--no-float32",
        dest="float32",
        action="store_false",
        help="ship only the --quantize variants of TFLite and ONNX (e.g. a model whose float32 "
        ".tflite would pass the 2 GiB flatbuffer limit)",
    )
    export.add_argument(
        "--clean",
        action="store_true",
        help="remove the temporary folders that killed exports left in --out (with RUN: then export)",
    )
    export.set_defaults(run=run_export)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def run_export(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out is a file; expected the folder bundles go into")
    removed = remove_stale_temporaries(out, unowned=args.clean)
    for path in removed:
        err_console().print(
            f"removed {path} (left by an export that did not finish)", markup=False, soft_wrap=True
        )
    if args.run_dir is None:
        if not args.clean:
            raise InputError("arguments", "give RUN to export, or --clean")
        out_console().print(f"{len(removed)} temporary folder(s) removed from {out}", markup=False)
        return 0
    return _export(args)


def _export(args) -> int:
    from keras_lm.export.bundle import ExportConfig
    from keras_lm.export.bundle import export_run
    from keras_lm.export.summary import verification_table
    from keras_lm.inference.manifest import Manifest

    config = ExportConfig(
        formats=_names(args.format),
        quantize=_names(args.quantize),
        out=args.out,
        name=args.name,
        checkpoint=args.checkpoint,
        overwrite=args.overwrite,
        opset=args.opset,
        decode_graphs=args.decode_graphs,
        float32=args.float32,
    )
    with err_console().status(f"exporting {args.run_dir}: {', '.join(config.formats)}"):
        path = export_run(args.run_dir, config)
    manifest = Manifest.read(path)
    out_console().print(verification_table(manifest), markup=False)
    out_console().print(f"bundle written to {path}")
    return 0
