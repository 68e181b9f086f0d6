"""`llama_lm`'s export graphs: prefill and one-token decode over a KV cache, as `transformer_lm`'s.

    prefill(token_ids, padding_mask) -> logits, cache
    decode(token_ids, positions, past_cache) -> logits, cache

The cache is `(B, 2 * num_layers, context, num_kv_heads, head_dim)`, written with the
one-hot blend of `keras_lm.layers.kv_cache` (the SavedModel's graphs, and Keras
in-process decoding's). TFLite and ONNX get `runtime_cache_graphs`: each call returns
its own keys and values per layer `(B, Hkv, T, Dh)` and the runtime keeps the cache
(`keras_lm.inference.steppers.RuntimeCacheLMStepper`). RoPE reads rows of one constant
`(context, Dh)` table of cosines and one of sines, by position.

Example:
>>> from keras_lm.models.llama_lm.config import LlamaLMConfig
>>> from keras_lm.models.llama_lm.model import build_llama_lm
>>> graphs = runtime_cache_graphs(build_llama_lm(LlamaLMConfig.tiny()))
>>> sorted(graphs), [s.name for s in graphs["decode"].input_signature][:3]
(['decode', 'prefill'], ['token_ids', 'positions', 'past_key_0'])
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from keras_lm.layers.kv_cache import slot_writes
from keras_lm.layers.kv_cache import visible_slots
from keras_lm.models.graph_parts import cached_lm_graphs
from keras_lm.models.graph_parts import embedding_lookup_and_head
from keras_lm.models.graph_parts import has_layer
from keras_lm.models.graph_parts import last_real
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import runtime_cache_signatures
from keras_lm.models.llama_lm.fused_block import FusedGatedBlock


class LlamaGraph:
    """The model with a cache: `(ids, positions, padding_mask, cache) -> (logits, cache)`."""

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("token_embedding")
        self.rotary = model.get_layer("rotary_embedding")
        self.blocks = numbered_layers(model, "transformer_layer_")
        self.final_norm = model.get_layer("sequence_output_layernorm")
        self.scale = None
        if has_layer(model, "embedding_scale"):
            self.scale = float(model.get_layer("embedding_scale").scale)
        self.num_layers = len(self.blocks)
        attention = self.blocks[0].self_attention
        self.kv_heads, self.head_dim = attention.num_kv_heads, attention.head_dim
        self.context = int(self.rotary.context)
        self.dtype = self.blocks[0].compute_dtype

    def cache_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, 2 * self.num_layers, self.context, self.kv_heads, self.head_dim)

    def embed(self, token_ids):
        x = self.embedding(token_ids)
        return x if self.scale is None else x * ops.cast(self.scale, x.dtype)

    def __call__(self, token_ids, positions, padding_mask, cache):
        x = self.embed(token_ids)  # (B, T, D)
        cos, sin = self.rotary.lookup(positions)  # (B, T, 1, Dh)
        cache = ops.cast(cache, self.dtype)
        slots = ops.shape(cache)[2]
        writes = slot_writes(positions, padding_mask, slots)
        visible = visible_slots(positions, slots)
        updated = []
        for i, block in enumerate(self.blocks):
            x, key, value = block.step(
                x, cos, sin, cache[:, 2 * i], cache[:, 2 * i + 1], writes, visible
            )
            updated += [key, value]
        logits = self.embedding(self.final_norm(x), reverse=True)
        return ops.cast(logits, "float32"), ops.stack(updated, axis=1)


def runtime_cache_graphs(
    model: keras.Model,
    batch: int | None = None,
    prefill_lengths: tuple[int, ...] | None = None,
    target: str = "onnx",
):
    """The graphs of the runtime-written cache, as `transformer_lm.graphs.runtime_cache_graphs`.

    prefill(token_ids (B, T), lengths (B,)) -> logits (B, V), key_i, value_i (B, Hkv, T, Dh)
    decode(token_ids (B, 1), positions (B, 1), past_key_i, past_value_i (B, Hkv, C, Dh))
        -> logits (B, V), key_i, value_i (B, Hkv, 1, Dh)
    """
    graph = LlamaGraph(model)
    blocks = [FusedGatedBlock(block, target) for block in graph.blocks]
    cos_table, sin_table = graph.rotary.table()  # numpy (C, Dh): constants inside each trace
    gather, head = embedding_lookup_and_head(graph.embedding, target)

    def lookup(token_ids):
        x = gather(token_ids)
        return x if graph.scale is None else x * graph.scale

    def run(token_ids, positions, lengths=None, past=None, prompt_bias=None):
        if past is not None:  # one token: 2-D activations (B, D)
            token_ids = token_ids[:, 0]
        cos = tf.expand_dims(tf.gather(cos_table, positions), 2)  # (B, T, 1, Dh)
        sin = tf.expand_dims(tf.gather(sin_table, positions), 2)
        x = tf.cast(lookup(token_ids), graph.dtype)
        out = {}
        for i, block in enumerate(blocks):
            layer_past = None if past is None else (past[2 * i], past[2 * i + 1], past[-1])
            x, out[f"key_{i}"], out[f"value_{i}"] = block(x, cos, sin, layer_past, prompt_bias)
        if lengths is not None:  # only the last real position's logits
            x = last_real(x, lengths)  # (B, D)
        logits = head(graph.final_norm(x))
        out = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        return {"logits": ops.cast(logits, "float32"), **out}

    heads = (graph.kv_heads, graph.context, graph.head_dim)
    return runtime_cache_signatures(
        run, heads, graph.num_layers, graph.dtype, batch, prefill_lengths
    )


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """What the stepper needs besides the graphs: the context and the cache shape at batch 1."""
    graph = LlamaGraph(model)
    return {"context": graph.context, "cache_shape": list(graph.cache_shape(1))}


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`prefill` and `decode` as `tf.function`s with input signatures; `batch` None is dynamic."""
    return cached_lm_graphs(LlamaGraph(model), batch)
