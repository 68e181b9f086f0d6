"""llama_lm beyond the shared harness (test_every_family.py): Gemma's options, RoPE as keras-hub's,
grouped-query caches and the config's checks."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.models import LlamaLMConfig
from keras_lm.models.llama_lm.model import build_llama_lm
from tests.models import harness

# Gemma's shape in miniature: head width apart from D / H, a GELU gate, RMSNorm by 1 + scale,
# embeddings scaled by sqrt(D), one key/value head for 4 query heads, a tied head.
GEMMA_LIKE = dataclasses.replace(
    LlamaLMConfig.tiny(),
    num_heads=4,
    num_kv_heads=1,
    head_dim=6,
    activation="gelu_approximate",
    norm_offset=1.0,
    embedding_scale=True,
    tie_embeddings=True,
)
UNTIED = dataclasses.replace(LlamaLMConfig.tiny(), tie_embeddings=False, num_kv_heads=2)


@pytest.mark.parametrize("config", [GEMMA_LIKE, UNTIED], ids=["gemma_like", "untied_mha"])
def test_variants_decode_with_both_caches_as_the_full_model(config):
    case = harness.Case("llama_lm", config)
    harness.check_graphs_and_stepper(case)
    harness.check_padding_invariance(case)


def test_gemma_options_change_the_model():
    keras.utils.set_random_seed(0)
    model = build_llama_lm(GEMMA_LIKE)
    names = [layer.name for layer in model.layers]
    assert "embedding_scale" in names
    norm = model.get_layer("sequence_output_layernorm")
    assert norm.offset == 1.0 and np.all(keras.ops.convert_to_numpy(norm.scale) == 0.0)
    query = model.get_layer("transformer_layer_0").self_attention.query_dense.kernel
    key = model.get_layer("transformer_layer_0").self_attention.key_dense.kernel
    assert tuple(query.shape) == (16, 4, 6) and tuple(key.shape) == (16, 1, 6)


def test_rope_rotates_as_keras_hubs_rotary_embedding():
    from keras_hub.layers import RotaryEmbedding

    from keras_lm.layers.rotary import RotaryTables
    from keras_lm.layers.rotary import apply_rope

    x = np.random.default_rng(0).normal(size=(2, 7, 3, 8)).astype("float32")  # (B, T, H, Dh)
    cos, sin = RotaryTables(context=16, head_dim=8, max_wavelength=500.0)(x[..., 0, 0])
    ours = keras.ops.convert_to_numpy(apply_rope(x, cos, sin))
    theirs = keras.ops.convert_to_numpy(RotaryEmbedding(max_wavelength=500.0)(x))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert not np.allclose(ours, x)


def test_llama31_frequency_scaling_matches_keras_hub():
    from keras_hub.src.models.llama.llama_rotary_embedding import LlamaRotaryEmbedding

    from keras_lm.layers.rotary import inverse_frequencies

    scaling = {
        "frequency_adjustment_factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "pretraining_sequence_length": 64,
    }
    layer = LlamaRotaryEmbedding(max_wavelength=500_000, **scaling)
    theirs = keras.ops.convert_to_numpy(layer._get_inverse_freq(32))
    ours = inverse_frequencies(32, 500_000, scaling)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert not np.allclose(ours, inverse_frequencies(32, 500_000))


def test_the_cache_holds_key_value_heads_only():
    from keras_lm.models.llama_lm.graphs import facts

    config = LlamaLMConfig.tiny()
    assert facts(build_llama_lm(config)) == {
        "context": 16,
        "cache_shape": [1, 4, 16, config.kv_heads, config.key_dim],
    }


def test_lora_adapts_query_and_value():
    from keras_lm.models.lora import enable_lora

    model = build_llama_lm(LlamaLMConfig.tiny())
    adapted = enable_lora(model, rank=2)
    assert sorted(path.rsplit("/", 1)[-1] for path in adapted) == [
        "query",
        "query",
        "value",
        "value",
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"num_heads": 4, "num_kv_heads": 3}, "multiple of model.num_kv_heads"),
        ({"hidden_dim": 15, "num_heads": 3}, "even head width"),
        ({"activation": "relu"}, "model.activation"),
        ({"rope_low_freq_factor": 1.0}, "give all of"),
    ],
)
def test_bad_configs_are_refused_by_field(values, message):
    with pytest.raises(ConfigError, match=message):
        LlamaLMConfig.from_dict(values)
