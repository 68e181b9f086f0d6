"""Peak RSS of one `.tflite` file under LiteRT's two Python APIs, each in a fresh process.

XNNPACK packs the weights of every signature it delegates, each signature on its own:
a runtime-cache file with `decode`, `prefill_32` and `prefill_128` holds its weights
once in the file and three times packed. LiteRT's `CompiledModel` API takes an XNNPACK
weight cache (`CpuOptions.xnnpack_weight_cache_path`; ":memory" keeps it in memory),
which packs each weight once for all signatures. This measures both on one file:
load, then one call of every signature on zero inputs, then the process's `VmHWM`.

keras_lm's runtime stays on the `Interpreter` API: in ai-edge-litert 2.3 the Python
`CompiledModel` wraps host memory only as a flat buffer ("Cannot auto-resize tensor
... no dims_signature exists"), so a KV cache could not stay in place between steps;
the Kotlin and C++ APIs have no such limit (export/README.md says how to turn it on).

Command: `python -m benchmarks.litert_memory export/shakespeare-small/tflite/model.float32.tflite`

Example:
>>> _api_command("interpreter", "m.tflite")[-3:]
['--worker', 'interpreter', 'm.tflite']
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.processes import python_module
from benchmarks.processes import run_measured

APIS = ("interpreter", "compiled_model_weight_cache")


def _api_command(api: str, path: str) -> list[str]:
    return python_module("benchmarks.litert_memory", "--worker", api, path)


def _zeros(details: dict) -> dict:
    import numpy as np

    return {key: np.zeros(d["shape"], d["dtype"]) for key, d in details.items()}


def _run_interpreter(path: str, threads: int) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    names = list(interpreter.get_signature_list())
    for name in names:
        runner = interpreter.get_signature_runner(name)
        runner(**_zeros(runner.get_input_details()))
    return names


def _run_compiled(path: str, threads: int) -> list[str]:
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import Options

    options = Options.create()
    options.cpu_options.num_threads = threads
    options.cpu_options.xnnpack_weight_cache_path = ":memory"
    model = CompiledModel.from_file(path, options=options)
    names = list(model.get_signature_list())
    for name in names:
        index = model.get_signature_index(name)
        inputs, outputs = model.create_input_buffers(index), model.create_output_buffers(index)
        details = model.get_input_tensor_details(name)
        for buffer, zeros in zip(inputs, _zeros(details).values(), strict=True):
            buffer.write(zeros)
        model.run_by_index(index, inputs, outputs)
    return names


def _worker(api: str, path: str) -> None:
    from keras_lm.bench.memory import peak_rss_mb

    names = (_run_interpreter if api == "interpreter" else _run_compiled)(path, 1)
    print(json.dumps({"signatures": names, "peak_rss_mb": peak_rss_mb()}))


def measure(path: str | Path) -> list[dict]:
    """One row per API: the signatures run and the process's peak RSS in MB."""
    rows = []
    for api in APIS:
        result = run_measured(_api_command(api, str(path)))
        line = result["stdout"].strip().splitlines()[-1]
        rows.append({"api": api, **json.loads(line)})
    return rows


def report(path: str | Path, rows: list[dict]) -> str:
    """The rows as Markdown, headed by the command that produced them."""
    lines = [
        f"`python -m benchmarks.litert_memory {path}`",
        "",
        "A fresh process per API: load, then one call of every signature on zeros.",
        "",
        "| API | signatures | peak RSS MB |",
        "|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['api']} | {', '.join(row['signatures'])} | {row['peak_rss_mb']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.litert_memory")
    parser.add_argument("--worker", choices=APIS, help=argparse.SUPPRESS)
    parser.add_argument("tflite", help="a .tflite file")
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.tflite)
    else:
        print(report(args.tflite, measure(args.tflite)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
