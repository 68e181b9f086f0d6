"""Find a preset: a local folder as given, or a keras-hub handle downloaded through kagglehub.

Handles are keras-hub's built-in names (`gpt2_base_en`) and `kaggle://org/model/keras/variant[/version]`.
Offline, or for another scheme, the error says which folder to download and how to pass it.

Example:
>>> kaggle_handle("gpt2_base_en"), kaggle_handle("hf://openai-community/gpt2")
('keras/gpt2/keras/gpt2_base_en/3', None)
"""

from __future__ import annotations

from pathlib import Path

from keras_lm.errors import InputError

KAGGLE = "kaggle://"


def kaggle_handle(preset: str) -> str | None:
    """The Kaggle handle of a keras-hub built-in preset name or a kaggle:// URL; None otherwise."""
    if preset.startswith(KAGGLE):
        return preset.removeprefix(KAGGLE)
    if "://" in preset or "/" in preset:
        return None
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS  # keras-hub's own name table

    known = BUILTIN_PRESETS.get(preset)
    return None if known is None else known["kaggle_handle"].removeprefix(KAGGLE)


def preset_folder(preset: str) -> Path:
    """A local folder holding `preset`: the folder itself, or a kagglehub download of the handle."""
    path = Path(preset)
    if path.is_dir():
        return path
    if "://" in preset and not preset.startswith(KAGGLE):
        raise InputError(
            preset,
            "only keras-hub presets are imported: load it in keras-hub once "
            "(`keras_hub.models.Backbone.from_preset(...)` with its task) and `save_to_preset(DIR)`, "
            "then import DIR",
        )
    handle = kaggle_handle(preset)
    if handle is None:
        raise InputError(
            preset, "neither a preset folder nor a keras-hub preset name (e.g. gpt2_base_en)"
        )
    try:
        import kagglehub

        return Path(kagglehub.model_download(handle))
    except Exception as err:
        raise InputError(
            preset,
            f"could not download it ({type(err).__name__}); on a machine with network, download "
            f"https://www.kaggle.com/models/{handle} (or run `kagglehub.model_download({handle!r})`) "
            "and pass the downloaded folder instead",
        ) from None
