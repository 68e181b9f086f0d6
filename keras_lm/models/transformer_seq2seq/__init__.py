"""`transformer_seq2seq`: A Transformer encoder-decoder.

The folder: `config.py` (hyperparameters), `model.py` (the Keras builder),
`graphs.py` (what a bundle holds), README.md (inputs and outputs of each graph).
"""

from __future__ import annotations

from keras_lm.inference.steppers import CachedSeq2SeqStepper
from keras_lm.inference.steppers import RuntimeCacheSeq2SeqStepper
from keras_lm.models.family import Family
from keras_lm.models.transformer_seq2seq.config import TransformerSeq2SeqConfig

FAMILY = Family(
    name="transformer_seq2seq",
    task="seq2seq",
    config=TransformerSeq2SeqConfig,
    package="keras_lm.models.transformer_seq2seq",
    stepper=CachedSeq2SeqStepper,
    bounded_source=True,
    runtime_cache_stepper=RuntimeCacheSeq2SeqStepper,
)

__all__ = ["FAMILY", "TransformerSeq2SeqConfig"]
