"""ONNX conversion in a child process: tf2onnx's memory is the child's, and dies with it.

tf2onnx freezes each graph's variables into constants, builds its own graph and then the
`ModelProto`: several copies of every weight, which the TensorFlow process does not give
back. For GPT-2 124M that drove the export process past 24 GB; a child that converts one
graph at a time from a SavedModel and exits keeps the exporter's own memory flat.
`convert_in_subprocess` writes the same files `convert_onnx` does, and raises the same
`ExportError` (its message carried back from the child).

Example:
>>> worker_command("sm", ["decode"], "out", 17)[-6:]
['--saved-model', 'sm', '--names', 'decode', '--out', 'out']
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from keras_lm.export.child import run_child
from keras_lm.export.errors import ExportError


def worker_command(saved_model: str, names: list[str], out_dir: str, opset: int) -> list[str]:
    code = "import sys; from keras_lm.export.onnx_worker import main; sys.exit(main(sys.argv[1:]))"
    return [
        sys.executable,
        "-c",
        code,
        "--opset",
        str(opset),
        "--saved-model",
        str(saved_model),
        "--names",
        ",".join(names),
        "--out",
        str(out_dir),
    ]


def convert_in_subprocess(
    saved_model: str | os.PathLike,
    names: list[str],
    out_dir: str | os.PathLike,
    opset: int,
    timeout: float | None = None,
) -> dict[str, Path]:
    """`out_dir/<name>.onnx` for each of the SavedModel's functions `names`; name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = worker_command(str(saved_model), names, str(out_dir), opset)
    result = run_child(command, f"ONNX conversion of {saved_model}", timeout)
    error = out_dir / ".error.json"
    if error.is_file():
        message = json.loads(error.read_text())["message"]
        error.unlink()
        raise ExportError(message)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-20:])
        raise ExportError(f"ONNX conversion exited with {result.returncode}:\n{tail}")
    return {name: out_dir / f"{name}.onnx" for name in names}


def main(argv: list[str]) -> int:
    """The child: load the SavedModel, convert each named function, write it, free it."""
    parser = argparse.ArgumentParser(prog="keras_lm.export.onnx_worker")
    parser.add_argument("--saved-model", required=True)
    parser.add_argument("--names", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--opset", type=int, required=True)
    args = parser.parse_args(argv)
    import tensorflow as tf

    from keras_lm.export.onnx import convert_onnx

    loaded = tf.saved_model.load(args.saved_model)
    try:
        for name in args.names.split(","):  # one at a time: a graph's copies go before the next
            convert_onnx({name: getattr(loaded, name)}, args.out, opset=args.opset)
    except ExportError as err:
        (Path(args.out) / ".error.json").write_text(json.dumps({"message": str(err)}))
        return 1
    return 0
