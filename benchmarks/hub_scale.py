"""An imported keras-hub model at real scale: GPT-2 124M's or a Llama's shape, random weights.

Speed does not depend on what the weights learned, so the preset is made here, offline:
keras-hub's `GPT2Backbone` at the shape of `gpt2_base_en` (12 x 768, context 1024,
vocabulary 50,257), or its `Llama3Backbone` at SmolLM-135M's (30 x 576, 9 query heads
sharing 3 key/value heads, SwiGLU 1536, vocabulary 49,152, tied), with random weights
and a byte-level BPE trained on Python's own docstrings (its vocabulary padded with
unused tokens), written by keras-hub's `save_to_preset`. Then, each step a fresh process: `keras-lm import`,
`keras-lm export` (wall time and peak RSS: the targets are 10 minutes and 12 GB), and
`keras-lm bench bundles` (prompt 128 + 128 new tokens, batch 1), which runs PyTorch eager
and the other anchors at the same weights when `make anchors` has made their venv.

Commands: `python -m benchmarks.hub_scale --out reports/bench/gpt2-124m`,
`python -m benchmarks.hub_scale --shape llama-135m --quantize int8 --out reports/bench/llama-135m`

Example:
>>> SHAPES["gpt2-124m"]["hidden_dim"], SHAPES["gpt2-124m"]["vocabulary_size"]
(768, 50257)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.processes import run_measured

LLAMA3_SPECIALS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
)
LLAMA_SHAPES = {
    "llama-135m": {  # SmolLM-135M's shape
        "vocabulary_size": 49152,
        "num_layers": 30,
        "num_query_heads": 9,
        "num_key_value_heads": 3,
        "hidden_dim": 576,
        "intermediate_dim": 1536,
        "tie_word_embeddings": True,
        "layer_norm_epsilon": 1e-5,
    },
    "llama-tiny": {
        "vocabulary_size": 600,
        "num_layers": 2,
        "num_query_heads": 4,
        "num_key_value_heads": 2,
        "hidden_dim": 32,
        "intermediate_dim": 64,
    },
}
SHAPES = {
    **LLAMA_SHAPES,
    "gpt2-124m": {
        "vocabulary_size": 50257,
        "num_layers": 12,
        "num_heads": 12,
        "hidden_dim": 768,
        "intermediate_dim": 3072,
        "max_sequence_length": 1024,
    },
    "gpt2-tiny": {  # the same path in seconds: for the test
        "vocabulary_size": 600,
        "num_layers": 2,
        "num_heads": 2,
        "hidden_dim": 32,
        "intermediate_dim": 64,
        "max_sequence_length": 64,
    },
}
BPE_VOCAB = 4096


def make_preset(folder: Path, shape: dict, seed: int = 0, llama: bool = False) -> Path:
    """A random-weight GPT-2 (or Llama 3) preset of `shape` in `folder` (`save_to_preset`)."""
    import keras
    import keras_hub

    from keras_lm.data.embedded import stdlib_docs_corpus
    from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer

    specials = LLAMA3_SPECIALS if llama else ()
    size = min(BPE_VOCAB, shape["vocabulary_size"] - len(specials))
    trained = ByteBPETokenizer.train(stdlib_docs_corpus(500_000).texts(), size)
    tokens = trained.vocabulary() + list(specials)
    tokens += [f"<|unused_{i}|>" for i in range(shape["vocabulary_size"] - len(tokens))]
    vocabulary = {token: i for i, token in enumerate(tokens)}
    name = "Llama3" if llama else "GPT2"
    tokenizer = getattr(keras_hub.models, f"{name}Tokenizer")(
        vocabulary=vocabulary, merges=trained.merges
    )
    preprocessor = getattr(keras_hub.models, f"{name}CausalLMPreprocessor")(
        tokenizer, sequence_length=128
    )
    keras.utils.set_random_seed(seed)
    backbone = getattr(keras_hub.models, f"{name}Backbone")(**shape, dropout=0.0)
    getattr(keras_hub.models, f"{name}CausalLM")(backbone, preprocessor).save_to_preset(str(folder))
    return folder


def _step(name: str, command: list[str]) -> dict:
    start = time.perf_counter()
    result = run_measured(command, tree=True)  # the TFLite converter runs in a child
    return {
        "step": name,
        "command": " ".join(command[2:]) if command[1] == "-m" else " ".join(command),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": result["peak_rss_mb"],
    }


def run_scale(
    shape: str,
    out: Path,
    prompt_length: int,
    new_tokens: int,
    threads: str,
    bench: bool = True,
    quantize: str = "fp16,int8",
) -> dict:
    """Preset, import, export, bench; returns the steps' times and peak memory."""
    out.mkdir(parents=True, exist_ok=True)
    preset, run, bundles = out / "preset", out / "run", out / "bundles"
    started = time.perf_counter()
    if not (preset / "config.json").is_file():
        make_preset(preset, SHAPES[shape], llama=shape in LLAMA_SHAPES)
    made = round(time.perf_counter() - started, 1)
    cli = [sys.executable, "-m", "keras_lm"]
    steps = [
        _step("import", [*cli, "import", str(preset), "--out", str(run), "--overwrite"]),
        _step(
            "export",
            [
                *cli,
                "export",
                str(run),
                "--format",
                "tflite,onnx",
                "--quantize",
                quantize,
                "--out",
                str(bundles),
                "--overwrite",
            ],
        ),
    ]
    bundle = bundles / "run"
    if bench:
        command = [*cli, "bench", "bundles", str(bundle), "--threads", threads, "--batches", "1"]
        command += ["--no-recompute"]  # O(length^2) a token: minutes a cell at this scale
        command += ["--prompt-length", str(prompt_length), "--new-tokens", str(new_tokens)]
        steps.append(_step("bench", [*command, "--repeats", "2", "--out", str(out / "bench")]))
    sizes = {
        p.relative_to(bundle).as_posix(): p.stat().st_size for p in bundle.rglob("*") if p.is_file()
    }
    return {"shape": shape, "preset_seconds": made, "steps": steps, "bundle_bytes": sizes}


def report(result: dict, command: str) -> str:
    """The steps and the bundle's files as Markdown, headed by the command."""
    lines = [
        f"`{command}`",
        "",
        f"Shape {result['shape']}: {SHAPES[result['shape']]}",
        "",
        "| step | seconds | peak RSS MB | command |",
        "|---|---|---|---|",
    ]
    for s in result["steps"]:
        lines.append(f"| {s['step']} | {s['seconds']} | {s['peak_rss_mb']} | `{s['command']}` |")
    lines += ["", "| file | MB |", "|---|---|"]
    for name, size in sorted(result["bundle_bytes"].items()):
        if size > 1 << 20:
            lines.append(f"| {name} | {size / (1 << 20):.1f} |")
    if any(s["step"] == "bench" for s in result["steps"]):
        lines += ["", "Decode speed: `bench/bench.md` beside this file."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hub_scale")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="gpt2-124m")
    parser.add_argument("--out", default="reports/bench/gpt2-124m")
    parser.add_argument("--prompt-length", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--quantize", default="fp16,int8", help="the export's --quantize")
    parser.add_argument(
        "--no-bench", dest="bench", action="store_false", help="import and export only"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    result = run_scale(
        args.shape,
        out,
        args.prompt_length,
        args.new_tokens,
        args.threads,
        args.bench,
        args.quantize,
    )
    text = report(result, "python -m benchmarks.hub_scale " + " ".join(argv))
    (out / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "scale.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
