"""The anchor engines at a keras_lm LM checkpoint's own weights, one JSON line out.

Run by path with the anchors venv's python (`make anchors`), never imported at run time
by keras_lm: it needs only numpy, h5py and the anchors (torch, transformers, optimum,
onnxruntime, onnxruntime-genai, litert-torch), all imported inside the functions that
use them. It reads the Keras weights from the `.keras` zip's `model.weights.h5`, maps
them into a Hugging Face `GPT2LMHeadModel` (a `transformer_lm`: learned positions,
pre-LayerNorm, biased attention and exact-GELU MLP, tied logits) or `LlamaForCausalLM`
(a `llama_lm` without Gemma's options: RoPE, grouped-query attention, RMSNorm, SwiGLU;
`"family"` in the job says which), refuses to go on
unless that model's logits on the parent's prompt match the bundle's ONNX ones, and
times greedy decoding, batch 1, on each engine:

- `hf-transformers eager + KV cache`: `model.generate(..., use_cache=True)`.
- `optimum ONNX + ORT`: optimum's ONNX export (text-generation-with-past), run by
  `ORTModelForCausalLM`.
- `onnxruntime-genai`: its model builder, then its generator loop.
- `litert-torch TFLite`: litert-torch's converter on the HF model's layers with a
  static KV cache (prefill and decode signatures), run by ai_edge_litert.

Each engine: one warm-up, then `repeats` generations of exactly `new_tokens` after a
random prompt of `prompt_length` ids; tokens/s = new_tokens / seconds (the median
generation, prefill included, as `keras_lm.bench.decode_timing`). An engine that is
not installed or cannot take the model gives a row with `skipped` saying why.

Usage: `python anchor_worker.py JOB_JSON` (or `-` with the job on stdin, as `anchors.py` runs it), JOB_JSON =
`{"checkpoint", "architecture": {"num_layers", "num_heads", "hidden_dim", "context",
"layer_norm_epsilon"}, "vocab_size", "prompt_length", "new_tokens", "threads",
"repeats", "reference": {"token_ids": [...], "logits": [...]}, "cache_dir"}`, and optionally
`"engines"`: a subset of `ENGINES`.

Example, the pure weight mapping on fake arrays (numpy only):
>>> weights = fake_keras_weights(num_layers=1, hidden_dim=4, num_heads=2, vocab=5, context=3)
>>> state = gpt2_state_dict(weights, num_layers=1)
>>> state["transformer.h.0.attn.c_attn.weight"].shape, state["transformer.h.0.attn.c_proj.weight"].shape
((4, 12), (4, 4))
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

HF_EAGER = "hf-transformers eager + KV cache"
OPTIMUM_ORT = "optimum ONNX + ORT"
ORT_GENAI = "onnxruntime-genai"
LITERT_TORCH = "litert-torch TFLite"
ENGINES = (HF_EAGER, OPTIMUM_ORT, ORT_GENAI, LITERT_TORCH)
LOGITS_ATOL = 1e-3  # HF model vs the bundle's float32 ONNX prefill
CACHE_FORMAT = "2"  # bump to invalidate every cached export


# === Keras weights -> GPT-2 state dict ===


def read_keras_weights(checkpoint: str | Path) -> dict[str, np.ndarray]:
    """Every layer weight of a `.keras` zip, keyed `layer_name/sublayer/.../index`.

    The h5 groups of `model.weights.h5` are named after layer classes
    (`layers/transformer_decoder_block_3/self_attention/query_dense/vars/0`); the
    top-level group is renamed to its layer's own name (`transformer_layer_3`), which
    keras_lm's model code sets, and the `vars` levels are dropped.
    """
    import h5py

    with zipfile.ZipFile(checkpoint) as archive:
        data = io.BytesIO(archive.read("model.weights.h5"))
    weights = {}
    with h5py.File(data, "r") as h5:
        for group_name, group in h5["layers"].items():
            layer_name = group["vars"].attrs.get("name", group_name)

            def visit(path, item, layer_name=layer_name):
                if isinstance(item, h5py.Dataset):
                    parts = [p for p in path.split("/") if p != "vars"]
                    weights["/".join([layer_name, *parts])] = np.asarray(item[()])

            group.visititems(visit)
    return weights


def gpt2_state_dict(weights: dict[str, np.ndarray], num_layers: int) -> dict[str, np.ndarray]:
    """Hugging Face `GPT2LMHeadModel` state-dict arrays from `read_keras_weights`' names.

    GPT-2's `Conv1D` computes `x @ W + b` (W is `(in, out)`, as a Keras kernel); its
    fused `c_attn` is `[q | k | v]` along the output axis, each head-major (`h * Dh + d`),
    which is the `(D, H, Dh)` EinsumDense kernel flattened.
    """
    state = {
        "transformer.wte.weight": weights["token_embedding/0"],
        "transformer.wpe.weight": weights["position_embedding/0"],
        "transformer.ln_f.weight": weights["final_layer_norm/0"],
        "transformer.ln_f.bias": weights["final_layer_norm/1"],
    }
    # An untied ReversibleEmbedding keeps its (D, V) output matrix as a second variable.
    reverse = weights.get("token_embedding/1")
    state["lm_head.weight"] = weights["token_embedding/0"] if reverse is None else reverse.T
    for i in range(num_layers):
        state |= _block_state(weights, f"transformer_layer_{i}", f"transformer.h.{i}")
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def _block_state(weights: dict[str, np.ndarray], keras: str, hf: str) -> dict[str, np.ndarray]:
    """One pre-LayerNorm block: two LayerNorms, fused q/k/v, output projection, MLP."""
    attention = f"{keras}/self_attention"
    qkv = [f"{attention}/{name}_dense" for name in ("query", "key", "value")]
    hidden = weights[f"{qkv[0]}/0"].shape[0]
    output_kernel = weights[f"{attention}/output_dense/0"]  # (H, Dh, D)
    return {
        f"{hf}.ln_1.weight": weights[f"{keras}/self_attention_norm/0"],
        f"{hf}.ln_1.bias": weights[f"{keras}/self_attention_norm/1"],
        f"{hf}.attn.c_attn.weight": np.concatenate(
            [weights[f"{p}/0"].reshape(hidden, -1) for p in qkv], axis=1
        ),
        f"{hf}.attn.c_attn.bias": np.concatenate([weights[f"{p}/1"].reshape(-1) for p in qkv]),
        f"{hf}.attn.c_proj.weight": output_kernel.reshape(-1, output_kernel.shape[-1]),
        f"{hf}.attn.c_proj.bias": weights[f"{attention}/output_dense/1"],
        f"{hf}.ln_2.weight": weights[f"{keras}/feedforward_norm/0"],
        f"{hf}.ln_2.bias": weights[f"{keras}/feedforward_norm/1"],
        f"{hf}.mlp.c_fc.weight": weights[f"{keras}/feedforward_intermediate/0"],
        f"{hf}.mlp.c_fc.bias": weights[f"{keras}/feedforward_intermediate/1"],
        f"{hf}.mlp.c_proj.weight": weights[f"{keras}/feedforward_output/0"],
        f"{hf}.mlp.c_proj.bias": weights[f"{keras}/feedforward_output/1"],
    }


def llama_state_dict(weights: dict[str, np.ndarray], num_layers: int) -> dict[str, np.ndarray]:
    """Hugging Face `LlamaForCausalLM` state-dict arrays from a keras_lm `llama_lm` checkpoint.

    HF's `Linear` weights are `(out, in)`: each Keras kernel flattened to 2-D and transposed.
    Both rotate the two halves of a head (`rotate_half`), so q and k need no permutation.
    """
    state = {
        "model.embed_tokens.weight": weights["token_embedding/0"],
        "model.norm.weight": weights["sequence_output_layernorm/0"],
    }
    reverse = weights.get("token_embedding/1")
    state["lm_head.weight"] = weights["token_embedding/0"] if reverse is None else reverse.T
    for i in range(num_layers):
        keras, hf = f"transformer_layer_{i}", f"model.layers.{i}"
        attention = f"{keras}/self_attention"
        hidden = weights[f"{attention}/query_dense/0"].shape[0]
        state[f"{hf}.input_layernorm.weight"] = weights[f"{keras}/self_attention_layernorm/0"]
        for ours, theirs in (("query", "q"), ("key", "k"), ("value", "v")):
            kernel = weights[f"{attention}/{ours}_dense/0"]  # (D, H, Dh)
            state[f"{hf}.self_attn.{theirs}_proj.weight"] = kernel.reshape(hidden, -1).T
        output = weights[f"{attention}/output_dense/0"]  # (H, Dh, D)
        state[f"{hf}.self_attn.o_proj.weight"] = output.reshape(-1, hidden).T
        state[f"{hf}.post_attention_layernorm.weight"] = weights[f"{keras}/feedforward_layernorm/0"]
        for ours, theirs in (("gate", "gate"), ("intermediate", "up"), ("output", "down")):
            kernel = weights[f"{keras}/feedforward_{ours}_dense/0"]
            state[f"{hf}.mlp.{theirs}_proj.weight"] = kernel.T
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def fake_keras_weights(
    num_layers: int, hidden_dim: int, num_heads: int, vocab: int, context: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random arrays under `read_keras_weights`' names and shapes (tests and examples)."""
    rng = np.random.default_rng(seed)
    head_dim, mlp = hidden_dim // num_heads, 4 * hidden_dim
    shapes = {
        "token_embedding/0": (vocab, hidden_dim),
        "position_embedding/0": (context, hidden_dim),
        "final_layer_norm/0": (hidden_dim,),
        "final_layer_norm/1": (hidden_dim,),
    }
    for i in range(num_layers):
        block = f"transformer_layer_{i}"
        for name in ("query", "key", "value"):
            shapes[f"{block}/self_attention/{name}_dense/0"] = (hidden_dim, num_heads, head_dim)
            shapes[f"{block}/self_attention/{name}_dense/1"] = (num_heads, head_dim)
        shapes[f"{block}/self_attention/output_dense/0"] = (num_heads, head_dim, hidden_dim)
        shapes[f"{block}/self_attention/output_dense/1"] = (hidden_dim,)
        for norm in ("self_attention_norm", "feedforward_norm"):
            shapes[f"{block}/{norm}/0"] = shapes[f"{block}/{norm}/1"] = (hidden_dim,)
        shapes[f"{block}/feedforward_intermediate/0"] = (hidden_dim, mlp)
        shapes[f"{block}/feedforward_intermediate/1"] = (mlp,)
        shapes[f"{block}/feedforward_output/0"] = (mlp, hidden_dim)
        shapes[f"{block}/feedforward_output/1"] = (hidden_dim,)
    return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


# === The Hugging Face model ===


def gpt2_config(architecture: dict, vocab_size: int, tied: bool = True):
    """The `transformers.GPT2Config` of a keras_lm `transformer_lm` architecture (no dropout)."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=architecture["context"],
        n_embd=architecture["hidden_dim"],
        n_layer=architecture["num_layers"],
        n_head=architecture["num_heads"],
        n_inner=architecture.get("intermediate_dim"),
        # keras "gelu" is exact (erf); an imported GPT-2's "gelu_approximate" is HF's "gelu_new"
        activation_function="gelu_new"
        if architecture.get("activation") == "gelu_approximate"
        else "gelu",
        layer_norm_epsilon=architecture.get("layer_norm_epsilon", 1e-5),
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=tied,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
        architectures=["GPT2LMHeadModel"],
    )


def llama_config(architecture: dict, vocab_size: int, tied: bool):
    """The `transformers.LlamaConfig` of a keras_lm `llama_lm` architecture (no dropout)."""
    from transformers import LlamaConfig

    heads = architecture["num_heads"]
    hidden = architecture["hidden_dim"]
    scaling = None
    if architecture.get("rope_frequency_adjustment_factor") is not None:
        scaling = {
            "rope_type": "llama3",
            "factor": architecture["rope_frequency_adjustment_factor"],
            "low_freq_factor": architecture["rope_low_freq_factor"],
            "high_freq_factor": architecture["rope_high_freq_factor"],
            "original_max_position_embeddings": architecture["rope_pretraining_sequence_length"],
        }
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=architecture["intermediate_dim"],
        num_hidden_layers=architecture["num_layers"],
        num_attention_heads=heads,
        num_key_value_heads=architecture.get("num_kv_heads") or heads,
        head_dim=architecture.get("head_dim") or hidden // heads,
        max_position_embeddings=architecture["context"],
        rms_norm_eps=architecture.get("layer_norm_epsilon", 1e-6),
        rope_theta=architecture.get("rope_max_wavelength", 10_000.0),
        rope_scaling=scaling,
        tie_word_embeddings=tied,
        hidden_act="silu",
        attention_dropout=0.0,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
    )


def build_hf(job: dict):
    """The Hugging Face twin of the job's family (`transformer_lm`: GPT-2, `llama_lm`: Llama)."""
    if job.get("family", "transformer_lm") != "llama_lm":
        return build_gpt2(job)
    import torch
    from transformers import LlamaForCausalLM

    arch = job["architecture"]
    if arch.get("embedding_scale") or arch.get("norm_offset") or arch.get("activation") != "silu":
        raise MappingError("a Gemma-style llama_lm has no Llama twin in transformers")
    weights = read_keras_weights(job["checkpoint"])
    tied = "token_embedding/1" not in weights
    model = LlamaForCausalLM(llama_config(arch, job["vocab_size"], tied)).eval()
    state = {
        k: torch.from_numpy(v) for k, v in llama_state_dict(weights, arch["num_layers"]).items()
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (tied and m == "lm_head.weight")]
    if missing or unexpected:
        raise MappingError(f"weight mapping: missing {missing}, unexpected {unexpected}")
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def build_gpt2(job: dict):
    """A `GPT2LMHeadModel` (eval mode) holding the checkpoint's weights."""
    import torch
    from transformers import GPT2LMHeadModel

    weights = read_keras_weights(job["checkpoint"])
    arch = job["architecture"]
    state = gpt2_state_dict(weights, arch["num_layers"])
    tied = "token_embedding/1" not in weights
    model = GPT2LMHeadModel(gpt2_config(arch, job["vocab_size"], tied)).eval()
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping: missing {missing}, unexpected {unexpected}")
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def check_logits(logits: np.ndarray, reference: dict, engine: str) -> float:
    """Max |logits - reference| at the prompt's last token; raises above `LOGITS_ATOL`."""
    expected = np.asarray(reference["logits"], np.float32)
    diff = float(np.max(np.abs(np.asarray(logits, np.float32).reshape(-1) - expected)))
    if not diff <= LOGITS_ATOL:
        raise MappingError(
            f"{engine}: logits differ from the bundle's ONNX prefill by {diff:.3g} "
            f"(> {LOGITS_ATOL}); the weight mapping is wrong"
        )
    return diff


# === Timing ===


def time_engine(generate: Callable[[], list[int]], new_tokens: int, repeats: int) -> dict:
    """One warm-up, then `repeats` timed calls of `generate` (returns the new token ids)."""
    tokens = generate()
    if len(tokens) != new_tokens:
        raise RuntimeError(f"generated {len(tokens)} tokens, expected {new_tokens}")
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate()
        seconds.append(time.perf_counter() - start)
    return {
        "tokens_per_s": new_tokens / statistics.median(seconds),
        "seconds": seconds,
        "tokens": [int(t) for t in tokens],
    }


def random_prompt(length: int, vocab: int, seed: int = 0) -> list[int]:
    """Seeded ids above the five special ids, as `keras_lm.bench.decode_timing.random_ids`."""
    rng = np.random.default_rng(seed)
    return rng.integers(5, max(vocab, 6), size=length).tolist()


# === Engines ===


def greedy_generate(model, prompt: list[int], new_tokens: int) -> Callable[[], list[int]]:
    """Greedy `model.generate` with its KV cache (an HF model, or optimum's ORT one)."""
    import torch

    ids = torch.tensor([prompt])
    mask = torch.ones_like(ids)

    def generate() -> list[int]:
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=False,
                use_cache=True,
            )
        return out[0, len(prompt) :].tolist()

    return generate


def hf_logits(model, prompt: list[int]) -> np.ndarray:
    """The HF model's logits at the prompt's last token."""
    import torch

    with torch.inference_mode():
        return model(torch.tensor([prompt])).logits[0, -1].numpy()


def optimum_ort(hf_dir: Path, cache: Path, job: dict, prompt: list[int]) -> dict:
    """optimum's ONNX export (cached), `ORTModelForCausalLM.generate` at `threads`."""
    import onnxruntime
    import torch
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTModelForCausalLM

    def export(out: Path) -> None:
        main_export(
            str(hf_dir), output=out, task="text-generation-with-past", library_name="transformers"
        )

    onnx_dir = cached(cache / "optimum-onnx", export)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = job["threads"]
    model = ORTModelForCausalLM.from_pretrained(
        onnx_dir, session_options=options, provider="CPUExecutionProvider", use_cache=True
    )
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    reference = job["reference"]["token_ids"]
    with torch.inference_mode():
        logits = model(
            torch.tensor([reference]), attention_mask=torch.ones(1, len(reference))
        ).logits
    diff = check_logits(logits[0, -1].numpy(), job["reference"], OPTIMUM_ORT)
    row = time_engine(
        greedy_generate(model, prompt, job["new_tokens"]), job["new_tokens"], job["repeats"]
    )
    return row | {"max_abs_diff": diff}


def ort_genai(hf_dir: Path, cache: Path, job: dict, prompt: list[int]) -> dict:
    """onnxruntime-genai's model builder (fp32, cpu), then its greedy generator loop."""
    import onnxruntime_genai as og

    def build(out: Path) -> None:
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder"]
        command += ["-i", str(hf_dir), "-o", str(out), "-p", "fp32", "-e", "cpu"]
        command += ["-c", str(out / "hf-cache")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if done.returncode:
            raise Skip(f"model builder: {last_line(done.stderr or done.stdout)}")

    model_dir = cached(cache / "ort-genai", build)
    _set_genai_threads(model_dir, job["threads"])
    config = og.Config(str(model_dir))
    config.clear_providers()
    model = og.Model(config)
    total = len(prompt) + job["new_tokens"]

    def generate() -> list[int]:
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=total, min_length=total, do_sample=False)
        generator = og.Generator(model, params)
        generator.append_tokens([prompt])
        while not generator.is_done():
            generator.generate_next_token()
        return list(generator.get_sequence(0))[len(prompt) :]

    return time_engine(generate, job["new_tokens"], job["repeats"])


def _set_genai_threads(model_dir: Path, threads: int) -> None:
    """Write `intra_op_num_threads` into genai_config.json (read when the model loads)."""
    path = model_dir / "genai_config.json"
    config = json.loads(path.read_text())
    config["model"]["decoder"].setdefault("session_options", {})["intra_op_num_threads"] = threads
    path.write_text(json.dumps(config, indent=2))


def static_cache_gpt2(model):
    """A `torch.nn.Module` over the HF model's own layers, with a fixed-size KV cache.

    `forward(tokens (1, T) int32, positions (T,) int32, keys, values)`, the caches
    `(L, 1, H, context, Dh)` float32, returns `(logits (1, V) at the last position,
    keys, values)` with the T new positions written. Hand-written because litert-torch's
    Hugging Face exporter needs transformers 5 (optimum-onnx caps it below 4.58), and
    its converter wants static shapes: the cache is a whole tensor in and out, written
    with one-hot masks, as keras_lm's own TFLite graphs.
    """
    import torch

    class StaticCacheGPT2(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gpt = model.transformer
            self.lm_head = model.lm_head
            config = model.config
            self.heads, self.width = config.n_head, config.n_embd
            self.context = config.n_positions

        def forward(self, tokens, positions, keys, values):
            heads, width = self.heads, self.width
            length = tokens.shape[1]
            x = self.gpt.wte(tokens) + self.gpt.wpe(positions)[None]  # (1, T, D)
            slots = torch.arange(self.context, dtype=positions.dtype)
            write = (positions[:, None] == slots[None, :]).to(x.dtype)  # (T, C)
            keep = 1.0 - write.sum(0)[:, None]  # (C, 1)
            bias = torch.where(slots[None, :] <= positions[:, None], 0.0, -1e9)  # (T, C)
            new_keys, new_values = [], []
            for i, block in enumerate(self.gpt.h):
                q, k, v = block.attn.c_attn(block.ln_1(x)).split(width, dim=2)
                q, k, v = (t.reshape(1, length, heads, -1).transpose(1, 2) for t in (q, k, v))
                k = keys[i] * keep + torch.einsum("tc,bhtd->bhcd", write, k)  # (1, H, C, Dh)
                v = values[i] * keep + torch.einsum("tc,bhtd->bhcd", write, v)
                scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5 + bias
                y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(1, length, width)
                x = x + block.attn.c_proj(y)
                x = x + block.mlp(block.ln_2(x))
                new_keys.append(k)
                new_values.append(v)
            logits = self.lm_head(self.gpt.ln_f(x[:, -1]))  # (1, V)
            return logits, torch.stack(new_keys), torch.stack(new_values)

    return StaticCacheGPT2().eval()


def litert_tflite(model, cache: Path, job: dict, prompt: list[int]) -> dict:
    """litert-torch's converter on `static_cache_gpt2` (prefill and decode signatures), run by
    ai_edge_litert's interpreter at `threads`."""
    from ai_edge_litert.interpreter import Interpreter

    if job.get("family", "transformer_lm") != "transformer_lm":
        raise Skip("keras_lm's litert-torch wrapper is GPT-2's (static_cache_gpt2)")
    length = job["prompt_length"]

    def convert(out: Path) -> None:
        import litert_torch
        import torch

        wrapper = static_cache_gpt2(model)
        config = model.config
        head_dim = config.n_embd // config.n_head
        shape = (config.n_layer, 1, config.n_head, config.n_positions, head_dim)
        caches = {"keys": torch.zeros(shape), "values": torch.zeros(shape)}
        prefill = _step_inputs(torch, length) | caches
        converter = litert_torch.signature("prefill", wrapper, sample_kwargs=prefill)
        decode = _step_inputs(torch, 1) | caches
        converter = converter.signature("decode", wrapper, sample_kwargs=decode)
        converter.convert().export(str(out / "model.tflite"))

    tflite = cached(cache / f"litert-prefill{length}", convert) / "model.tflite"
    interpreter = Interpreter(model_path=str(tflite), num_threads=job["threads"])
    prefill, decode = (interpreter.get_signature_runner(n) for n in ("prefill", "decode"))
    empty = np.zeros(decode.get_input_details()["keys"]["shape"], np.float32)

    def run(runner, tokens: list[int], start: int, keys, values):
        ids = np.asarray([tokens], np.int32)
        positions = np.arange(start, start + len(tokens), dtype=np.int32)
        out = runner(tokens=ids, positions=positions, keys=keys, values=values)
        logits, keys, values = (out[n] for n in sorted(out, key=_output_index))
        return logits, keys, values

    def generate() -> list[int]:
        logits, keys, values = run(prefill, prompt, 0, empty, empty)
        tokens = [int(np.argmax(logits))]
        while len(tokens) < job["new_tokens"]:
            start = len(prompt) + len(tokens) - 1
            logits, keys, values = run(decode, tokens[-1:], start, keys, values)
            tokens.append(int(np.argmax(logits)))
        return tokens

    row = {}
    reference = job["reference"]
    if len(reference["token_ids"]) == length:
        logits = run(prefill, reference["token_ids"], 0, empty, empty)[0]
        row["max_abs_diff"] = check_logits(logits, reference, LITERT_TORCH)
    return time_engine(generate, job["new_tokens"], job["repeats"]) | row


def _step_inputs(torch, length: int) -> dict:
    """Sample `tokens` and `positions` of `length` new positions (the signature's static shape)."""
    return {
        "tokens": torch.zeros(1, length, dtype=torch.int32),
        "positions": torch.arange(length, dtype=torch.int32),
    }


def _output_index(name: str) -> int:
    """litert-torch names a signature's outputs `output_0`, `output_1`, ... in return order."""
    return int(name.rsplit("_", 1)[-1])


# === Plumbing ===


class Skip(Exception):
    """An engine that cannot run here; its message becomes the row's `skipped`."""


class MappingError(ValueError):
    """An engine's logits are not the bundle's: the worker stops (no row is worth timing)."""


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output (where its error message is)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "failed without a message"


def first_line(error: Exception) -> str:
    """An exception's message, first line only (converters' messages run to pages)."""
    lines = str(error).strip().splitlines()
    return lines[0][:500] if lines else ""


def cached(folder: Path, build: Callable[[Path], None]) -> Path:
    """`folder`, built once by `build(tmp)` then renamed into place (a failure leaves nothing)."""
    if not folder.exists():
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        tmp.rename(folder)
    return folder


def cache_root(job: dict) -> Path:
    """The job's cache folder, by checkpoint hash and architecture."""
    digest = hashlib.sha256(Path(job["checkpoint"]).read_bytes())
    digest.update(json.dumps([job["architecture"], job["vocab_size"], CACHE_FORMAT]).encode())
    base = job.get("cache_dir") or Path(tempfile.gettempdir(), "keras_lm_anchors")
    return Path(base, digest.hexdigest()[:16])


def save_hf(model, cache: Path) -> Path:
    """The HF model saved (safetensors, config, an id tokenizer) for the exporters that read a folder."""

    def save(out: Path) -> None:
        model.save_pretrained(out)
        save_id_tokenizer(model.config.vocab_size, out)

    return cached(cache / "hf", save)


def save_id_tokenizer(vocab_size: int, out: Path) -> None:
    """A fast tokenizer with one token per id, `<0>` ... (the engines take ids, but some
    builders, as onnxruntime-genai's, refuse a folder without a tokenizer)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(WordLevel({f"<{i}>": i for i in range(vocab_size)}, unk_token="<1>"))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<1>").save_pretrained(out)


def engine_row(engine: str, job: dict, run: Callable[[], dict]) -> dict:
    """One row: `run()`'s measurement, or `skipped` with the reason."""
    row = {
        "engine": engine,
        "threads": job["threads"],
        "batch": 1,
        "prompt_length": job["prompt_length"],
        "new_tokens": job["new_tokens"],
        "tokens_per_s": None,
        "skipped": None,
    }
    try:
        return row | run()
    except MappingError:
        raise
    except Skip as reason:
        return row | {"skipped": str(reason)}
    except ImportError as error:
        return row | {"skipped": f"not installed ({error})"}
    except Exception as error:
        print(traceback.format_exc(), file=sys.stderr)
        return row | {"skipped": f"{type(error).__name__}: {first_line(error)}"}


def run_job(job: dict) -> list[dict]:
    """Every engine's row for one job (one thread count); `job["engines"]` picks some."""
    import torch

    torch.set_num_threads(job["threads"])
    prompt = random_prompt(job["prompt_length"], job["vocab_size"])
    model = build_hf(job)
    reference = job["reference"]
    diff = check_logits(hf_logits(model, reference["token_ids"]), reference, HF_EAGER)
    cache = cache_root(job)
    cache.mkdir(parents=True, exist_ok=True)
    hf_dir = save_hf(model, cache)
    new, repeats = job["new_tokens"], job["repeats"]
    runs = {
        HF_EAGER: lambda: (
            time_engine(greedy_generate(model, prompt, new), new, repeats) | {"max_abs_diff": diff}
        ),
        OPTIMUM_ORT: lambda: optimum_ort(hf_dir, cache, job, prompt),
        ORT_GENAI: lambda: ort_genai(hf_dir, cache, job, prompt),
        LITERT_TORCH: lambda: litert_tflite(model, cache, job, prompt),
    }
    rows = [engine_row(e, job, runs[e]) for e in job.get("engines", ENGINES)]
    return with_agreement(rows)


def with_agreement(rows: list[dict]) -> list[dict]:
    """Each row's generated ids replaced by `agreement`: the fraction equal to HF eager's."""
    tokens = {r["engine"]: r.pop("tokens", None) for r in rows}
    anchor = tokens.get(HF_EAGER)
    for row in rows:
        mine = tokens[row["engine"]]
        if anchor and mine:
            row["agreement"] = float(np.mean(np.asarray(mine) == np.asarray(anchor)))
    return rows


def main(argv: list[str]) -> int:
    """`python anchor_worker.py JOB_JSON` (or `-`: the job on stdin): print the rows as one JSON
    line, alone on stdout."""
    job = json.loads(sys.stdin.read() if argv[1] == "-" else argv[1])
    rows_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the converters' progress lines (some from C++) go to stderr
    rows = run_job(job)
    print(json.dumps(rows), file=rows_out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
