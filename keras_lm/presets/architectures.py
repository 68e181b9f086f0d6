"""The keras-hub architectures keras_lm imports, by the backbone's registered name.

    backbone                tokenizer               keras_lm family     module
    keras_hub>GPT2Backbone  keras_hub>GPT2Tokenizer transformer_lm      gpt2.py
    keras_hub>BertBackbone  keras_hub>BertTokenizer encoder_classifier  bert.py (+ BertTextClassifier head)
    keras_hub>LlamaBackbone keras_hub>LlamaTokenizer llama_lm           llama.py
    keras_hub>Llama3Backbone keras_hub>Llama3Tokenizer llama_lm         llama3.py
    keras_hub>GemmaBackbone keras_hub>GemmaTokenizer llama_lm           gemma.py

Each is a module with `BACKBONE`, `TOKENIZER`, `FAMILY` and the functions
`model_config(preset, context, classes, labels)` (the family's config, its fields read
with `keras_lm.presets.fields`; `labels()` loads the data set's label names when needed), `load_tokenizer(preset)`, `hub_model(preset, config)`
(keras-hub's own model, weights loaded), `convert(hub_model, config)` (ours, weights
copied by variable path) and `check(hub_model, model, prompts, import_config)` (ours
against keras-hub's, `keras_lm.presets.checks`; returns what reference.json keeps).

Example:
>>> sorted(ARCHITECTURES)
['keras_hub>BertBackbone', 'keras_hub>GPT2Backbone', 'keras_hub>GemmaBackbone', 'keras_hub>Llama3Backbone', 'keras_hub>LlamaBackbone']
"""

from __future__ import annotations

from types import ModuleType

from keras_lm.errors import InputError
from keras_lm.presets import bert
from keras_lm.presets import gemma
from keras_lm.presets import gpt2
from keras_lm.presets import llama
from keras_lm.presets import llama3
from keras_lm.presets.folder import Preset

ARCHITECTURES: dict[str, ModuleType] = {
    module.BACKBONE: module for module in (gpt2, bert, llama, llama3, gemma)
}


def architecture_of(preset: Preset) -> ModuleType:
    """The module that imports `preset`; `InputError` listing the supported backbones otherwise."""
    module = ARCHITECTURES.get(preset.backbone)
    if module is None:
        raise InputError(
            str(preset.path / "config.json"),
            f"backbone {preset.backbone!r} is not supported; keras_lm imports "
            + ", ".join(sorted(ARCHITECTURES)),
            field="registered_name",
        )
    if preset.tokenizer != module.TOKENIZER:
        raise InputError(
            str(preset.path / "tokenizer.json"),
            f"expected the {module.TOKENIZER} tokenizer of a {preset.backbone}, got {preset.tokenizer!r}",
            field="registered_name",
        )
    return module
