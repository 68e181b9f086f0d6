"""`transformer_lm`'s export graphs: prefill and one-token decode over a fixed-size KV cache.

    prefill(token_ids, padding_mask) -> logits, cache
    decode(token_ids, positions, past_cache) -> logits, cache

`token_ids`, `positions` and `padding_mask` are `(B, T)`: the new tokens, their
positions (left-padded prompts start at 0 on their first real token) and which are
real. The cache is `(B, 2 * num_layers, context, num_heads, head_dim)`: layer i's keys
at `2i`, its values at `2i + 1` (5-D: TFLite's calibration kernels slice at most 5-D),
written with a one-hot blend (`keras_lm.layers.kv_cache`) so that every shape is
static and only builtin ops reach the converters. These are the SavedModel's graphs
(and Keras in-process decoding's).

TFLite and ONNX get `runtime_cache_graphs` instead: each call returns only its own
keys and values per layer and the runtime keeps the cache, which is what a runtime
runs fastest (see that function and export/README.md).

Example:
>>> from keras_lm.models.transformer_lm.config import TransformerLMConfig
>>> from keras_lm.models.transformer_lm.model import build_transformer_lm
>>> graphs = export_graphs(build_transformer_lm(TransformerLMConfig.tiny()))
>>> sorted(graphs), [s.name for s in graphs["decode"].input_signature]
(['decode', 'prefill'], ['token_ids', 'positions', 'past_cache'])
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.layers.cached_attention import MASKED
from keras_lm.models.fused_block import FusedBlock
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import run_cached_blocks
from keras_lm.models.graph_parts import spec


class TransformerLMGraph:
    """The model with a cache: `(ids, positions, padding_mask, cache) -> (logits, cache)`.

    Prefill is a call on the prompt with an empty cache, a decode step one with `T = 1`.
    """

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("token_embedding")
        self.position = model.get_layer("position_embedding")
        self.blocks = numbered_layers(model, "transformer_layer_")
        self.final_norm = model.get_layer("final_layer_norm")
        self.num_layers = len(self.blocks)
        attention = self.blocks[0].self_attention
        self.num_heads, self.head_dim = attention.num_heads, attention.key_dim
        self.context = int(self.position.sequence_length)
        self.dtype = self.blocks[0].compute_dtype

    def cache_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, 2 * self.num_layers, self.context, self.num_heads, self.head_dim)

    def __call__(self, token_ids, positions, padding_mask, cache):
        tokens = self.embedding(token_ids)  # (B, T, D)
        x = tokens + self.position(tokens, positions=positions)
        x, cache = run_cached_blocks(
            self.blocks, x, positions, padding_mask, ops.cast(cache, self.dtype)
        )
        logits = self.embedding(self.final_norm(x), reverse=True)  # (B, T, V)
        return ops.cast(logits, "float32"), cache


def runtime_cache_graphs(
    model: keras.Model,
    batch: int | None = None,
    prefill_lengths: tuple[int, ...] | None = None,
    target: str = "onnx",
):
    """The graphs of the runtime-written cache (`keras_lm.inference.steppers.RuntimeCacheLMStepper`).

        prefill(token_ids (B, T), lengths (B,)) -> logits (B, V), key_i, value_i (B, H, T, Dh)
        decode(token_ids (B, 1), positions (B, 1), past_key_i, past_value_i (B, H, C, Dh))
            -> logits (B, V), key_i, value_i (B, H, 1, Dh)

    Prompts are right-padded (a pad only writes slots that decoding overwrites before
    any query sees them), so no padding mask is needed. The graphs return only the new
    keys and values and the runtime writes them into its cache in place: no cache
    crosses back out of the runtime, and no scatter, `DYNAMIC_UPDATE_SLICE` or one-hot
    blend splits the graph around the delegate. `prefill_lengths` gives static-length
    `prefill_<T>` graphs (TFLite); None one `prefill` with a dynamic length (ONNX).
    The blocks run as `keras_lm.models.fused_block.FusedBlock`s for `target`
    ("tflite" or "onnx"): few, large ops, the GELU each converter maps best.
    """
    graph = TransformerLMGraph(model)
    blocks = [FusedBlock(block, target) for block in graph.blocks]
    heads = (graph.num_heads, graph.context, graph.head_dim)
    cache_names = [f"{kind}_{i}" for i in range(graph.num_layers) for kind in ("key", "value")]

    table = graph.embedding.embeddings  # (V, D)
    # ONNX: tf2onnx folds the head's transpose into a second (D, V) constant, so the table
    # would be written twice (154 MB more at GPT-2's size); the lookup reads the (D, V) one.
    one_table = graph.embedding.tie_weights and target == "onnx"

    def lookup(token_ids):
        if not one_table:
            return tf.gather(table, token_ids)
        columns = tf.gather(tf.transpose(table), token_ids, axis=1)  # (D, B) or (D, B, T)
        return tf.transpose(columns, (1, 0) if token_ids.shape.rank == 1 else (1, 2, 0))

    def run(token_ids, positions, lengths=None, past=None, prompt_bias=None):
        """A prefill (`lengths`, `prompt_bias` `(B, 1, T, T)`) or a step (`past`: caches, bias)."""
        # Plain gathers and one matmul head: Keras's take() adds index checks to every lookup.
        if past is not None:  # one token: 2-D activations (B, D) all the way
            token_ids, positions = token_ids[:, 0], positions[:, 0]
        x = lookup(token_ids) + tf.gather(graph.position.position_embeddings, positions)
        x = tf.cast(x, graph.dtype)
        out = {}
        for i, block in enumerate(blocks):
            layer_past = None if past is None else (past[2 * i], past[2 * i + 1], past[-1])
            x, out[f"key_{i}"], out[f"value_{i}"] = block(x, layer_past, prompt_bias)
        if lengths is not None:  # only the last real position's logits
            pick = ops.arange(ops.shape(x)[1])[None, None, :] == (lengths[:, None, None] - 1)
            x = ops.matmul(ops.cast(pick, x.dtype), x)[:, 0]  # (B, D)
        x = graph.final_norm(x)  # (B, D)
        if one_table:
            logits = tf.matmul(x, tf.cast(tf.transpose(table), x.dtype))
        elif graph.embedding.tie_weights:
            logits = tf.matmul(x, tf.cast(table, x.dtype), transpose_b=True)
        else:
            logits = graph.embedding(x, reverse=True)
        out = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        return {"logits": ops.cast(logits, "float32"), **out}

    def prefill(token_ids, lengths):
        # Pads take position `length`, so the positions and the causal mask derive from the
        # `lengths` input: a converter cannot fold them into per-length constant tables.
        positions = tf.minimum(tf.range(tf.shape(token_ids)[1])[None], lengths[:, None])
        seen = positions[:, None, None, :] <= positions[:, None, :, None]  # (B, 1, T, T)
        bias = tf.cast(tf.where(seen, 0.0, MASKED), graph.dtype)
        return run(token_ids, positions, lengths, prompt_bias=bias)

    past_specs = [spec((batch, *heads), f"past_{n}", tf.float32) for n in cache_names]

    @tf.function(
        input_signature=[spec((batch, 1), TOKEN_IDS), spec((batch, 1), "positions"), *past_specs]
    )
    def decode(token_ids, positions, *past):
        slots = tf.range(graph.context)[None, None, None, :]  # (1, 1, 1, C)
        bias = tf.where(slots < positions[:, None, :, None], 0.0, MASKED)  # (B, 1, 1, C)
        past = [tf.cast(p, graph.dtype) for p in (*past, bias)]  # no-op in float32
        return run(token_ids, positions, past=past)

    graphs = {"decode": decode}
    lengths_spec = spec((batch,), "lengths")
    for length in prefill_lengths or (None,):
        name = "prefill" if length is None else f"prefill_{length}"
        graphs[name] = tf.function(
            prefill, input_signature=[spec((batch, length), TOKEN_IDS), lengths_spec]
        )
    return graphs


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """What the stepper needs besides the graphs: the context and the cache shape at batch 1."""
    graph = TransformerLMGraph(model)
    return {"context": graph.context, "cache_shape": list(graph.cache_shape(1))}


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`prefill` and `decode` as `tf.function`s with input signatures; `batch` None is dynamic."""
    graph = TransformerLMGraph(model)
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
