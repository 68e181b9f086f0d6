"""`bench parity`: torch_ref's weights land in the right Keras variables, and the report reads both curves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from keras_lm.bench.torch_parity import format_parity
from keras_lm.bench.torch_parity import load_torch_weights
from keras_lm.bench.torch_parity import parity_report
from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.models import TransformerLMConfig
from keras_lm.models import build_transformer_lm

V, T, L, H, D = 11, 8, 2, 2, 8
ROOT = Path(__file__).resolve().parents[2]


def _torch_state(rng) -> dict[str, np.ndarray]:
    """A random state dict with the names and shapes of torch_ref's `GPT` (model.py)."""
    shapes = {
        "tok_emb.weight": (V, D),
        "pos_emb.weight": (T, D),
        "ln_f.weight": (D,),
        "ln_f.bias": (D,),
    }
    for i in range(L):
        k = f"blocks.{i}."
        shapes |= {
            k + "ln1.weight": (D,), k + "ln1.bias": (D,), k + "ln2.weight": (D,), k + "ln2.bias": (D,),
            k + "attn.qkv.weight": (3 * D, D), k + "attn.qkv.bias": (3 * D,),
            k + "attn.proj.weight": (D, D), k + "attn.proj.bias": (D,),
            k + "mlp.fc.weight": (4 * D, D), k + "mlp.fc.bias": (4 * D,),
            k + "mlp.out.weight": (D, 4 * D), k + "mlp.out.bias": (D,),
        }  # fmt: skip
    return {name: rng.normal(0, 0.3, shape).astype("float32") for name, shape in shapes.items()}


def _torch_ref_forward(state: dict, ids: np.ndarray) -> np.ndarray:
    """torch_ref's GPT.forward in NumPy: pre-LN blocks, causal attention, exact GELU, tied head."""

    def norm(x, name):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * state[name + ".weight"] + state[name + ".bias"]

    def linear(x, name):
        return x @ state[name + ".weight"].T + state[name + ".bias"]

    erf = np.vectorize(math.erf)
    b, t = ids.shape
    x = state["tok_emb.weight"][ids] + state["pos_emb.weight"][:t]
    causal = np.triu(np.full((t, t), -np.inf), 1)
    for i in range(L):
        k = f"blocks.{i}."
        q, key, v = np.split(linear(norm(x, k + "ln1"), k + "attn.qkv"), 3, axis=-1)
        q, key, v = (a.reshape(b, t, H, D // H).transpose(0, 2, 1, 3) for a in (q, key, v))
        scores = q @ key.transpose(0, 1, 3, 2) / math.sqrt(D // H) + causal
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        y = (weights @ v).transpose(0, 2, 1, 3).reshape(b, t, D)
        x = x + linear(y, k + "attn.proj")
        h = linear(norm(x, k + "ln2"), k + "mlp.fc")
        x = x + linear(0.5 * h * (1 + erf(h / math.sqrt(2))), k + "mlp.out")
    return norm(x, "ln_f") @ state["tok_emb.weight"].T


def test_torch_ref_weights_give_torch_refs_logits():
    rng = np.random.default_rng(0)
    state = _torch_state(rng)
    model = build_transformer_lm(
        TransformerLMConfig(vocab_size=V, context=T, num_layers=L, num_heads=H, hidden_dim=D)
    )
    load_torch_weights(model, state, L, H)
    ids = rng.integers(0, V, (2, T)).astype("int32")
    logits = model.predict_on_batch({TOKEN_IDS: ids, PADDING_MASK: np.ones_like(ids)})
    np.testing.assert_allclose(logits, _torch_ref_forward(state, ids), atol=2e-4)


def test_a_missing_or_misshapen_weight_is_named():
    model = build_transformer_lm(
        TransformerLMConfig(vocab_size=V, context=T, num_layers=L, num_heads=H, hidden_dim=D)
    )
    state = _torch_state(np.random.default_rng(0))
    with pytest.raises(ValueError, match="only in keras.*transformer_layer_1"):
        load_torch_weights(model, state, 1, H)
    state["ln_f.bias"] = np.zeros(D + 1, "float32")
    with pytest.raises(ValueError, match=r"final_layer_norm/beta: torch_ref gives \(9,\)"):
        load_torch_weights(model, state, L, H)


def test_report_shows_both_curves_and_the_difference():
    record = {"losses": np.array([4.0, 3.0, 2.0, 1.5]), "init_loss": 4.2, "final_val_loss": 1.9}
    keras_side = {"losses": [4.0, 3.1, 2.0, 1.6], "init_loss": 4.2, "final_val_loss": 1.95}
    report = parity_report("shakespeare-small", record, keras_side, points=4)
    assert [c["step"] for c in report["curve"]] == [0, 1, 2, 3]
    assert [round(d["keras_minus_torch"], 4) for d in report["mean_difference"]] == [0, 0.1, 0, 0.1]
    text = format_parity(report)
    assert "torch_ref 1.9000, keras_lm 1.9500 (keras - torch +0.0500)" in text
    assert "| 1 | 3.0000 | 3.1000 |" in text


def test_parity_run_against_torch_ref(tmp_path, data_dir):
    python = ROOT / ".venv-torchref/bin/python"
    torch_ref = ROOT.parent / "shared/anchors/torch_ref"
    if not python.is_file() or not torch_ref.is_dir():
        pytest.skip("needs the torch venv (make torchref) and ../shared/anchors/torch_ref")
    from keras_lm.bench.torch_parity import run_keras_side
    from keras_lm.bench.torch_parity import run_torch_side
    from keras_lm.training.presets import load_config

    config = load_config("shakespeare-baby", ["model.dropout=0.0"])
    path = run_torch_side(
        config, 5, 1337, str(python), torch_ref, data_dir / "tinyshakespeare", tmp_path / "t.npz"
    )
    record = dict(np.load(path))
    side = run_keras_side(config, record)  # raises if the initial losses differ
    np.testing.assert_allclose(side["losses"], record["losses"], atol=2e-3)
    assert abs(side["final_val_loss"] - float(record["final_val_loss"])) < 2e-3
