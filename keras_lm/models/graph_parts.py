"""Pieces the families' export graphs share: finding numbered layers, the cached block stack, LSTM cells.

A family's `graphs.py` builds its prefill/decode/encode/classify `tf.function`s from
a trained model's own layers; these helpers are what more than one family needs.

Example:
>>> import keras
>>> inputs = keras.Input((3,))
>>> x = keras.layers.Dense(2, name="dense_1")(keras.layers.Dense(2, name="dense_0")(inputs))
>>> [layer.name for layer in numbered_layers(keras.Model(inputs, x), "dense_")]
['dense_0', 'dense_1']
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.layers.cached_attention import MASKED
from keras_lm.layers.kv_cache import slot_writes
from keras_lm.layers.kv_cache import visible_slots


def spec(shape, name: str, dtype=tf.int32) -> tf.TensorSpec:
    """A named input of an export graph (int32 unless `dtype` says otherwise)."""
    return tf.TensorSpec(shape, dtype, name=name)


def numbered_layers(model: keras.Model, prefix: str) -> list:
    """Layers named `prefix` + a number (`transformer_layer_0`, ...), in numeric order."""
    found = [
        layer
        for layer in model.layers
        if layer.name.startswith(prefix) and layer.name[len(prefix) :].isdigit()
    ]
    return sorted(found, key=lambda layer: int(layer.name[len(prefix) :]))


def has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def run_cached_blocks(blocks, x, positions, padding_mask, cache, cross=None):
    """Every decoder block over new positions `x` `(B, T, D)` with the fixed-size cache.

    `cache` is `(B, 2L, C, H, Dh)` (layer i's keys at `2i`, values at `2i + 1`); `cross`
    is `(cross_cache (B, 2L, S, H, Dh), cross_mask (B, T, S))` for encoder-decoder blocks.
    Returns `x` and the updated cache.
    """
    slots = ops.shape(cache)[2]
    writes, visible = slot_writes(positions, padding_mask, slots), visible_slots(positions, slots)
    updated = []
    for i, block in enumerate(blocks):
        layer_cross = None
        if cross is not None:
            layer_cross = (cross[0][:, 2 * i], cross[0][:, 2 * i + 1], cross[1])
        x, key, value = block.step(
            x, cache[:, 2 * i], cache[:, 2 * i + 1], writes, visible, layer_cross
        )
        updated += [key, value]  # (B, C, H, Dh) each
    return x, ops.stack(updated, axis=1)  # (B, 2L, C, H, Dh)


def cached_lm_graphs(graph, batch: int | None = None) -> dict:
    """A decoder LM's `prefill` and `decode` over one fixed-size cache, as `tf.function`s.

    `graph` is a family's model-with-a-cache (`transformer_lm`'s, `llama_lm`'s): it has
    `dtype`, `cache_shape(batch)` and `graph(token_ids, positions, padding_mask, cache) ->
    (logits, cache)`. Prompts are left-padded; positions count from each row's first real
    token. `batch` None is dynamic.
    """
    cache_shape = (batch, *graph.cache_shape(1)[1:])

    @tf.function(
        input_signature=[spec((batch, None), TOKEN_IDS), spec((batch, None), PADDING_MASK)]
    )
    def prefill(token_ids, padding_mask):
        positions = tf.maximum(tf.cumsum(padding_mask, axis=1) - 1, 0)
        cache = tf.zeros(tf.concat([tf.shape(token_ids)[:1], cache_shape[1:]], 0), graph.dtype)
        logits, cache = graph(token_ids, positions, padding_mask, cache)
        return {"logits": logits, "cache": tf.cast(cache, tf.float32)}

    @tf.function(
        input_signature=[
            spec((batch, 1), TOKEN_IDS),
            spec((batch, 1), "positions"),
            spec(cache_shape, "past_cache", tf.float32),
        ]
    )
    def decode(token_ids, positions, past_cache):
        logits, cache = graph(token_ids, positions, tf.ones_like(token_ids), past_cache)
        return {"logits": logits, "cache": tf.cast(cache, tf.float32)}

    return {"prefill": prefill, "decode": decode}


def embedding_lookup_and_head(embedding, target: str):
    """`(lookup(ids), head(x))` of a `ReversibleEmbedding` as plain gathers and one matmul.

    Keras's `take()` adds index checks to every lookup. For ONNX a tied table is kept once,
    as `(D, V)` for both (tf2onnx folds the head's transpose into a second constant: 154 MB
    more at GPT-2's size); an untied head is its own `(D, V)` matrix.
    """
    table = embedding.embeddings  # (V, D)
    one_table = embedding.tie_weights and target == "onnx"

    def lookup(token_ids):
        if not one_table:
            return tf.gather(table, token_ids)
        columns = tf.gather(tf.transpose(table), token_ids, axis=1)  # (D, B) or (D, B, T)
        return tf.transpose(columns, (1, 0) if token_ids.shape.rank == 1 else (1, 2, 0))

    def head(x):
        if one_table:
            return tf.matmul(x, tf.cast(tf.transpose(table), x.dtype))
        if embedding.tie_weights:
            return tf.matmul(x, tf.cast(table, x.dtype), transpose_b=True)
        return tf.matmul(x, tf.cast(embedding.reverse_embeddings, x.dtype))

    return lookup, head


def last_real(x, lengths):
    """`(B, D)`: each row's hidden state at its last real position (`lengths - 1`) of `x` `(B, T, D)`.

    A one-hot matmul, not a gather: one op that every converter and delegate takes.
    """
    pick = ops.arange(ops.shape(x)[1])[None, None, :] == (lengths[:, None, None] - 1)
    return ops.matmul(ops.cast(pick, x.dtype), x)[:, 0]


def runtime_cache_signatures(
    run,
    heads: tuple[int, int, int],
    num_layers: int,
    dtype,
    batch=None,
    prefill_lengths=None,
    dynamic_slots: bool = False,
) -> dict:
    """The runtime-written cache's `decode` and `prefill` (or `prefill_<T>`) `tf.function`s.

    `run(token_ids, positions, lengths=None, past=None, prompt_bias=None)` is the family's
    forward pass returning `{"logits", "key_<i>", "value_<i>"}`; this gives it what both
    decoders share: the past caches `past_key_<i>`/`past_value_<i>` of shape `(B, *heads)`
    (`heads` = `(H or Hkv, C, Dh)`), the additive masks (a step sees slots below its
    position; a prompt's pads take position `length`, so positions and the causal mask
    derive from the `lengths` input, which no converter folds into per-length tables),
    and one static-length prefill per `prefill_lengths` (None: one dynamic `prefill`).
    `dynamic_slots`: `decode` takes caches of any number of slots up to `C` (ONNX), so a
    runtime may size a batch's cache to what its requests can reach, and each step reads
    only those slots.
    """
    context = heads[1]
    if dynamic_slots:
        heads = (heads[0], None, heads[2])

    def prefill(token_ids, lengths):
        positions = tf.minimum(tf.range(tf.shape(token_ids)[1])[None], lengths[:, None])
        seen = positions[:, None, None, :] <= positions[:, None, :, None]  # (B, 1, T, T)
        bias = tf.cast(tf.where(seen, 0.0, MASKED), dtype)
        return run(token_ids, positions, lengths, prompt_bias=bias)

    names = [f"{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]
    past_specs = [spec((batch, *heads), f"past_{n}", tf.float32) for n in names]

    @tf.function(
        input_signature=[spec((batch, 1), TOKEN_IDS), spec((batch, 1), "positions"), *past_specs]
    )
    def decode(token_ids, positions, *past):
        slots = tf.shape(past[0])[2] if dynamic_slots else context
        past = [tf.cast(p, dtype) for p in (*past, step_bias(positions, slots))]  # no-op in f32
        return run(token_ids, positions, past=past)

    graphs = {"decode": decode}
    lengths_spec = spec((batch,), "lengths")
    for length in prefill_lengths or (None,):
        name = "prefill" if length is None else f"prefill_{length}"
        graphs[name] = tf.function(
            prefill, input_signature=[spec((batch, length), TOKEN_IDS), lengths_spec]
        )
    return graphs


def step_bias(positions, context):
    """A one-token step's additive mask `(B, 1, 1, C)`: 0 on the slots below its position `(B, 1)`.

    `context` (C) is an int, or a scalar tensor for caches of a dynamic number of slots."""
    slots = tf.range(context)[None, None, None, :]  # (1, 1, 1, C)
    return tf.where(slots < positions[:, None, :, None], 0.0, MASKED)


def source_bias(source_mask):
    """Cross-attention's additive mask `(B, 1, 1, S)` from a source padding mask `(B, S)`."""
    # expand_dims, not `[:, None, None, :]`: TFLite has no builtin new-axis slice of dynamic shapes
    return tf.where(tf.expand_dims(tf.expand_dims(source_mask, 1), 1) > 0, 0.0, MASKED)


def prefill_buckets(context: int, smallest: int = 32, factor: int = 4) -> tuple[int, ...]:
    """Static prompt lengths for runtimes without dynamic shapes: `smallest * factor**k`, then `context`.

    Each length is a TFLite signature, and each signature repeats the per-channel
    quantization scales of every weight: few lengths keep an int8 file small, while a
    prompt pays at most `factor` times its length.

    >>> prefill_buckets(128), prefill_buckets(512), prefill_buckets(100), prefill_buckets(8)
    ((32, 128), (32, 128, 512), (32, 100), (8,))
    """
    lengths, length = [], smallest
    while length < context:
        lengths.append(length)
        length *= factor
    return (*lengths, context)


def lstm_cells_step(cells, x, h, c):
    """One step of stacked LSTM cells; `h`, `c` `(B, L, H)` in and out."""
    hs, cs = [], []
    for i, cell in enumerate(cells):
        x, (h_i, c_i) = cell(x, [h[:, i], c[:, i]], training=False)
        hs.append(h_i)
        cs.append(c_i)
    return x, ops.stack(hs, axis=1), ops.stack(cs, axis=1)


def disable_cudnn(model: keras.Model) -> keras.Model:
    """Set `use_cudnn=False` on every LSTM of `model` (also inside `Bidirectional`); return it.

    Keras 3.15 does not serialize `use_cudnn`: a reloaded checkpoint's LSTMs are back to
    "auto", and tracing them on a GPU machine bakes `CudnnRNNV3` into the exported graphs,
    which no converter or CPU runtime can run. The LSTM families' graphs call this.
    """
    for layer in model.layers:
        for lstm in (
            layer,
            getattr(layer, "forward_layer", None),
            getattr(layer, "backward_layer", None),
        ):
            if isinstance(lstm, keras.layers.LSTM):
                lstm.use_cudnn = False
    return model
