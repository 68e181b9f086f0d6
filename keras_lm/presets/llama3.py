"""keras-hub's Llama 3 (`Llama3Backbone` + `Llama3Tokenizer`) as a `llama_lm`.

The backbone is Llama's (`llama.py`: the same fields, weights and checks); the tokenizer
is a byte-level BPE (vocabulary.json, merges.txt) with `<|end_of_text|>` as its end
token and `<|begin_of_text|>` as its start, which keras_lm's `byte_bpe` reads as it reads
GPT-2's; prompts begin with the start token, as keras-hub's `Llama3CausalLMPreprocessor`'s do.

Example:
>>> BACKBONE, FAMILY, CAUSAL_LM
('keras_hub>Llama3Backbone', 'llama_lm', 'Llama3CausalLM')
"""

from __future__ import annotations

from keras_lm.presets import llama
from keras_lm.presets.folder import Preset
from keras_lm.presets.gpt2 import load_byte_bpe

BACKBONE = "keras_hub>Llama3Backbone"
TOKENIZER = "keras_hub>Llama3Tokenizer"
CAUSAL_LM = "Llama3CausalLM"
FAMILY = llama.FAMILY
END_TOKEN = "<|end_of_text|>"
START_TOKEN = "<|begin_of_text|>"
__all__ = ["check", "convert", "hub_model", "load_tokenizer", "model_config"]


def model_config(preset: Preset, context: int | None, classes: int | None, labels) -> object:
    """Llama's `llama_lm` config; prompts begin with `<|begin_of_text|>`."""
    return llama.lm_config(llama.preset_fields(preset), context, frame_start=True)


def load_tokenizer(preset: Preset):
    """The preset's byte-level BPE as a TensorFlow-free tokenizer: `<|end_of_text|>` its end,
    `<|begin_of_text|>` its start."""
    return load_byte_bpe(preset, END_TOKEN, START_TOKEN)


def hub_model(preset: Preset, config=None):
    """keras-hub's `Llama3Backbone` from the checked config, with the preset's weights."""
    import keras_hub

    return llama.build_hub(keras_hub.models.Llama3Backbone, preset, llama.preset_fields(preset))


convert = llama.convert


def check(backbone, model, prompts: list[list[int]], config) -> dict:
    """`model`'s logits and greedy tokens against keras-hub's `Llama3CausalLM`."""
    return llama.check_against(CAUSAL_LM, backbone, model, prompts, config)
