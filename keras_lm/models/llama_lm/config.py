"""`LlamaLMConfig`: the llama_lm family's hyperparameters, JSON/YAML round trip (TensorFlow-free).

One config covers the decoders people fine-tune and ship: Llama 2 and 3 (RoPE,
grouped-query attention, RMSNorm, a SiLU-gated MLP, an untied head), Mistral within
its window, and Gemma (a GELU-gated MLP, RMSNorm scaled by `1 + scale`, embeddings
scaled by `sqrt(hidden_dim)`, a tied head, `head_dim` apart from the width).

Example:
>>> from keras_lm.models.llama_lm.config import LlamaLMConfig
>>> config = LlamaLMConfig.tiny()
>>> LlamaLMConfig.from_dict(config.to_dict()) == config, config.kv_heads, config.key_dim
(True, 1, 8)
>>> LlamaLMConfig(num_heads=4, num_kv_heads=3)
Traceback (most recent call last):
...
keras_lm.errors.ConfigError: model.num_heads (4) must be a multiple of model.num_kv_heads (3)
"""

from __future__ import annotations

import dataclasses

from keras_lm.config import FINITE
from keras_lm.config import FRACTION
from keras_lm.config import Config
from keras_lm.config import above
from keras_lm.errors import ConfigError
from keras_lm.models.checks import check_heads
from keras_lm.models.checks import sizes

GATE_ACTIVATIONS = ("silu", "gelu_approximate")  # Llama's SwiGLU, Gemma's GeGLU
ROPE_SCALING = (
    "rope_frequency_adjustment_factor",
    "rope_low_freq_factor",
    "rope_high_freq_factor",
    "rope_pretraining_sequence_length",
)


@dataclasses.dataclass(frozen=True)
class LlamaLMConfig(Config):
    """Args:
    vocab_size: int. Token ids are in `[0, vocab_size)`.
    context: int. Longest sequence (the KV cache's slots; RoPE has no table to outgrow).
    num_layers / num_heads / hidden_dim: int. Depth, query heads, width.
    num_kv_heads: int | None. Key/value heads (grouped-query attention); None: `num_heads`.
    head_dim: int | None. Width of a head; None: `hidden_dim // num_heads`.
    intermediate_dim: int | None. Width of the gated MLP; None: `8 * hidden_dim / 3`
        rounded up to a multiple of 32 (Llama's rule).
    dropout: float. On attention weights and after each residual branch (training only).
    tie_embeddings: bool. Logits from the token embedding's transpose (Gemma, small models).
    layer_norm_epsilon: float. RMSNorm's epsilon.
    activation: "silu" (SwiGLU, Llama) or "gelu_approximate" (GeGLU, Gemma): the gate's.
    rope_max_wavelength: float. RoPE's base (10,000 in Llama 2, 500,000 in Llama 3).
    rope_frequency_adjustment_factor / rope_low_freq_factor / rope_high_freq_factor /
        rope_pretraining_sequence_length: Llama 3.1's frequency scaling; all four or none.
    embedding_scale: bool. Token embeddings times `sqrt(hidden_dim)` (Gemma).
    norm_offset: float. RMSNorm multiplies by `norm_offset + scale` (Gemma: 1.0).
    frame_start: bool. Prompts, and each prompt/response row of fine-tuning, begin with the
        tokenizer's start id, as keras-hub's Llama and Gemma preprocessors begin them
        (`keras_lm.framing.Framing.prompt_head`).
    """

    RANGES = {
        **sizes("vocab_size", "context", "num_layers", "num_heads", "num_kv_heads", "hidden_dim"),
        **sizes("head_dim", "intermediate_dim", "rope_pretraining_sequence_length"),
        "dropout": FRACTION,
        "layer_norm_epsilon": above(0),
        "rope_max_wavelength": above(1),
        "rope_frequency_adjustment_factor": above(0),
        "rope_low_freq_factor": above(0),
        "rope_high_freq_factor": above(0),
        "norm_offset": FINITE,  # Gemma's RMSNorm scales by 1 + scale: 1.0
    }

    vocab_size: int = 65
    context: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int | None = None
    hidden_dim: int = 128
    head_dim: int | None = None
    intermediate_dim: int | None = None
    dropout: float = 0.0
    tie_embeddings: bool = True
    layer_norm_epsilon: float = 1e-6
    activation: str = "silu"
    rope_max_wavelength: float = 10_000.0
    rope_frequency_adjustment_factor: float | None = None
    rope_low_freq_factor: float | None = None
    rope_high_freq_factor: float | None = None
    rope_pretraining_sequence_length: int | None = None
    embedding_scale: bool = False
    norm_offset: float = 0.0
    frame_start: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.head_dim is None:
            check_heads(self.hidden_dim, self.num_heads)
        if self.num_heads < 1 or self.kv_heads < 1 or self.num_heads % self.kv_heads:
            raise ConfigError(
                f"model.num_heads ({self.num_heads}) must be a multiple of "
                f"model.num_kv_heads ({self.kv_heads})"
            )
        if self.key_dim % 2:
            raise ConfigError(f"model.head_dim: RoPE needs an even head width, got {self.key_dim}")
        if self.activation not in GATE_ACTIVATIONS:
            raise ConfigError(
                f"model.activation: expected one of {list(GATE_ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        given = [getattr(self, name) is not None for name in ROPE_SCALING]
        if any(given) and not all(given):
            raise ConfigError(f"model: give all of {list(ROPE_SCALING)} or none")

    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_heads

    @property
    def key_dim(self) -> int:
        return self.head_dim or self.hidden_dim // self.num_heads

    @property
    def mlp_dim(self) -> int:
        if self.intermediate_dim:
            return self.intermediate_dim
        return -(-8 * self.hidden_dim // 3 // 32) * 32

    def rope_scaling(self) -> dict | None:
        """Llama 3.1's frequency scaling as `keras_lm.layers.rotary` takes it, or None."""
        if self.rope_frequency_adjustment_factor is None:
            return None
        return {name[len("rope_") :]: getattr(self, name) for name in ROPE_SCALING}

    @classmethod
    def tiny(cls) -> LlamaLMConfig:
        """2 layers, 16 wide, 2 query heads sharing 1 key/value head, vocabulary 40, context 16."""
        return cls(
            vocab_size=40,
            context=16,
            num_layers=2,
            num_heads=2,
            num_kv_heads=1,
            hidden_dim=16,
            intermediate_dim=32,
        )
