"""`Family`: everything keras_lm knows about one model family, in one record.

Each family is a folder `keras_lm/models/<name>/` (see its README.md) whose
`__init__.py` defines `FAMILY = Family(...)`; `keras_lm.models.registry` collects
them. Training, generation, evaluation, export, the runtime and the benchmarks ask
the record (its task, config class, stepper, builder and graphs) and never name a
family themselves.

The record is TensorFlow-free: its Keras half (`<folder>/model.py` and
`<folder>/graphs.py`) is imported when first asked for, so that the runtime can read
the registry on a machine that only has the [runtime] extra.

Example:
>>> from keras_lm.models.registry import get_family
>>> family = get_family("lstm_lm")
>>> family.task, family.stepper.__name__
('lm', 'RecurrentLMStepper')
>>> family.build(family.config.tiny()).name
'lstm_lm'
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any
from typing import Literal

from keras_lm.config import Config

Task = Literal["lm", "seq2seq", "classify"]


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family.

    name: str. The registry key, the `family` of a run config and the Keras model's name.
    task: "lm", "seq2seq" or "classify": which data pipeline trains it and which of
        `generate`, `translate` and `classify` it answers.
    config: type[Config]. Its hyperparameters (JSON/YAML round trip).
    package: str. The family folder's module (`keras_lm.models.<name>`): `model.build_<name>`
        makes a fresh Keras model, `graphs.export_graphs` / `graphs.facts` give what it exports.
    stepper: the `keras_lm.inference.steppers` class that decodes with its graphs (None:
        not generative).
    bounded_source: the encoder has a fixed maximum source length (position embeddings):
        longer sources are refused instead of decoded.
    static_encoder_batch: TFLite needs its `encode` graph at batch 1 (the builtin LSTM loop).
    runtime_cache_stepper: the stepper of its `graphs.runtime_cache_graphs` (None: the family
        has no such graphs, and every format gets `export_graphs`). These are the graphs
        TFLite and ONNX get: the runtime keeps the cache and writes each step's keys.
    """

    name: str
    task: Task
    config: type[Config]
    package: str
    stepper: type | None = None
    bounded_source: bool = False
    static_encoder_batch: bool = False
    runtime_cache_stepper: type | None = None

    def _module(self, part: str):
        # The Keras half is imported on first use only: the record itself stays TensorFlow-free.
        return importlib.import_module(f"{self.package}.{part}")

    def build(self, config: Config | dict[str, Any]):
        """A fresh Keras model from a config object or a plain dict (checked strictly)."""
        if not isinstance(config, self.config):
            config = self.config.from_dict(config if isinstance(config, dict) else config.to_dict())
        return getattr(self._module("model"), f"build_{self.name}")(config)

    def export_graphs(self, model, batch: int | None = None, encoder_batch: int | None = None):
        """The named `tf.function`s a bundle holds (see `keras_lm.export.signatures`)."""
        return self._module("graphs").export_graphs(model, batch, encoder_batch)

    def facts(self, model, max_target_length: int | None = None) -> dict:
        """What the stepper needs besides the graphs (context, cache or state shape, lengths)."""
        return self._module("graphs").facts(model, max_target_length)

    def runtime_cache_graphs(
        self,
        model,
        batch: int | None = None,
        prefill_lengths: tuple[int, ...] | None = None,
        target: str = "onnx",
    ):
        """The graphs whose cache the runtime writes, built for `target` ("tflite" or "onnx")."""
        return self._module("graphs").runtime_cache_graphs(model, batch, prefill_lengths, target)

    def make_stepper(self, graphs, facts: dict, contract: str = "graph_cache"):
        """The stepper over `graphs` (Keras in-process, ONNX or LiteRT); None if not generative.

        `contract` is the variant's (`keras_lm.inference.manifest.CONTRACTS`).
        """
        if contract == "runtime_cache":
            if self.runtime_cache_stepper is None:
                raise ValueError(f"family {self.name} has no runtime_cache graphs")
            return self.runtime_cache_stepper.from_facts(graphs, facts)
        return None if self.stepper is None else self.stepper.from_facts(graphs, facts)
