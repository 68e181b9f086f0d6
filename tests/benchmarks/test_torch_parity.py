"""`bench parity`: torch_ref's weights land in the right Keras variables, and the report reads both curves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.torch_parity import format_parity
from benchmarks.torch_parity import format_seeds
from benchmarks.torch_parity import load_torch_weights
from benchmarks.torch_parity import parity_report
from benchmarks.torch_parity import seeds_summary
from keras_lm.cli.argtypes import seed_list
from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.models import TransformerLMConfig
from keras_lm.models.transformer_lm.model import build_transformer_lm

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


def test_seeds_summary_sets_each_seed_beside_the_spread():
    def report(seed, torch_loss, keras_loss):
        return {"seed": seed, "final_val_loss": {"torch_ref": torch_loss, "keras_lm": keras_loss}}

    summary = seeds_summary([report(1337, 1.85, 1.86), report(1, 1.87, 1.86)])
    assert [round(r["keras_minus_torch"], 4) for r in summary["seeds"]] == [0.01, -0.01]
    assert summary["torch_ref"]["min"] == 1.85 and summary["torch_ref"]["max"] == 1.87
    assert summary["keras_minus_torch"]["mean"] == pytest.approx(0.0)
    text = format_seeds(summary)
    assert "| 1 | 1.8700 | 1.8600 | -0.0100 |" in text
    assert "| mean (min to max) | 1.8600 (1.8500 to 1.8700) | 1.8600 (1.8600 to 1.8600)" in text


@pytest.mark.parametrize("text", ["1,,2", "1,1", "x", ""])
def test_seed_list_refuses_what_is_not_distinct_numbers(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="distinct comma-separated"):
        seed_list(text)


@pytest.mark.slow
def test_parity_command_against_torch_ref_two_seeds(tmp_path, data_dir):
    import json

    from keras_lm.cli.main import main

    python = ROOT / ".venv-torchref/bin/python"
    torch_ref = ROOT.parent / "shared/anchors/torch_ref"
    if not python.is_file() or not torch_ref.is_dir():
        pytest.skip("needs the torch venv (make torchref) and ../shared/anchors/torch_ref")
    args = ["bench", "parity", "--config", "shakespeare-baby", "--set", "model.dropout=0.0"]
    args += ["--steps", "5", "--seeds", "1337,1", "--torch-python", str(python)]
    args += ["--torch-ref", str(torch_ref), "--data-dir", str(data_dir), "--out", str(tmp_path)]
    assert main(args) == 0  # run_keras_side raises where a seed's initial losses differ
    result = json.loads((tmp_path / "parity.json").read_text())
    assert [r["seed"] for r in result["runs"]] == [1337, 1]
    for run in result["runs"]:  # without dropout the same computation, seed by seed
        for point in run["curve"]:
            assert point["keras_lm"] == pytest.approx(point["torch_ref"], abs=2e-3)
        final = run["final_val_loss"]
        assert final["keras_lm"] == pytest.approx(final["torch_ref"], abs=2e-3)
    starts = [r["init_loss"]["torch_ref"] for r in result["runs"]]
    assert starts[0] != starts[1]  # another seed, other initial weights
    assert abs(result["summary"]["keras_minus_torch"]["mean"]) < 2e-3
    assert "| mean (min to max) |" in (tmp_path / "parity.md").read_text()
