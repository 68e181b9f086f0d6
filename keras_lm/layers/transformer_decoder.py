"""The Transformer decoder block we export with a key/value cache, on public Keras APIs only.

`TransformerDecoderBlock` computes what keras_hub's `TransformerDecoder` computes
as keras_lm calls it: causal self-attention (plus a padding mask), optional
cross-attention over an encoder output, a two-layer feed-forward network, each
with a residual connection, dropout on the branch and LayerNorm before
(`normalize_first=True`, GPT-2) or after (False, the original Transformer). Its
variables are created in keras_hub's order and shapes, so
`block.set_weights(keras_hub_block.get_weights())` copies a trained block.

What keras_hub keeps private is public here: the sublayers (`self_attention`,
`self_attention_norm`, `cross_attention`, ... `feedforward_output`) and the two
methods the export graphs need: `step` runs the block over new positions against
a fixed-size cache (see `keras_lm.layers.kv_cache`), and `cross_key_value`
projects an encoder output once into the keys and values every decoding step
attends to.

Example:
>>> import numpy as np
>>> from keras_lm.layers.kv_cache import slot_writes
>>> from keras_lm.layers.kv_cache import visible_slots
>>> from keras_lm.layers.transformer_decoder import TransformerDecoderBlock
>>> block = TransformerDecoderBlock(intermediate_dim=32, num_heads=2, normalize_first=True)
>>> x = np.random.default_rng(0).normal(size=(1, 3, 16)).astype("float32")  # (B, T, D)
>>> full = block(x)  # (B, T, D), causal
>>> positions, real = np.array([[0, 1, 2]], "int32"), np.ones((1, 3), "int32")
>>> cache = np.zeros((1, 4, 2, 8), "float32")  # (B, C, H, Dh): 4 slots
>>> out, key, value = block.step(x, cache, cache, slot_writes(positions, real, 4),
...                              visible_slots(positions, 4))
>>> bool(np.allclose(out, full, atol=1e-5)), tuple(key.shape)
(True, (1, 4, 2, 8))

References:
- [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
"""

from __future__ import annotations

import keras
from keras import ops

from keras_lm.layers.cached_attention import CachedAttention
from keras_lm.layers.cached_attention import clone_initializer
from keras_lm.layers.kv_cache import write_slots


@keras.saving.register_keras_serializable(package="keras_lm")
class TransformerDecoderBlock(keras.layers.Layer):
    """A causal Transformer decoder block, with cross-attention when called with an encoder output.

    Args:
        intermediate_dim: int. Hidden width of the feed-forward network.
        num_heads: int. Attention heads; the head size is the input width over `num_heads`.
        dropout: float. On the attention weights and on each residual branch (training only).
        activation: str or callable. The feed-forward activation.
        layer_norm_epsilon: float. Epsilon of the three (two without cross-attention) LayerNorms.
        kernel_initializer: str or initializer for every kernel.
        bias_initializer: str or initializer for every bias.
        normalize_first: bool. LayerNorm before each sublayer (GPT-2), else after each residual.
        **kwargs: `name`, `dtype`, ... for `keras.layers.Layer`.

    Call arguments:
        decoder_sequence: float `(B, T, D)`.
        encoder_sequence: float `(B, S, De)` or None. The first call decides: a block built
            with an encoder sequence has cross-attention and always needs one.
        decoder_padding_mask: int or bool `(B, T)`, 1/True for real tokens; None: all real.
        encoder_padding_mask: int or bool `(B, S)`; None: all real.
        training: bool. Dropout when True.

    Returns:
        float `(B, T, D)`.

    Example:
    >>> import numpy as np
    >>> from keras_lm.layers.transformer_decoder import TransformerDecoderBlock
    >>> block = TransformerDecoderBlock(intermediate_dim=32, num_heads=2)
    >>> y, encoded = np.ones((2, 3, 16), "float32"), np.ones((2, 5, 16), "float32")
    >>> tuple(block(y, encoded, encoder_padding_mask=np.ones((2, 5), "int32")).shape)
    (2, 3, 16)
    >>> block.cross_attention.name, len(block.get_weights())
    ('cross_attention', 26)
    """

    def __init__(
        self,
        intermediate_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        activation="relu",
        layer_norm_epsilon: float = 1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        normalize_first: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.normalize_first = normalize_first
        self.supports_masking = True
        self.cross_attention = None
        self.cross_attention_norm = None
        self.cross_attention_dropout = None
        self._shapes: dict = {}

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self._shapes = {
            "decoder_sequence_shape": decoder_sequence_shape,
            "encoder_sequence_shape": encoder_sequence_shape,
        }
        hidden_dim = decoder_sequence_shape[-1]
        head_dim = hidden_dim // self.num_heads
        if head_dim == 0:
            raise ValueError(
                f"hidden_dim ({hidden_dim}) must be at least num_heads ({self.num_heads})"
            )
        # keras_hub's TransformerDecoder creates its sublayers, hence variables, in this
        # order and with these names; keep both so `set_weights` copies one to one.
        self.self_attention = self._attention("self_attention", head_dim)
        self.self_attention.build(decoder_sequence_shape, decoder_sequence_shape)
        self.self_attention_norm = self._norm("self_attention_layer_norm", decoder_sequence_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        if encoder_sequence_shape:
            self.cross_attention = self._attention("cross_attention", head_dim)
            self.cross_attention.build(decoder_sequence_shape, encoder_sequence_shape)
            self.cross_attention_norm = self._norm(
                "cross_attention_layer_norm", decoder_sequence_shape
            )
            self.cross_attention_dropout = self._dropout("cross_attention_dropout")
        self.feedforward_intermediate = self._dense(
            self.intermediate_dim, "feedforward_intermediate_dense", self.activation
        )
        self.feedforward_intermediate.build(decoder_sequence_shape)
        self.feedforward_output = self._dense(hidden_dim, "feedforward_output_dense")
        self.feedforward_output.build((*decoder_sequence_shape[:-1], self.intermediate_dim))
        self.feedforward_norm = self._norm("feedforward_layer_norm", decoder_sequence_shape)
        self.feedforward_dropout = self._dropout("feedforward_dropout")
        self.built = True

    def _attention(self, name: str, head_dim: int) -> CachedAttention:
        return CachedAttention(
            num_heads=self.num_heads,
            key_dim=head_dim,
            dropout=self.dropout,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def _norm(self, name: str, shape) -> keras.layers.LayerNormalization:
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        norm.build(shape)
        return norm

    def _dropout(self, name: str) -> keras.layers.Dropout:
        return keras.layers.Dropout(rate=self.dropout, dtype=self.dtype_policy, name=name)

    def _dense(self, units: int, name: str, activation=None) -> keras.layers.Dense:
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        training=None,
    ):
        if (encoder_sequence is not None) != (self.cross_attention is not None):
            built = "with" if self.cross_attention is not None else "without"
            raise ValueError(
                f"TransformerDecoderBlock '{self.name}' was built {built} cross-attention; "
                "call it with an encoder_sequence exactly when it has cross-attention"
            )
        first = self.normalize_first
        x = decoder_sequence  # (B, T, D)
        h = self.self_attention_norm(x) if first else x
        h = self.self_attention(
            h, h, attention_mask=causal_mask(x, decoder_padding_mask), training=training
        )
        x = self.self_attention_dropout(h, training=training) + x
        if not first:
            x = self.self_attention_norm(x)
        if self.cross_attention is not None:
            cross_mask = None
            if encoder_padding_mask is not None:
                cross_mask = ops.expand_dims(ops.cast(encoder_padding_mask, "bool"), 1)  # (B, 1, S)
            h = self.cross_attention_norm(x) if first else x
            h = self.cross_attention(h, encoder_sequence, cross_mask, training=training)
            x = self.cross_attention_dropout(h, training=training) + x
            if not first:
                x = self.cross_attention_norm(x)
        return self._feedforward(x, training=training)

    def _feedforward(self, x, training=None):
        first = self.normalize_first
        h = self.feedforward_norm(x) if first else x
        h = self.feedforward_output(self.feedforward_intermediate(h))  # (B, T, D)
        x = self.feedforward_dropout(h, training=training) + x
        return x if first else self.feedforward_norm(x)

    def step(self, x, cache_key, cache_value, writes, visible, cross=None):
        """The block at inference over new positions `x` `(B, T, D)`, reading and writing a cache.

        Args:
            x: float `(B, T, D)`. The new positions' hidden states.
            cache_key / cache_value: float `(B, C, H, Dh)`. This block's cached keys and values.
            writes: `(B, T, C)` from `kv_cache.slot_writes`: where each new key/value goes.
            visible: bool `(B, T, C)` from `kv_cache.visible_slots`: which slots each query sees.
            cross: `(cross_key, cross_value, cross_mask)` for a block with cross-attention:
                `cross_key_value(encoded)` and a bool `(B, T, S)` (or `(B, 1, S)`) source mask.

        Returns:
            `(x, key, value)`: `(B, T, D)` and the updated caches `(B, C, H, Dh)`.
        """
        first = self.normalize_first
        h = self.self_attention_norm(x) if first else x
        new_key, new_value = self.self_attention.project_key_value(h)  # (B, T, H, Dh) each
        key = write_slots(cache_key, new_key, writes)  # (B, C, H, Dh)
        value = write_slots(cache_value, new_value, writes)  # (B, C, H, Dh)
        x = self.self_attention.attend(h, key, value, visible, training=False) + x
        if not first:
            x = self.self_attention_norm(x)
        if cross is not None:
            cross_key, cross_value, cross_mask = cross
            h = self.cross_attention_norm(x) if first else x
            x = (
                self.cross_attention.attend(h, cross_key, cross_value, cross_mask, training=False)
                + x
            )
            if not first:
                x = self.cross_attention_norm(x)
        return self._feedforward(x, training=False), key, value

    def cross_key_value(self, encoded):
        """Cross-attention keys and values `(B, S, H, Dh)` each, from the encoder output `(B, S, De)`."""
        if self.cross_attention is None:
            raise ValueError(f"TransformerDecoderBlock '{self.name}' has no cross-attention")
        return self.cross_attention.project_key_value(encoded)

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape

    def get_build_config(self) -> dict:
        return dict(self._shapes) if self.built else {}

    def build_from_config(self, config: dict) -> None:
        if config:
            self.build(config["decoder_sequence_shape"], config.get("encoder_sequence_shape"))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "normalize_first": self.normalize_first,
            }
        )
        return config


def causal_mask(decoder_sequence, padding_mask=None):
    """Bool `(B or 1, T, T)`: query t sees keys 0..t that are real tokens.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> from keras_lm.layers.transformer_decoder import causal_mask
    >>> mask = causal_mask(np.zeros((1, 3, 4), "float32"), np.array([[0, 1, 1]], "int32"))
    >>> ops.convert_to_numpy(mask).astype(int).tolist()
    [[[0, 0, 0], [0, 1, 0], [0, 1, 1]]]
    """
    positions = ops.arange(ops.shape(decoder_sequence)[1])  # (T,)
    mask = ops.expand_dims(positions, 1) >= ops.expand_dims(positions, 0)  # (T, T)
    mask = ops.expand_dims(mask, 0)  # (1, T, T)
    if padding_mask is None:
        return mask
    return ops.logical_and(mask, ops.expand_dims(ops.cast(padding_mask, "bool"), 1))  # (B, T, T)
