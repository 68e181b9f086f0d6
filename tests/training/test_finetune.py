"""Fine-tuning from another run (`finetune.from_run`, `keras-lm train --from`): full and LoRA."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_lm.errors import ConfigError  # noqa: E402
from keras_lm.errors import InputError  # noqa: E402
from keras_lm.models.lora import enable_lora  # noqa: E402
from keras_lm.models.lora import lora_state  # noqa: E402
from keras_lm.models.registry import build_model  # noqa: E402
from keras_lm.models.saving import load_checkpoint  # noqa: E402
from keras_lm.training.finetune import ADAPTERS  # noqa: E402
from keras_lm.training.finetune import BACKUP_LORA  # noqa: E402
from keras_lm.training.fit import train  # noqa: E402
from keras_lm.training.presets import load_config  # noqa: E402

STEPS = ["loop.max_steps=4", "loop.steps_per_epoch=2", "loop.eval_steps=1"]


class Capture(keras.callbacks.Callback):
    """What the model holds and trains when `fit` starts."""

    def on_train_begin(self, logs=None):
        self.weights = {v.path: keras.ops.convert_to_numpy(v) for v in self.model.weights}
        self.trainable = [v.path for v in self.model.trainable_weights]
        self.lora = lora_state(self.model)


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True  # after keras_lm's own Backup callback ran for this epoch


def _config(source, *extra):
    # A shipped config of another family: --from replaces its family, model and tokenizer.
    return load_config("tiny-lstm-lm", [*STEPS, f"finetune.from_run={source}", *extra])


def _source_weights(source):
    return {
        v.path: keras.ops.convert_to_numpy(v)
        for v in load_checkpoint(source / "checkpoints" / "best.keras").weights
    }


def test_full_finetuning_starts_from_the_source_weights(tiny_run, tmp_path):
    source = tiny_run("tiny-transformer-lm")
    capture = Capture()
    result = train(_config(source), tmp_path / "ft", verbose=0, callbacks=[capture])
    assert result.steps == 4
    want = _source_weights(source)
    assert set(capture.weights) == set(want)
    for path, value in want.items():
        np.testing.assert_array_equal(capture.weights[path], value, err_msg=path)
    assert len(capture.trainable) == len(want)
    saved = (tmp_path / "ft" / "config.yaml").read_text()
    assert "family: transformer_lm" in saved and "from_run" in saved
    assert (tmp_path / "ft" / "tokenizer" / "tokenizer.json").read_text() == (
        source / "tokenizer" / "tokenizer.json"
    ).read_text()
    assert not (tmp_path / "ft" / ADAPTERS).exists()


@pytest.mark.slow
def test_lora_trains_only_adapters_and_a_resumed_run_keeps_them(tiny_run, tmp_path):
    source = tiny_run("tiny-transformer-lm")
    run = tmp_path / "lora"
    config = _config(source, "finetune.lora_rank=2")
    assert train(config, run, verbose=0, callbacks=[StopAfterFirstEpoch()]).steps == 2
    with np.load(run / "backup" / BACKUP_LORA) as saved:
        backup = {k: saved[k] for k in saved.files}
    assert any("lora_kernel_b" in k and np.abs(v).max() > 0 for k, v in backup.items())
    capture = Capture()
    result = train(config, run, verbose=0, callbacks=[capture])
    assert result.steps == 4
    assert capture.trainable and all("/lora_kernel_" in p for p in capture.trainable)
    assert set(capture.lora) == set(backup)
    for path, value in backup.items():  # Keras would have merged them and zeroed the adapters
        np.testing.assert_allclose(capture.lora[path], value, atol=1e-7, err_msg=path)
    final = {
        v.path: keras.ops.convert_to_numpy(v) for v in load_checkpoint(run / "model.keras").weights
    }
    want = _source_weights(source)
    for path, value in want.items():  # every weight but the adapted kernels is the source's
        if not path.endswith(("query/kernel", "value/kernel")):
            np.testing.assert_array_equal(final[path], value, err_msg=path)
    assert not np.allclose(
        final["transformer_layer_0/self_attention/query/kernel"],
        want["transformer_layer_0/self_attention/query/kernel"],
    )
    with np.load(run / ADAPTERS) as adapters:
        assert sorted(adapters.files) == sorted(k for k in backup if "/lora_kernel_" in k)


TINY_GPT = {"vocab_size": 40, "context": 16, "num_layers": 2, "num_heads": 2, "hidden_dim": 16}
TINY_LLAMA = {**TINY_GPT, "num_kv_heads": 1, "intermediate_dim": 32}


@pytest.mark.parametrize(
    ("family", "config"), [("transformer_lm", TINY_GPT), ("llama_lm", TINY_LLAMA)]
)
def test_merged_lora_gives_the_unmerged_logits(family, config, tmp_path):
    model = build_model(family, config)
    base = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    enable_lora(model, rank=3, alpha=6.0)
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    x = {"token_ids": np.array([[3, 9, 4, 1]], "int32"), "padding_mask": np.ones((1, 4), "int32")}
    unmerged = np.asarray(model(x))
    path = tmp_path / "merged.keras"  # Keras saves the adapted kernels merged; export loads that
    model.save(path)
    merged = load_checkpoint(path)
    assert not any(getattr(layer, "lora_enabled", False) for layer in merged._flatten_layers())
    np.testing.assert_allclose(np.asarray(merged(x)), unmerged, atol=1e-5)
    for variable in merged.weights:  # the adapters did change the model
        variable.assign(base[variable.path])
    assert np.abs(np.asarray(merged(x)) - unmerged).max() > 1e-3


def test_bad_finetune_settings_are_refused(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="lora_rank: expected an integer > 0"):
        load_config("tiny-lstm-lm", ["finetune.from_run=x", "finetune.lora_rank=0"])
    with pytest.raises(ConfigError, match="needs finetune.from_run"):
        load_config("tiny-lstm-lm", ["finetune.lora_rank=4"])
    with pytest.raises(InputError, match="not a run directory"):
        train(_config(tmp_path / "nowhere"), tmp_path / "ft", verbose=0)
    lstm = tiny_run("tiny-lstm-lm")
    with pytest.raises(ConfigError, match="no query/value projections"):
        train(_config(lstm, "finetune.lora_rank=2"), tmp_path / "ft2", verbose=0)
