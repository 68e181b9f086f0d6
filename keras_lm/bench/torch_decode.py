"""Decoding speed of ../shared/anchors/torch_ref at a bundle's GPT architecture, for side-by-side rows.

torch_ref's `bench_generate.py` times PyTorch eager greedy decoding, with and without
its KV cache, from a checkpoint. Timing does not depend on the weights, so this
module writes a randomly initialised checkpoint of the bundle's architecture
(layers, heads, width, context, vocabulary) with torch_ref's own `model.py`, and a
prompt text of as many characters, then runs the script in the torch venv
(`make torchref`).

Example:
>>> torch_architecture({"num_layers": 6, "num_heads": 6, "hidden_dim": 192, "context": 128,
...                     "vocab_size": 65}, vocab=70)
{'vocab_size': 70, 'block_size': 128, 'n_layer': 6, 'n_head': 6, 'n_embd': 192, 'dropout': 0.0, 'bias': True}
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

# The keras_lm family whose architecture torch_ref implements (the only one it can be compared with).
TORCH_REF_FAMILY = "transformer_lm"

_WRITE_CHECKPOINT = """
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from model import GPT, GPTConfig
cfg = GPTConfig(**json.loads(sys.argv[2]))
torch.manual_seed(0)
model = GPT(cfg)
chars = [chr(33 + i) for i in range(cfg.vocab_size)]
torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "chars": chars}, sys.argv[3])
open(sys.argv[4], "w").write("".join(chars) * 200)
"""


def torch_architecture(model: dict, vocab: int) -> dict:
    """torch_ref's `GPTConfig` fields for a keras_lm `transformer_lm` model config."""
    return {
        "vocab_size": vocab,
        "block_size": model["context"],
        "n_layer": model["num_layers"],
        "n_head": model["num_heads"],
        "n_embd": model["hidden_dim"],
        "dropout": 0.0,
        "bias": True,
    }


def torch_decode_rows(
    model: dict,
    vocab: int,
    python: str | Path,
    torch_ref: str | Path,
    prompt_length: int,
    new_tokens: int,
    threads: tuple[int, ...] = (1, 2),
    repeats: int = 3,
    timeout: float = 900,
) -> list[dict]:
    """torch_ref's decode rows (`engine` torch_eager, `kv_cache` True/False, per thread count)."""
    torch_ref = Path(torch_ref).resolve()
    with tempfile.TemporaryDirectory(prefix="keras_lm_torch_decode_") as tmp:
        ckpt, text = Path(tmp, "ckpt.pt"), Path(tmp, "prompt.txt")
        arch = json.dumps(torch_architecture(model, vocab))
        subprocess.run(
            [str(python), "-c", _WRITE_CHECKPOINT, str(torch_ref), arch, str(ckpt), str(text)],
            check=True,
            timeout=timeout,
            capture_output=True,
        )
        command = [
            str(python),
            str(torch_ref / "bench_generate.py"),
            *("--ckpt", str(ckpt), "--data", str(text)),
            *("--prompt_len", str(prompt_length), "--new_tokens", str(new_tokens)),
            *("--threads", ",".join(map(str, threads)), "--repeats", str(repeats)),
            "--no_onnx",
            "--no_in_window",
        ]
        done = subprocess.run(command, check=True, timeout=timeout, capture_output=True, text=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [r for r in rows if r.get("engine") == "torch_eager"]
