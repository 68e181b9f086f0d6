"""keras-hub's Gemma (`GemmaBackbone` + `GemmaTokenizer`) as a `llama_lm`.

Gemma is a Llama-style decoder with `llama_lm`'s Gemma options: embeddings times
`sqrt(hidden_dim)`, RMSNorm by `1 + scale`, a tanh-GELU gate (GeGLU), a head width of
its own, RoPE at wavelength 10,000 and a tied head. Its variables are renamed
(`decoder_block_i/attention/query` -> `transformer_layer_i/self_attention/query`,
`ffw_gating` -> `feedforward_gate_dense`, `ffw_gating_2` -> the up projection,
`ffw_linear` -> the down one) and its attention kernels `(H, D, Dh)` transposed to
`(D, H, Dh)`. keras-hub interleaves the halves of each query and key head after RoPE;
the same permutation of both leaves every attention score unchanged, so it is not
repeated. Gemma 2's soft caps, sliding windows and extra norms are refused.

Example:
>>> config = lm_config({"vocabulary_size": 256000, "num_layers": 18, "num_query_heads": 8,
...     "num_key_value_heads": 1, "hidden_dim": 2048, "intermediate_dim": 32768,
...     "head_dim": 256}, 512)
>>> config.mlp_dim, config.norm_offset, config.embedding_scale, config.activation
(16384, 1.0, True, 'gelu_approximate')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_lm.errors import InputError
from keras_lm.models.llama_lm.config import LlamaLMConfig
from keras_lm.presets import fields as f
from keras_lm.presets import llama
from keras_lm.presets.folder import Preset

BACKBONE = "keras_hub>GemmaBackbone"
TOKENIZER = "keras_hub>GemmaTokenizer"
CAUSAL_LM = "GemmaCausalLM"
FAMILY = llama.FAMILY
FIELDS = {
    "vocabulary_size": f.number(int, 1, 1_000_000),
    "num_layers": f.number(int, 1, 512),
    "num_query_heads": f.number(int, 1, 1024),
    "num_key_value_heads": f.number(int, 1, 1024),
    "hidden_dim": f.number(int, 2, 65_536),
    "intermediate_dim": f.number(int, 2, 524_288),
    "head_dim": f.number(int, 2, 4096),
    "layer_norm_epsilon": f.number(float, 0.0, 1.0, default=1e-6),
    "dropout": f.number(float, 0.0, 0.99, default=0.0),
    "query_head_dim_normalize": f.choice(True, default=True),
    "use_post_ffw_norm": f.choice(False, default=False),
    "use_post_attention_norm": f.choice(False, default=False),
    "final_logit_soft_cap": f.choice(None, default=None),
    "attention_logit_soft_cap": f.choice(None, default=None),
    "use_sliding_window_attention": f.choice(False, default=False),
    "sliding_window_size": f.number(int, 1, 10_000_000, default=4096),
}
RENAMES = {
    "pre_attention_norm": "self_attention_layernorm",
    "attention": "self_attention",
    "pre_ffw_norm": "feedforward_layernorm",
    "ffw_gating": "feedforward_gate_dense",
    "ffw_gating_2": "feedforward_intermediate_dense",
    "ffw_linear": "feedforward_output_dense",
}


def checked_config(config: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """The backbone config's fields (Gemma 1's; Gemma 2's options refused); `InputError` otherwise."""
    found = f.checked_config(config, FIELDS, where, "GemmaBackbone (Gemma 1)")
    if found["num_query_heads"] % found["num_key_value_heads"]:
        raise InputError(
            where,
            "num_query_heads must be a multiple of num_key_value_heads",
            field="num_key_value_heads",
        )
    if found["intermediate_dim"] % 2:
        raise InputError(where, "expected an even intermediate_dim", field="intermediate_dim")
    return found


def model_config(
    preset: Preset, context: int | None, classes: int | None, labels: Callable[[], list[str] | None]
) -> LlamaLMConfig:
    """The `llama_lm` config of the preset (an LM: `classes` and `labels` are unused)."""
    return lm_config(preset.config, context)


def lm_config(config: dict[str, Any], context: int | None = None) -> LlamaLMConfig:
    """The `llama_lm` config of a Gemma backbone config; `context` None is `DEFAULT_CONTEXT`."""
    fields = checked_config(config)
    f.check_context(context, llama.LONGEST)
    try:
        return LlamaLMConfig(
            vocab_size=fields["vocabulary_size"],
            context=context or llama.DEFAULT_CONTEXT,
            num_layers=fields["num_layers"],
            num_heads=fields["num_query_heads"],
            num_kv_heads=fields["num_key_value_heads"],
            hidden_dim=fields["hidden_dim"],
            head_dim=fields["head_dim"],
            intermediate_dim=fields["intermediate_dim"] // 2,  # keras-hub halves it per branch
            dropout=fields["dropout"],
            tie_embeddings=True,
            layer_norm_epsilon=fields["layer_norm_epsilon"],
            activation="gelu_approximate",
            embedding_scale=True,
            norm_offset=1.0,
            frame_start=True,  # keras-hub's GemmaCausalLMPreprocessor begins with <bos>
        )
    except ValueError as err:  # ConfigError: an odd head width
        raise InputError("config.json", str(err)) from None


def load_tokenizer(preset: Preset):
    """The preset's SentencePiece model (`vocabulary.spm`) as a TensorFlow-free tokenizer."""
    return llama.load_tokenizer(preset)


def hub_model(preset: Preset, config: LlamaLMConfig | None = None):
    """keras-hub's `GemmaBackbone` from the checked config, with the preset's weights."""
    import keras_hub

    return llama.build_hub(keras_hub.models.GemmaBackbone, preset, checked_config(preset.config))


def convert(backbone, config: LlamaLMConfig):
    """A `llama_lm` Keras model holding `backbone`'s weights, renamed and re-laid out."""
    from keras_lm.models.llama_lm.model import build_llama_lm

    return llama.copy_weights(backbone, build_llama_lm(config), _ours)


def _ours(path: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """keras-hub's Gemma variable `path` and value -> the `llama_lm` model's."""
    parts = path.split("/")
    if parts[0] == "final_normalization":
        return "sequence_output_layernorm/" + "/".join(parts[1:]), value
    if parts[0].startswith("decoder_block_"):
        parts[0] = "transformer_layer_" + parts[0][len("decoder_block_") :]
        parts[1] = RENAMES.get(parts[1], parts[1])
        if parts[1] == "self_attention" and parts[2] in ("query", "key", "value"):
            value = np.transpose(value, (1, 0, 2))  # (H, D, Dh) -> (D, H, Dh)
    return "/".join(parts), value


def check(backbone, model, prompts: list[list[int]], config) -> dict:
    """`model`'s logits and greedy tokens against keras-hub's `GemmaCausalLM`."""
    return llama.check_against(CAUSAL_LM, backbone, model, prompts, config)
