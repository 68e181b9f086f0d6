"""The anchor engines: the Keras-to-GPT-2 weight mapping (numpy only) and, with `make anchors`, the worker."""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_lm.bench.anchors import WORKER
from keras_lm.bench.anchors import anchor_rows
from keras_lm.bench.anchors import run_worker
from keras_lm.inference.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
ANCHORS_PYTHON = ROOT / ".venv-anchors" / "bin" / "python"
SMALL_BUNDLE = ROOT / "export" / "shakespeare-small"


def load_worker():
    """anchor_worker.py imported by path, as the anchors venv runs it."""
    spec = importlib.util.spec_from_file_location("anchor_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_rows_without_the_anchors_venv(tmp_path):
    manifest = Manifest(name="m", family="transformer_lm", task="lm")
    assert anchor_rows(tmp_path, manifest, python=tmp_path / "no" / "python") == []


def test_no_rows_for_a_family_without_a_gpt2_twin(tmp_path):
    python = tmp_path / "python"
    python.touch()
    manifest = Manifest(name="m", family="seq2seq", task="translation")
    assert anchor_rows(tmp_path, manifest, python=python) == []


def test_mapping_names_and_shapes_are_gpt2s():
    worker = load_worker()
    layers, hidden, heads, vocab, context = 2, 8, 2, 11, 6
    weights = worker.fake_keras_weights(layers, hidden, heads, vocab, context)
    state = worker.gpt2_state_dict(weights, num_layers=layers)
    per_block = {
        "ln_1.weight": (hidden,),
        "ln_1.bias": (hidden,),
        "attn.c_attn.weight": (hidden, 3 * hidden),
        "attn.c_attn.bias": (3 * hidden,),
        "attn.c_proj.weight": (hidden, hidden),
        "attn.c_proj.bias": (hidden,),
        "ln_2.weight": (hidden,),
        "ln_2.bias": (hidden,),
        "mlp.c_fc.weight": (hidden, 4 * hidden),
        "mlp.c_fc.bias": (4 * hidden,),
        "mlp.c_proj.weight": (4 * hidden, hidden),
        "mlp.c_proj.bias": (hidden,),
    }
    expected = {
        "transformer.wte.weight": (vocab, hidden),
        "transformer.wpe.weight": (context, hidden),
        "transformer.ln_f.weight": (hidden,),
        "transformer.ln_f.bias": (hidden,),
        "lm_head.weight": (vocab, hidden),
    }
    for i in range(layers):
        expected |= {f"transformer.h.{i}.{name}": shape for name, shape in per_block.items()}
    assert {name: value.shape for name, value in state.items()} == expected
    assert all(value.dtype == np.float32 for value in state.values())
    np.testing.assert_array_equal(state["lm_head.weight"], state["transformer.wte.weight"])


def test_fused_qkv_computes_the_einsum_dense_projections():
    """GPT-2's `x @ c_attn + b`, split in three and into heads, is Keras' `einsum(x, kernel) + bias`."""
    worker = load_worker()
    hidden, heads = 8, 2
    weights = worker.fake_keras_weights(1, hidden, heads, vocab=5, context=4)
    state = worker.gpt2_state_dict(weights, num_layers=1)
    x = np.random.default_rng(1).normal(size=(3, hidden)).astype(np.float32)
    fused = (
        x @ state["transformer.h.0.attn.c_attn.weight"] + state["transformer.h.0.attn.c_attn.bias"]
    )
    for part, name in zip(np.split(fused, 3, axis=-1), ("query", "key", "value"), strict=True):
        prefix = f"transformer_layer_0/self_attention/{name}_dense"
        keras = np.einsum("td,dhk->thk", x, weights[f"{prefix}/0"]) + weights[f"{prefix}/1"]
        np.testing.assert_allclose(part.reshape(3, heads, -1), keras, rtol=1e-5, atol=1e-5)
    heads_out = np.random.default_rng(2).normal(size=(3, heads, hidden // heads)).astype(np.float32)
    keras = np.einsum(
        "thk,hkd->td", heads_out, weights["transformer_layer_0/self_attention/output_dense/0"]
    )
    gpt2 = heads_out.reshape(3, -1) @ state["transformer.h.0.attn.c_proj.weight"]
    np.testing.assert_allclose(gpt2, keras, rtol=1e-5, atol=1e-5)


def test_untied_logits_take_the_reverse_embedding():
    worker = load_worker()
    weights = worker.fake_keras_weights(1, 4, 2, vocab=5, context=3)
    weights["token_embedding/1"] = np.arange(20, dtype=np.float32).reshape(4, 5)  # (D, V)
    state = worker.gpt2_state_dict(weights, num_layers=1)
    np.testing.assert_array_equal(state["lm_head.weight"], weights["token_embedding/1"].T)


def test_keras_weights_are_read_by_layer_name(tmp_path):
    """The h5 groups are class names; the keys use the layers' own names, without `vars`."""
    h5py = pytest.importorskip("h5py")
    worker = load_worker()
    data = io.BytesIO()
    with h5py.File(data, "w") as h5:
        block = h5.create_group("layers/transformer_decoder_block_1")
        block.create_group("vars").attrs["name"] = "transformer_layer_0"
        block.create_dataset("self_attention/query_dense/vars/0", data=np.ones((4, 2, 2)))
        norm = h5.create_group("layers/layer_normalization")
        norm.create_group("vars").attrs["name"] = "final_layer_norm"
        norm.create_dataset("vars/0", data=np.zeros(4))
    checkpoint = tmp_path / "model.keras"
    with zipfile.ZipFile(checkpoint, "w") as archive:
        archive.writestr("model.weights.h5", data.getvalue())
    weights = worker.read_keras_weights(checkpoint)
    assert sorted(weights) == [
        "final_layer_norm/0",
        "transformer_layer_0/self_attention/query_dense/0",
    ]


def test_logits_beyond_the_tolerance_stop_the_worker():
    worker = load_worker()
    reference = {"token_ids": [5, 6], "logits": [0.0, 1.0, 2.0]}
    assert worker.check_logits(np.array([0.0, 1.0, 2.0005]), reference, "e") == pytest.approx(
        5e-4, rel=1e-3
    )
    with pytest.raises(worker.MappingError, match="weight mapping is wrong"):
        worker.check_logits(np.array([0.0, 1.0, 2.1]), reference, "e")


def test_agreement_counts_the_ids_equal_to_hf_eagers():
    worker = load_worker()
    rows = [
        {"engine": worker.HF_EAGER, "tokens": [1, 2, 3, 4]},
        {"engine": worker.LITERT_TORCH, "tokens": [1, 2, 0, 4]},
        {"engine": worker.ORT_GENAI, "skipped": "no"},
    ]
    rows = worker.with_agreement(rows)
    assert [r.get("agreement") for r in rows] == [1.0, 0.75, None]
    assert not any("tokens" in r for r in rows)


def test_a_failed_worker_gives_an_error_row():
    """This venv has no torch: the worker dies on import, and the row says so."""
    pytest.importorskip("h5py")
    job = {"threads": 2, "checkpoint": "none.keras"}
    (row,) = run_worker(sys.executable, job, timeout=60)
    assert row["engine"] == "anchors" and row["threads"] == 2 and row["tokens_per_s"] is None
    assert "torch" in row["skipped"] or "Error" in row["skipped"], row


@pytest.mark.slow
def test_worker_times_every_anchor_at_the_bundles_weights():
    """The real worker on export/shakespeare-small: HF eager matches the ONNX logits, every engine a row."""
    if not ANCHORS_PYTHON.exists():
        pytest.skip("make anchors not run (.venv-anchors/bin/python is missing)")
    if not (SMALL_BUNDLE / "manifest.json").is_file():
        pytest.skip("export/shakespeare-small is not on this machine")
    from keras_lm.runtime.bundle import read_manifest

    manifest = read_manifest(SMALL_BUNDLE)
    rows = anchor_rows(
        SMALL_BUNDLE,
        manifest,
        ANCHORS_PYTHON,
        prompt_length=8,
        new_tokens=8,
        threads=(1,),
        repeats=1,
    )
    by_engine = {row["engine"]: row for row in rows}
    assert "anchors" not in by_engine, by_engine.get("anchors")
    assert set(by_engine) == set(load_worker().ENGINES)
    eager = by_engine["hf-transformers eager + KV cache"]
    assert eager["tokens_per_s"] > 0 and eager["max_abs_diff"] <= 1e-3
    for row in rows:
        assert (row["tokens_per_s"] is None) == (row["skipped"] is not None), row


def test_llama_mapping_names_and_shapes_are_transformers():
    worker = load_worker()
    weights = {
        "token_embedding/0": np.zeros((11, 8), "float32"),
        "sequence_output_layernorm/0": np.ones(8, "float32"),
        "transformer_layer_0/self_attention_layernorm/0": np.ones(8, "float32"),
        "transformer_layer_0/feedforward_layernorm/0": np.ones(8, "float32"),
        "transformer_layer_0/self_attention/query_dense/0": np.zeros((8, 4, 2), "float32"),
        "transformer_layer_0/self_attention/key_dense/0": np.zeros((8, 2, 2), "float32"),
        "transformer_layer_0/self_attention/value_dense/0": np.zeros((8, 2, 2), "float32"),
        "transformer_layer_0/self_attention/output_dense/0": np.zeros((4, 2, 8), "float32"),
        "transformer_layer_0/feedforward_gate_dense/0": np.zeros((8, 12), "float32"),
        "transformer_layer_0/feedforward_intermediate_dense/0": np.zeros((8, 12), "float32"),
        "transformer_layer_0/feedforward_output_dense/0": np.zeros((12, 8), "float32"),
    }
    state = worker.llama_state_dict(weights, num_layers=1)
    shapes = {k.removeprefix("model.layers.0."): v.shape for k, v in state.items()}
    assert shapes["self_attn.q_proj.weight"] == (8, 8) and shapes["self_attn.k_proj.weight"] == (
        4,
        8,
    )
    assert shapes["self_attn.o_proj.weight"] == (8, 8) and shapes["mlp.down_proj.weight"] == (8, 12)
    assert shapes["lm_head.weight"] == (11, 8)  # tied: the embedding itself


@pytest.mark.slow
def test_worker_builds_a_llama_twin_whose_logits_are_kerass(tmp_path):
    """llama_lm (GQA, untied, Llama 3.1 RoPE scaling) as transformers' LlamaForCausalLM: same logits."""
    if not ANCHORS_PYTHON.exists():
        pytest.skip("make anchors not run (.venv-anchors/bin/python is missing)")
    import dataclasses

    from keras_lm.models import LlamaLMConfig
    from keras_lm.models.llama_lm.model import build_llama_lm

    config = dataclasses.replace(
        LlamaLMConfig.tiny(),
        num_heads=4,
        num_kv_heads=2,
        tie_embeddings=False,
        rope_max_wavelength=500_000.0,
        rope_frequency_adjustment_factor=8.0,
        rope_low_freq_factor=1.0,
        rope_high_freq_factor=4.0,
        rope_pretraining_sequence_length=8,
    )
    model = build_llama_lm(config)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    model.save(tmp_path / "llama.keras")
    ids = [5, 9, 13, 2, 7, 30]
    logits = np.asarray(model({"token_ids": np.array([ids]), "padding_mask": np.ones((1, 6))}))
    job = {
        "checkpoint": str(tmp_path / "llama.keras"),
        "family": "llama_lm",
        "architecture": config.to_dict(),
        "vocab_size": config.vocab_size,
        "prompt_length": 4,
        "new_tokens": 4,
        "threads": 1,
        "repeats": 1,
        "reference": {"token_ids": ids, "logits": logits[0, -1].tolist()},
        "cache_dir": str(tmp_path / "cache"),
        "engines": ["hf-transformers eager + KV cache"],
    }
    (row,) = run_worker(ANCHORS_PYTHON, job, timeout=600)
    assert row["tokens_per_s"] > 0 and row["max_abs_diff"] <= 1e-4, row
