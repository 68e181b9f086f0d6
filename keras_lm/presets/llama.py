"""keras-hub's Llama (`LlamaBackbone` + `LlamaTokenizer`, Llama 2's SentencePiece) as a `llama_lm`.

`llama_lm` is Llama's architecture layer for layer, and its variables are named as
keras-hub's, so the weights copy by path unchanged (`tie_word_embeddings` gives a tied
head or a separate `(D, V)` one). RoPE has no position table: `context`, the number of
KV-cache slots the exports hold, is `--context` (default `DEFAULT_CONTEXT`, at most
what the preset was trained at when it says, Llama 3.1's `rope_pretraining_sequence_length`).
Llama 3.1's frequency scaling is imported; linear position scaling is refused.
`llama3.py` reuses all of this with Llama 3's byte-level BPE.

Example:
>>> config = lm_config({"vocabulary_size": 32000, "num_layers": 2, "num_query_heads": 8,
...     "num_key_value_heads": 2, "hidden_dim": 64, "intermediate_dim": 128}, 256)
>>> config.context, config.kv_heads, config.key_dim, config.tie_embeddings
(256, 2, 8, False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras_lm.errors import InputError
from keras_lm.models.llama_lm.config import LlamaLMConfig
from keras_lm.presets import fields as f
from keras_lm.presets.folder import MAX_VOCABULARY_BYTES
from keras_lm.presets.folder import Preset

BACKBONE = "keras_hub>LlamaBackbone"
TOKENIZER = "keras_hub>LlamaTokenizer"
CAUSAL_LM = "LlamaCausalLM"
FAMILY = "llama_lm"
DEFAULT_CONTEXT = 1024  # KV-cache slots when --context is not given (RoPE has no table)
LONGEST = 131_072
FIELDS = {
    "vocabulary_size": f.number(int, 1, 1_000_000),
    "num_layers": f.number(int, 1, 512),
    "num_query_heads": f.number(int, 1, 1024),
    "num_key_value_heads": f.number(int, 1, 1024),
    "hidden_dim": f.number(int, 2, 65_536),
    "intermediate_dim": f.number(int, 1, 262_144),
    "rope_max_wavelength": f.number(float, 2, 1e9, default=10_000.0),
    "rope_position_scaling_factor": f.choice(1, 1.0, default=1.0),
    "rope_frequency_adjustment_factor": f.optional(float, 1e-6, 1e6),
    "rope_low_freq_factor": f.optional(float, 1e-6, 1e6),
    "rope_high_freq_factor": f.optional(float, 1e-6, 1e6),
    "rope_pretraining_sequence_length": f.optional(int, 1, 10_000_000),
    "layer_norm_epsilon": f.number(float, 0.0, 1.0, default=1e-6),
    "dropout": f.number(float, 0.0, 0.99, default=0.0),
    "tie_word_embeddings": f.choice(False, True, default=False),
}


def checked_config(config: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """The backbone config's fields, each of the right type and range; `InputError` otherwise."""
    found = f.checked_config(config, FIELDS, where, "LlamaBackbone")
    heads, kv = found["num_query_heads"], found["num_key_value_heads"]
    if found["hidden_dim"] % heads or heads % kv:
        raise InputError(
            where,
            "hidden_dim must be a multiple of num_query_heads, and num_query_heads of "
            "num_key_value_heads",
            field="num_key_value_heads",
        )
    return found


def preset_fields(preset: Preset) -> dict[str, Any]:
    """The checked config, with `tie_word_embeddings` read off the weights when absent.

    keras-hub 0.32's `LlamaBackbone.get_config` leaves that field out, so a tied preset's
    config.json reads as untied: a tied `ReversibleEmbedding` saves one variable, not two.
    """
    fields = checked_config(preset.config)
    if "tie_word_embeddings" not in preset.config:
        import h5py

        try:
            with h5py.File(preset.weights, "r") as weights:
                fields["tie_word_embeddings"] = "layers/reversible_embedding/vars/1" not in weights
        except OSError as err:
            raise InputError(str(preset.weights), f"not an HDF5 weights file: {err}") from None
    return fields


def model_config(
    preset: Preset, context: int | None, classes: int | None, labels: Callable[[], list[str] | None]
) -> LlamaLMConfig:
    """The `llama_lm` config of the preset (an LM: `classes` and `labels` are unused)."""
    return lm_config(preset_fields(preset), context)


def lm_config(
    config: dict[str, Any], context: int | None = None, frame_start: bool = True
) -> LlamaLMConfig:
    """The `llama_lm` config of a Llama backbone config; `context` None is `DEFAULT_CONTEXT`.

    `frame_start`: prompts begin with the start token (`<s>`, Llama 3's `<|begin_of_text|>`),
    as keras-hub's `LlamaCausalLMPreprocessor` and `Llama3CausalLMPreprocessor` begin them.
    """
    fields = checked_config(config)
    f.check_context(context, fields["rope_pretraining_sequence_length"] or LONGEST)
    try:
        return LlamaLMConfig(
            vocab_size=fields["vocabulary_size"],
            context=context or DEFAULT_CONTEXT,
            num_layers=fields["num_layers"],
            num_heads=fields["num_query_heads"],
            num_kv_heads=fields["num_key_value_heads"],
            hidden_dim=fields["hidden_dim"],
            intermediate_dim=fields["intermediate_dim"],
            dropout=fields["dropout"],
            tie_embeddings=fields["tie_word_embeddings"],
            layer_norm_epsilon=fields["layer_norm_epsilon"],
            activation="silu",
            rope_max_wavelength=fields["rope_max_wavelength"],
            rope_frequency_adjustment_factor=fields["rope_frequency_adjustment_factor"],
            rope_low_freq_factor=fields["rope_low_freq_factor"],
            rope_high_freq_factor=fields["rope_high_freq_factor"],
            rope_pretraining_sequence_length=fields["rope_pretraining_sequence_length"],
            frame_start=frame_start,
        )
    except ValueError as err:  # ConfigError: an odd head width, half a RoPE scaling
        raise InputError("config.json", str(err)) from None


def load_tokenizer(preset: Preset):
    """The preset's SentencePiece model (`vocabulary.spm`) as a TensorFlow-free tokenizer."""
    from keras_lm.tokenizers.preset_sentence_piece import from_preset_proto

    return from_preset_proto(preset.asset("vocabulary.spm"), max_bytes=MAX_VOCABULARY_BYTES)


def hub_model(preset: Preset, config: LlamaLMConfig | None = None):
    """keras-hub's backbone built from the checked config, with the preset's weights."""
    import keras_hub

    backbone_class = getattr(keras_hub.models, BACKBONE.split(">")[1])
    return build_hub(backbone_class, preset, preset_fields(preset))


def build_hub(backbone_class, preset: Preset, fields: dict[str, Any]):
    """`backbone_class(**fields)` in float32 with the preset's weights loaded."""
    backbone = backbone_class(**fields, dtype="float32")
    f.load_weights(backbone.load_weights, preset.weights, backbone_class.__name__)
    return backbone


def convert(backbone, config: LlamaLMConfig):
    """A `llama_lm` Keras model holding `backbone`'s weights (the same variable paths)."""
    from keras_lm.models.llama_lm.model import build_llama_lm

    return copy_weights(backbone, build_llama_lm(config), lambda path, value: (path, value))


def copy_weights(backbone, model, rename: Callable[[str, Any], tuple[str, Any]]):
    """Assign each of `backbone`'s weights, renamed `(path, value) -> (ours, value)`, to `model`."""
    source = dict(rename(v.path, v.numpy()) for v in backbone.weights)
    for variable in model.weights:
        if variable.path not in source:
            raise InputError("model.weights.h5", f"no weight for keras_lm's {variable.path}")
        value = source.pop(variable.path)
        if tuple(value.shape) != tuple(variable.shape):
            raise InputError(
                "model.weights.h5",
                f"{variable.path}: shape {tuple(value.shape)}, expected {tuple(variable.shape)}",
            )
        variable.assign(value)
    if source:
        raise InputError("model.weights.h5", f"weights keras_lm did not place: {sorted(source)}")
    return model


def check(backbone, model, prompts: list[list[int]], config) -> dict:
    """`model`'s logits and greedy tokens against keras-hub's (`ImportConfig` `config`)."""
    return check_against(CAUSAL_LM, backbone, model, prompts, config)


def check_against(causal_lm: str, backbone, model, prompts: list[list[int]], config) -> dict:
    """The check of `check`, against keras-hub's task class named `causal_lm`."""
    import keras_hub

    from keras_lm.presets.checks import check_causal_lm

    task = getattr(keras_hub.models, causal_lm)(backbone=backbone, preprocessor=None)
    task.compile(sampler="greedy")
    return check_causal_lm(
        lambda feed: backbone.token_embedding(backbone(feed), reverse=True),
        task,
        model,
        prompts,
        config.preset,
        config.logits_atol,
        config.check_tokens,
    )
