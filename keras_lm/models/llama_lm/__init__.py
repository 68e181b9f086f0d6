"""`llama_lm`: a Llama-style decoder (RoPE, grouped-query attention, RMSNorm, gated MLP).

The folder: `config.py` (hyperparameters), `model.py` (the Keras builder),
`graphs.py` (what a bundle holds), README.md (inputs and outputs of each graph).
keras-hub's Llama, Llama 3, Mistral and Gemma presets import into it
(`keras_lm/presets/llama.py`, `gemma.py`).
"""

from __future__ import annotations

from keras_lm.inference.steppers import CachedLMStepper
from keras_lm.inference.steppers import RuntimeCacheLMStepper
from keras_lm.models.family import Family
from keras_lm.models.llama_lm.config import LlamaLMConfig

FAMILY = Family(
    name="llama_lm",
    task="lm",
    config=LlamaLMConfig,
    package="keras_lm.models.llama_lm",
    stepper=CachedLMStepper,
    runtime_cache_stepper=RuntimeCacheLMStepper,
)

__all__ = ["FAMILY", "LlamaLMConfig"]
