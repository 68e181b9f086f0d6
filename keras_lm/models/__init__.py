"""Model families, one folder each (`keras_lm/models/<family>/`), and their registry.

Every model is a Keras functional model with int32 inputs named as in
`keras_lm.features`, dynamic batch and sequence axes, and one float32 output
named `logits`. Only registered layers are used (no `Lambda`), so
`keras.saving.load_model(path, safe_mode=True)` loads them. Importing this package
loads neither TensorFlow nor Keras: builders are reached through `build_model` or
the family folder's `model.py`. README.md says how to add a family.

Example:
>>> from keras_lm.models import FAMILIES
>>> list(FAMILIES)
['transformer_lm', 'llama_lm', 'lstm_lm', 'transformer_seq2seq', 'lstm_seq2seq', 'encoder_classifier']
"""

from keras_lm.models.encoder_classifier import EncoderClassifierConfig
from keras_lm.models.family import Family
from keras_lm.models.llama_lm import LlamaLMConfig
from keras_lm.models.lstm_lm import LSTMLMConfig
from keras_lm.models.lstm_seq2seq import LSTMSeq2SeqConfig
from keras_lm.models.registry import FAMILIES
from keras_lm.models.registry import build_model
from keras_lm.models.registry import config_from_dict
from keras_lm.models.registry import family_of
from keras_lm.models.registry import get_family
from keras_lm.models.transformer_lm import TransformerLMConfig
from keras_lm.models.transformer_seq2seq import TransformerSeq2SeqConfig

__all__ = [
    "FAMILIES",
    "EncoderClassifierConfig",
    "Family",
    "LSTMLMConfig",
    "LlamaLMConfig",
    "LSTMSeq2SeqConfig",
    "TransformerLMConfig",
    "TransformerSeq2SeqConfig",
    "build_model",
    "config_from_dict",
    "family_of",
    "get_family",
]
