"""The keras-hub architectures keras_lm imports, by the backbone's registered name.

Each is a module with `BACKBONE`, `TOKENIZER`, `FAMILY` and the functions
`model_config(config, context)`, `load_tokenizer(preset)`, `hub_backbone(preset)`,
`convert(backbone, config)` and `hub_causal_lm(backbone)` (see `keras_lm.presets.gpt2`).

Example:
>>> sorted(ARCHITECTURES)
['keras_hub>GPT2Backbone']
"""

from __future__ import annotations

from types import ModuleType

from keras_lm.errors import InputError
from keras_lm.presets import gpt2
from keras_lm.presets.folder import Preset

ARCHITECTURES: dict[str, ModuleType] = {module.BACKBONE: module for module in (gpt2,)}


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
