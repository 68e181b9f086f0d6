"""LoRA on a keras_lm model, as keras-hub's `Backbone.enable_lora` does it, and the merge for export.

`enable_lora(model, rank)` freezes every weight and gives each attention query and
value projection (the layers keras-hub adapts by default) Keras's own low-rank
adapter (`EinsumDense.enable_lora`): only the adapters train. Keras saves an adapted layer with
`kernel + (alpha / rank) A B` as its kernel, so a saved checkpoint is the merged model
that every export and the runtime run; `lora_state` keeps the adapters apart for a backup.

Example:
>>> from keras_lm.models.registry import build_model
>>> model = build_model("transformer_lm", {"vocab_size": 40, "context": 16, "num_layers": 2,
...                                        "num_heads": 2, "hidden_dim": 16})
>>> adapted = enable_lora(model, rank=2)
>>> len(adapted), [w.path for w in model.trainable_weights][:2]
(4, ['transformer_layer_0/self_attention/query/lora_kernel_a', 'transformer_layer_0/self_attention/query/lora_kernel_b'])
>>> has_lora(model)
True
"""

from __future__ import annotations

import keras

from keras_lm.errors import ConfigError

TARGETS = ("query", "value")  # keras-hub's default LoRA targets: attention query and value


def _layers(model: keras.Model) -> list:
    return [layer for layer in model._flatten_layers(include_self=False) if layer.weights]


def enable_lora(model: keras.Model, rank: int, alpha: float | None = None) -> list[str]:
    """Freeze `model` and adapt its query/value projections; returns the adapted layers' paths."""
    if not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0:
        raise ConfigError(f"finetune.lora_rank: expected an integer > 0, got {rank!r}")
    targets = [layer for layer in _layers(model) if layer.name in TARGETS]
    targets = [layer for layer in targets if hasattr(layer, "enable_lora")]
    if not targets:
        raise ConfigError(f"{model.name} has no query/value projections for LoRA to adapt")
    for layer in model._flatten_layers(include_self=False):
        layer.trainable = False
    for layer in targets:
        layer.trainable = True
        layer.enable_lora(rank, lora_alpha=alpha)
        if getattr(layer, "bias", None) is not None:
            layer.bias.trainable = False  # only the adapters train
    return [layer.path for layer in targets]


def has_lora(model: keras.Model) -> bool:
    """Whether any layer of `model` carries a LoRA adapter."""
    return any(getattr(layer, "lora_enabled", False) for layer in _layers(model))


def lora_state(model: keras.Model) -> dict:
    """Every adapted layer's base kernel and adapters, unmerged, by variable path (numpy).

    Keras saves an adapted layer with the adapters merged into its kernel and loads it back
    with zero adapters, which would stop LoRA training on resume; this is what a backup adds.
    """
    state = {}
    for layer in _layers(model):
        if getattr(layer, "lora_enabled", False):
            for variable in (layer._kernel, layer.lora_kernel_a, layer.lora_kernel_b):
                state[variable.path] = keras.ops.convert_to_numpy(variable)
    return state


def set_lora_state(model: keras.Model, state: dict) -> None:
    """Assign `lora_state` output back; every adapted variable must be present with its shape."""
    variables = {}
    for layer in _layers(model):
        if getattr(layer, "lora_enabled", False):
            for variable in (layer._kernel, layer.lora_kernel_a, layer.lora_kernel_b):
                variables[variable.path] = variable
    if set(variables) != set(state):
        raise ValueError(f"LoRA state holds {sorted(state)}, the model adapts {sorted(variables)}")
    for path, variable in variables.items():
        if tuple(state[path].shape) != tuple(variable.shape):
            raise ValueError(f"{path}: shape {state[path].shape}, expected {tuple(variable.shape)}")
        variable.assign(state[path])
