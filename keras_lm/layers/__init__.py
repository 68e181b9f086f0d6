"""Small registered Keras layers the model families need (keras_hub gives the Transformer blocks).

All are serializable (`get_config`, registered under the `keras_lm` package), so
models that use them load with `safe_mode=True`.

Example:
>>> from keras_lm.layers import Seq2SeqAttention
>>> Seq2SeqAttention("additive").get_config()["score"]
'additive'
"""

from keras_lm.layers.attention import Seq2SeqAttention
from keras_lm.layers.masking import BoolMask
from keras_lm.layers.masking import DropMask
from keras_lm.layers.pooling import MaskedPooling

__all__ = ["BoolMask", "DropMask", "MaskedPooling", "Seq2SeqAttention"]
