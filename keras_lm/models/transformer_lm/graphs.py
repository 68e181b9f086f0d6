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

from keras_lm.models.fused_block import FusedBlock
from keras_lm.models.graph_parts import cached_lm_graphs
from keras_lm.models.graph_parts import embedding_lookup_and_head
from keras_lm.models.graph_parts import last_real
from keras_lm.models.graph_parts import numbered_layers
from keras_lm.models.graph_parts import run_cached_blocks
from keras_lm.models.graph_parts import runtime_cache_signatures


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
    ("tflite" or "onnx"): few, large ops, the GELU each converter maps best. ONNX's
    `decode` takes caches of any number of slots up to `C` (`dynamic_slots`): the server
    sizes a batch's cache to what its requests can reach.
    """
    graph = TransformerLMGraph(model)
    blocks = [FusedBlock(block, target) for block in graph.blocks]

    lookup, head = embedding_lookup_and_head(graph.embedding, target)

    def run(token_ids, positions, lengths=None, past=None, prompt_bias=None):
        """A prefill (`lengths`, `prompt_bias` `(B, 1, T, T)`) or a step (`past`: caches, bias)."""
        if past is not None:  # one token: 2-D activations (B, D) all the way
            token_ids, positions = token_ids[:, 0], positions[:, 0]
        x = lookup(token_ids) + tf.gather(graph.position.position_embeddings, positions)
        x = tf.cast(x, graph.dtype)
        out = {}
        for i, block in enumerate(blocks):
            layer_past = None if past is None else (past[2 * i], past[2 * i + 1], past[-1])
            x, out[f"key_{i}"], out[f"value_{i}"] = block(x, layer_past, prompt_bias)
        if lengths is not None:  # only the last real position's logits
            x = last_real(x, lengths)  # (B, D)
        logits = head(graph.final_norm(x))  # (B, V)
        out = {k: tf.cast(v, tf.float32) for k, v in out.items()}
        return {"logits": ops.cast(logits, "float32"), **out}

    heads = (graph.num_heads, graph.context, graph.head_dim)
    return runtime_cache_signatures(
        run,
        heads,
        graph.num_layers,
        graph.dtype,
        batch,
        prefill_lengths,
        dynamic_slots=target == "onnx",
    )


def facts(model: keras.Model, max_target_length: int | None = None) -> dict:
    """What the stepper needs besides the graphs: the context and the cache shape at batch 1."""
    graph = TransformerLMGraph(model)
    return {"context": graph.context, "cache_shape": list(graph.cache_shape(1))}


def export_graphs(model: keras.Model, batch: int | None = None, encoder_batch: int | None = None):
    """`prefill` and `decode` as `tf.function`s with input signatures; `batch` None is dynamic."""
    return cached_lm_graphs(TransformerLMGraph(model), batch)
