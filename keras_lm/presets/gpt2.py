"""keras-hub's GPT-2 (`GPT2Backbone` + `GPT2Tokenizer`) as a keras_lm `transformer_lm`.

GPT-2 is `transformer_lm`'s architecture layer for layer (token and learned position
embeddings, pre-LayerNorm blocks, a final LayerNorm, tied logits; the variable paths are
the same), with GPT-2's tanh GELU (`activation: gelu_approximate`). So an imported GPT-2
trains, generates and exports through the `transformer_lm` family unchanged, and its
runtime-cache graphs are the ones measured in README. `context` may be cut below the
preset's 1024 positions (a smaller KV cache on a phone); the first rows of the position
table are kept.

Example:
>>> config = lm_config({"vocabulary_size": 50257, "num_layers": 12, "num_heads": 12,
...     "hidden_dim": 768, "intermediate_dim": 3072, "dropout": 0.1, "max_sequence_length": 1024}, 256)
>>> config.context, config.activation, config.mlp_dim
(256, 'gelu_approximate', 3072)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_lm.errors import InputError
from keras_lm.models.transformer_lm.config import TransformerLMConfig
from keras_lm.presets import fields as f
from keras_lm.presets.folder import MAX_VOCABULARY_BYTES
from keras_lm.presets.folder import Preset
from keras_lm.presets.folder import read_json

BACKBONE = "keras_hub>GPT2Backbone"
TOKENIZER = "keras_hub>GPT2Tokenizer"
FAMILY = "transformer_lm"
END_TOKEN = "<|endoftext|>"
# The backbone config's fields (others are refused).
FIELDS = {
    **f.TRANSFORMER_SIZES,
    "dropout": f.number(float, 0.0, 0.99, default=0.0),
    "max_sequence_length": f.number(int, 1, 131_072),
}


def checked_config(config: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """The backbone config's fields, each of the right type and range; `InputError` otherwise."""
    found = f.checked_config(config, FIELDS, where, "GPT2Backbone")
    f.check_heads(found, where)
    return found


def model_config(
    preset: Preset, context: int | None, classes: int | None, labels: Callable[[], list[str] | None]
) -> TransformerLMConfig:
    """The `transformer_lm` config of the preset (an LM: `classes` and `labels` are unused)."""
    return lm_config(preset.config, context)


def lm_config(config: dict[str, Any], context: int | None = None) -> TransformerLMConfig:
    """The `transformer_lm` config of a GPT-2 backbone config; `context` None keeps the preset's."""
    fields = checked_config(config)
    longest = fields["max_sequence_length"]
    f.check_context(context, longest)
    return TransformerLMConfig(
        vocab_size=fields["vocabulary_size"],
        context=context or longest,
        num_layers=fields["num_layers"],
        num_heads=fields["num_heads"],
        hidden_dim=fields["hidden_dim"],
        intermediate_dim=fields["intermediate_dim"],
        dropout=fields["dropout"],
        tie_embeddings=True,
        layer_norm_epsilon=1e-5,
        activation="gelu_approximate",
    )


def load_tokenizer(preset: Preset):
    """The preset's byte-level BPE (vocabulary.json, merges.txt) as a TensorFlow-free tokenizer."""
    return load_byte_bpe(preset, END_TOKEN)


def load_byte_bpe(preset: Preset, end_token: str, start_token: str | None = None):
    """A byte-level BPE preset tokenizer (GPT-2's kind: Llama 3's too), `end_token` its special
    (and `start_token`, when given, the start role's)."""
    from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer

    options = preset.tokenizer_config
    if options.get("add_prefix_space", False):
        raise InputError(
            str(preset.path / "tokenizer.json"),
            "add_prefix_space true is not supported",
            field="add_prefix_space",
        )
    vocab_path = preset.asset("vocabulary.json")
    vocabulary = read_json(vocab_path, MAX_VOCABULARY_BYTES)
    if not isinstance(vocabulary, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in vocabulary.items()
    ):
        raise InputError(str(vocab_path), "expected an object of token -> id")
    merges = _merges(preset.asset("merges.txt"))
    try:
        return ByteBPETokenizer.from_vocabulary(vocabulary, merges, end_token, start_token)
    except ValueError as err:
        raise InputError(str(vocab_path), str(err)) from None


def _merges(path: Path) -> list[str]:
    if path.stat().st_size > MAX_VOCABULARY_BYTES:
        raise InputError(str(path), f"larger than {MAX_VOCABULARY_BYTES} bytes")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None
    merges = [line for line in lines if line and not line.startswith("#version")]
    for number, line in enumerate(merges, 1):
        if len(line.split(" ")) != 2:
            raise InputError(str(path), f"merge {number} is {line!r}: expected two tokens")
    return merges


def hub_model(preset: Preset, config: TransformerLMConfig | None = None):
    """keras-hub's `GPT2Backbone` built from the checked config, with the preset's weights."""
    import keras_hub

    backbone = keras_hub.models.GPT2Backbone(**checked_config(preset.config), dtype="float32")
    f.load_weights(backbone.load_weights, preset.weights, "GPT2Backbone")
    return backbone


def convert(backbone, config: TransformerLMConfig):
    """A `transformer_lm` Keras model holding `backbone`'s weights (position table cut to `context`)."""
    from keras_lm.models.transformer_lm.model import build_transformer_lm

    model = build_transformer_lm(config)
    source = {_our_path(v.path): v for v in backbone.weights}
    for variable in model.weights:
        value = source.pop(variable.path).numpy()
        if variable.path == "position_embedding/embeddings":
            value = value[: config.context]
        variable.assign(value)
    if source:
        raise InputError("model.weights.h5", f"weights keras_lm did not place: {sorted(source)}")
    return model


def _our_path(path: str) -> str:
    """keras-hub's variable path -> the transformer_lm model's (only the final norm is renamed)."""
    return "final_layer_norm/" + path.split("/", 1)[1] if path.startswith("layer_norm/") else path


def check(backbone, model, prompts: list[list[int]], config) -> dict:
    """`model`'s logits and greedy tokens against keras-hub's (`ImportConfig` `config`)."""
    from keras_lm.presets.checks import check_causal_lm

    return check_causal_lm(
        lambda feed: backbone.token_embedding(backbone(feed), reverse=True),
        hub_causal_lm(backbone),
        model,
        prompts,
        config.preset,
        config.logits_atol,
        config.check_tokens,
    )


def hub_causal_lm(backbone):
    """keras-hub's own `GPT2CausalLM` over `backbone`, greedy, fed token ids (no preprocessor)."""
    import keras_hub

    causal_lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    causal_lm.compile(sampler="greedy")
    return causal_lm
