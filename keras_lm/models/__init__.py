"""Model families, each a config dataclass and a `build_<family>(config) -> keras.Model`.

Every model is a Keras functional model with int32 inputs named as in
`keras_lm.features`, dynamic batch and sequence axes, and one float32 output
named `logits`. Only registered layers are used (no `Lambda`), so
`keras.saving.load_model(path, safe_mode=True)` loads them.

Example:
>>> from keras_lm.models import FAMILIES
>>> list(FAMILIES)
['transformer_lm', 'lstm_lm', 'transformer_seq2seq', 'lstm_seq2seq', 'encoder_classifier']
"""

from keras_lm.models.encoder_classifier import EncoderClassifierConfig
from keras_lm.models.encoder_classifier import build_encoder_classifier
from keras_lm.models.losses import SmoothedSparseCrossentropy
from keras_lm.models.lstm_lm import LSTMLMConfig
from keras_lm.models.lstm_lm import build_lstm_lm
from keras_lm.models.lstm_seq2seq import LSTMSeq2SeqConfig
from keras_lm.models.lstm_seq2seq import build_attention_model
from keras_lm.models.lstm_seq2seq import build_lstm_seq2seq
from keras_lm.models.registry import FAMILIES
from keras_lm.models.registry import build_model
from keras_lm.models.registry import config_from_dict
from keras_lm.models.registry import get_family
from keras_lm.models.transformer_lm import TransformerLMConfig
from keras_lm.models.transformer_lm import build_transformer_lm
from keras_lm.models.transformer_seq2seq import TransformerSeq2SeqConfig
from keras_lm.models.transformer_seq2seq import build_transformer_seq2seq

__all__ = [
    "SmoothedSparseCrossentropy",
    "FAMILIES",
    "EncoderClassifierConfig",
    "LSTMLMConfig",
    "LSTMSeq2SeqConfig",
    "TransformerLMConfig",
    "TransformerSeq2SeqConfig",
    "build_attention_model",
    "build_encoder_classifier",
    "build_lstm_lm",
    "build_lstm_seq2seq",
    "build_model",
    "build_transformer_lm",
    "build_transformer_seq2seq",
    "config_from_dict",
    "get_family",
]
