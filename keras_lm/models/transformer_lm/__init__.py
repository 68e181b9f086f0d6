"""`transformer_lm`: A decoder-only causal Transformer (GPT) with a tied embedding head.

The folder: `config.py` (hyperparameters), `model.py` (the Keras builder),
`graphs.py` (what a bundle holds), README.md (inputs and outputs of each graph).
"""

from __future__ import annotations

from keras_lm.inference.steppers import CachedLMStepper
from keras_lm.inference.steppers import RuntimeCacheLMStepper
from keras_lm.models.family import Family
from keras_lm.models.transformer_lm.config import TransformerLMConfig

FAMILY = Family(
    name="transformer_lm",
    task="lm",
    config=TransformerLMConfig,
    package="keras_lm.models.transformer_lm",
    stepper=CachedLMStepper,
    runtime_cache_stepper=RuntimeCacheLMStepper,
)

__all__ = ["FAMILY", "TransformerLMConfig"]
