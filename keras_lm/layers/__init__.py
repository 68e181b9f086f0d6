"""Registered Keras layers the model families need, the cached Transformer decoder block among them.

All are serializable (`get_config`, registered under the `keras_lm` package), so
models that use them load with `safe_mode=True`. The blocks a family exports with a
KV cache are ours (`TransformerDecoderBlock`, `CachedAttention`, `kv_cache`; Llama's
`GatedDecoderBlock`, `GroupedQueryAttention`, `RMSNorm`, `RotaryTables`), written
against public Keras ops only; keras_hub still gives the layers we never step with a
cache (`TransformerEncoder`, embeddings).

Example:
>>> from keras_lm.layers import Seq2SeqAttention
>>> Seq2SeqAttention("additive").get_config()["score"]
'additive'
"""

from keras_lm.layers.activations import gelu_approximate
from keras_lm.layers.attention import Seq2SeqAttention
from keras_lm.layers.cached_attention import CachedAttention
from keras_lm.layers.gated_decoder import GatedDecoderBlock
from keras_lm.layers.grouped_attention import GroupedQueryAttention
from keras_lm.layers.masking import BoolMask
from keras_lm.layers.masking import DropMask
from keras_lm.layers.pooling import MaskedPooling
from keras_lm.layers.rms_norm import RMSNorm
from keras_lm.layers.rotary import RotaryTables
from keras_lm.layers.transformer_decoder import TransformerDecoderBlock

__all__ = [
    "BoolMask",
    "CachedAttention",
    "DropMask",
    "GatedDecoderBlock",
    "GroupedQueryAttention",
    "MaskedPooling",
    "RMSNorm",
    "RotaryTables",
    "Seq2SeqAttention",
    "TransformerDecoderBlock",
    "gelu_approximate",
]
