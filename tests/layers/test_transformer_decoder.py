"""TransformerDecoderBlock: keras_hub's numbers from its weights, cached steps, old checkpoints, saving."""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest

from keras_lm.layers.cached_attention import CachedAttention
from keras_lm.layers.conversion import has_keras_hub_decoders
from keras_lm.layers.conversion import replace_keras_hub_decoders
from keras_lm.layers.kv_cache import slot_writes
from keras_lm.layers.kv_cache import visible_slots
from keras_lm.layers.transformer_decoder import TransformerDecoderBlock
from keras_lm.models import TransformerLMConfig
from keras_lm.models import TransformerSeq2SeqConfig
from keras_lm.models import build_model

RNG = np.random.default_rng(0)
WIDTH, HEADS, HEAD_DIM = 16, 2, 8
Y = RNG.normal(size=(2, 5, WIDTH)).astype("float32")  # (B, T, D)
ENCODED = RNG.normal(size=(2, 4, WIDTH)).astype("float32")  # (B, S, D)
Y_MASK = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], "int32")  # row 0 left-padded
ENCODED_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], "int32")


def block_kwargs(normalize_first: bool, dropout: float = 0.0) -> dict:
    return dict(
        intermediate_dim=32,
        num_heads=HEADS,
        dropout=dropout,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.3),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.3),
        normalize_first=normalize_first,
    )


def call_args(cross: bool) -> tuple[tuple, dict]:
    if cross:
        masks = {"decoder_padding_mask": Y_MASK, "encoder_padding_mask": ENCODED_MASK}
        return (Y, ENCODED), masks
    return (Y,), {"decoder_padding_mask": Y_MASK}


@pytest.mark.parametrize("dropout", [0.0, 0.1])  # Keras MHA's fused path, and its einsum path
@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("normalize_first", [True, False])
def test_block_matches_keras_hub_decoder_with_its_weights(normalize_first, cross, dropout):
    args, masks = call_args(cross)
    hub = keras_hub.layers.TransformerDecoder(**block_kwargs(normalize_first, dropout))
    expected = np.asarray(hub(*args, **masks))
    ours = TransformerDecoderBlock(**block_kwargs(normalize_first, dropout))
    ours(*args, **masks)
    # Same variables, in the same order, under the same paths below the block's name.
    assert [w.path.split("/", 1)[1] for w in ours.weights] == [
        w.path.split("/", 1)[1] for w in hub.weights
    ]
    ours.set_weights(hub.get_weights())
    np.testing.assert_allclose(np.asarray(ours(*args, **masks)), expected, atol=1e-6)
    assert TransformerDecoderBlock.from_config(ours.get_config()).get_config() == ours.get_config()


def stack(cross: bool, normalize_first: bool = True) -> list[TransformerDecoderBlock]:
    blocks = [TransformerDecoderBlock(**block_kwargs(normalize_first)) for _ in range(2)]
    for block in blocks:
        block(*call_args(cross)[0])
    return blocks


def forward(blocks, encoded=None):
    x = Y
    for block in blocks:
        x = block(x, encoded, decoder_padding_mask=Y_MASK, encoder_padding_mask=ENCODED_MASK)
    return np.asarray(x)  # (B, T, D)


def stepped(blocks, chunks, encoded=None):
    """The stack over `Y` chunk by chunk (a prefill, then one token at a time) with a cache."""
    slots = 6
    positions = np.maximum(np.cumsum(Y_MASK, axis=1) - 1, 0).astype("int32")  # pads: 0, no write
    caches = [(np.zeros((2, slots, HEADS, HEAD_DIM), "float32"),) * 2 for _ in blocks]
    outputs = []
    for start, stop in chunks:
        x, p = Y[:, start:stop], positions[:, start:stop]
        writes, visible = slot_writes(p, Y_MASK[:, start:stop], slots), visible_slots(p, slots)
        for i, block in enumerate(blocks):
            cross = None
            if encoded is not None:
                mask = np.repeat(ENCODED_MASK[:, None, :].astype(bool), stop - start, axis=1)
                cross = (*block.cross_key_value(encoded), mask)  # (B, S, H, Dh) x 2, (B, T, S)
            x, key, value = block.step(x, *caches[i], writes, visible, cross)
            caches[i] = (key, value)
        outputs.append(np.asarray(x))
    return np.concatenate(outputs, axis=1)  # (B, T, D)


@pytest.mark.parametrize("normalize_first", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_cached_steps_equal_the_full_causal_forward(cross, normalize_first):
    blocks = stack(cross, normalize_first)
    encoded = ENCODED if cross else None
    expected = forward(blocks, encoded)
    real = Y_MASK.astype(bool)
    for chunks in ([(0, 3), (3, 4), (4, 5)], [(i, i + 1) for i in range(5)], [(0, 5)]):
        np.testing.assert_allclose(
            stepped(blocks, chunks, encoded)[real], expected[real], atol=1e-5
        )


def legacy_inputs(family: str) -> dict:
    ids = np.array([[0, 0, 5, 6, 7], [3, 4, 5, 6, 7]], "int32")
    if family == "transformer_lm":
        return {"token_ids": ids, "padding_mask": Y_MASK}
    return {
        "encoder_token_ids": ids[:, :4],
        "encoder_padding_mask": ENCODED_MASK,
        "decoder_token_ids": ids[:, ::-1],
        "decoder_padding_mask": np.ones_like(ids),
    }


def as_keras_hub(model: keras.Model) -> keras.Model:
    """`model` itself while the builders use keras_hub's decoder; else its keras_hub twin."""
    if has_keras_hub_decoders(model):
        return model

    def clone(layer):
        if isinstance(layer, TransformerDecoderBlock):
            return keras_hub.layers.TransformerDecoder.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.weights:
            twin.get_layer(layer.name).set_weights(layer.get_weights())
    return twin


def decoder_types(model: keras.Model) -> set[str]:
    return {type(layer).__name__ for layer in model.layers if "_layer_" in layer.name}


@pytest.mark.parametrize(
    "family, config",
    [
        ("transformer_lm", TransformerLMConfig.tiny()),
        ("transformer_seq2seq", TransformerSeq2SeqConfig.tiny()),
    ],
)
def test_old_checkpoint_converts_to_our_blocks(tmp_path, family, config):
    model = as_keras_hub(build_model(family, config))  # what today's checkpoints hold
    assert has_keras_hub_decoders(model)
    path = str(tmp_path / "old.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    converted = replace_keras_hub_decoders(loaded)
    assert not has_keras_hub_decoders(converted)
    assert "TransformerDecoderBlock" in decoder_types(converted)
    assert [layer.name for layer in converted.layers] == [layer.name for layer in loaded.layers]
    inputs = legacy_inputs(family)
    np.testing.assert_allclose(np.asarray(converted(inputs)), np.asarray(model(inputs)), atol=1e-5)
    assert replace_keras_hub_decoders(converted) is converted  # nothing left to replace

    # (d) the converted model saves and reloads safely with the same outputs.
    converted.save(str(tmp_path / "new.keras"))
    reloaded = keras.saving.load_model(str(tmp_path / "new.keras"), safe_mode=True, compile=False)
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)), np.asarray(converted(inputs)))


def test_model_of_our_blocks_round_trips_through_keras_file(tmp_path):
    y = keras.Input((None, WIDTH), name="y")
    encoded = keras.Input((None, WIDTH), name="encoded")
    y_mask = keras.Input((None,), dtype="int32", name="y_mask")
    encoded_mask = keras.Input((None,), dtype="int32", name="encoded_mask")
    x = y
    for i in range(2):
        block = TransformerDecoderBlock(**block_kwargs(i == 0, dropout=0.1), name=f"block_{i}")
        x = block(x, encoded, decoder_padding_mask=y_mask, encoder_padding_mask=encoded_mask)
    model = keras.Model([y, encoded, y_mask, encoded_mask], x)
    inputs = [Y, ENCODED, Y_MASK, ENCODED_MASK]
    model.save(str(tmp_path / "blocks.keras"))
    reloaded = keras.saving.load_model(
        str(tmp_path / "blocks.keras"), safe_mode=True, compile=False
    )
    assert isinstance(reloaded.get_layer("block_1"), TransformerDecoderBlock)
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)), np.asarray(model(inputs)))


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_cached_attention_is_keras_mha_and_masked_keys_get_no_weight(dropout):
    query, value = Y, ENCODED
    mask = np.ones((2, 5, 4), bool)
    mask[:, :, 1] = False  # key 1 hidden from every query
    mha = keras.layers.MultiHeadAttention(HEADS, HEAD_DIM, dropout=dropout)
    expected = np.asarray(mha(query, value, attention_mask=mask))
    ours = CachedAttention(HEADS, HEAD_DIM, dropout=dropout)
    ours(query, value)
    assert [tuple(w.shape) for w in ours.get_weights()] == [
        (16, 2, 8), (2, 8), (16, 2, 8), (2, 8), (16, 2, 8), (2, 8), (2, 8, 16), (16,)
    ]  # fmt: skip
    ours.set_weights(mha.get_weights())
    out = np.asarray(ours(query, value, attention_mask=mask))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    changed = value.copy()
    changed[:, 1] = 100.0  # the masked key/value position
    np.testing.assert_allclose(np.asarray(ours(query, changed, mask)), out, atol=1e-6)
    key, _ = ours.project_key_value(value)  # (B, S, H, Dh)
    one_hot = np.broadcast_to(np.eye(4, dtype="float32")[None, :, None], (2, 4, HEADS, 4))
    weights = np.asarray(
        ours.attention(ours.query_dense(query), key, one_hot, mask)
    )  # (B, T, H, S)
    assert (weights[..., 1] == 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
