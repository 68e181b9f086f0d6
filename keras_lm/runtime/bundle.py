"""Load an export bundle and run it with ONNX Runtime or LiteRT: no TensorFlow, no Keras.

A bundle is untrusted input. Before any graph is opened, the manifest is read and checked
(`Manifest.read`), and every file this variant loads (its model files, the tokenizer's
config and asset) is checked on disk against it (`keras_lm.inference.bundle_files`): listed,
inside the bundle, of its recorded size and sha256. Only those files are opened.

Example:
>>> model = load_bundle("export/shakespeare-baby", backend="onnx")  # doctest: +SKIP
>>> model.generate("ROMEO:", max_new_tokens=40)  # doctest: +SKIP
>>> load_bundle("export/sst2-classifier", backend="tflite", quantization="int8").classify(["a gem"])  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_lm.errors import InputError
from keras_lm.errors import KerasLMError
from keras_lm.framing import Framing
from keras_lm.inference.bundle_files import checked_file
from keras_lm.inference.bundle_files import variant_files
from keras_lm.inference.manifest import TOKENIZER
from keras_lm.inference.manifest import Manifest
from keras_lm.inference.manifest import Variant
from keras_lm.inference.text_model import TextModel
from keras_lm.models.registry import get_family
from keras_lm.runtime.litert_runner import LiteRTGraphs
from keras_lm.runtime.onnx_runner import OnnxGraphs
from keras_lm.tokenizers import Tokenizer
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers.saving import kind_class
from keras_lm.tokenizers.saving import read_config

BACKENDS = ("onnx", "tflite")


def read_manifest(bundle: str | Path) -> Manifest:
    """The bundle's checked manifest; an `InputError` if `bundle` is not one."""
    return Manifest.read(bundle)


def checked_tokenizer(bundle: Path, manifest: Manifest) -> Path:
    """The bundle's tokenizer folder, once its config and its asset are checked against `files`."""
    config = checked_file(bundle, manifest, TOKENIZER)
    asset = kind_class(read_config(config)["kind"]).asset_name
    if asset is not None:
        checked_file(bundle, manifest, f"{Path(TOKENIZER).parent.as_posix()}/{asset}")
    return Path(bundle) / Path(TOKENIZER).parent


def load_bundle_tokenizer(bundle: str | Path, manifest: Manifest) -> Tokenizer:
    """The bundle's tokenizer, loaded from its checked files only."""
    return load_tokenizer(checked_tokenizer(Path(bundle), manifest))


def open_graphs(where: Path, variant: Variant, paths: list[Path], num_threads: int | None):
    """The variant's graphs as a runner (`run(name, **inputs)`), opened from `paths` only.

    `paths` are the variant's files as `variant_files` checked them; `where` names the
    variant in errors.
    """
    if variant.format == "tflite":
        if len(paths) != 1 or paths[0].suffix != ".tflite":
            raise InputError(where, "expected one listed .tflite file for a tflite variant")
        return LiteRTGraphs(paths[0], num_threads=num_threads)
    graphs = {p.stem: p for p in paths if p.suffix == ".onnx"}
    if variant.format != "onnx" or not graphs:
        raise InputError(
            where, f"expected listed .onnx files for an onnx variant, got {variant.key}"
        )
    return OnnxGraphs(graphs, num_threads=num_threads)


class BundleModel(TextModel):
    """A loaded bundle: `generate`, `translate` (as `keras_lm.generation.Generator`) and `classify`."""

    def __init__(
        self,
        bundle: str | Path,
        backend: str = "onnx",
        quantization: str = "float32",
        num_threads: int | None = None,
        runtime: bool = True,
    ):
        bundle = Path(bundle)
        if backend not in BACKENDS:
            raise InputError("backend", f"unknown {backend!r}; expected one of {list(BACKENDS)}")
        self.manifest = manifest = read_manifest(bundle)
        try:
            family = get_family(manifest.family)
        except KerasLMError as err:
            raise InputError(bundle / "manifest.json", f"field family: {err}") from err
        if family.task != manifest.task:
            raise InputError(
                bundle / "manifest.json",
                f"field task: expected {family.task!r} (the task of {family.name}), "
                f"got {manifest.task!r}",
            )
        self.variant = manifest.variant(backend, quantization, bundle)
        paths = variant_files(bundle, manifest, self.variant)  # every check before any open
        tokenizer = load_tokenizer(checked_tokenizer(bundle, manifest))
        self.graphs = stepper = None
        if runtime:
            self.graphs = open_graphs(bundle / self.variant.path, self.variant, paths, num_threads)
            stepper = self._stepper(family, bundle)
        data = manifest.data
        limit = data.get("max_source_length") if family.bounded_source else None
        super().__init__(stepper, tokenizer, family.task, family.name, limit)
        self.labels = manifest.labels
        self.max_length = data.get("max_length")
        self.overflow = data.get("overflow", "truncate")
        model = manifest.train_config.get("model")
        model = model if isinstance(model, dict) else {}
        if family.task == "classify":
            self.framing = Framing.of(model, tokenizer.specials, self.max_length or 64)
        if family.task == "lm":
            self.prompt_head = tuple(Framing.prompt_head(model, tokenizer.specials))

    @property
    def context(self) -> int | None:
        if self.stepper is None:  # opened without its runtime: the manifest says
            return self.manifest.facts.get("context")
        return getattr(self.stepper, "context", None)

    def _stepper(self, family, bundle: Path):
        try:
            return family.make_stepper(self.graphs, self.manifest.facts, self.variant.contract)
        except (ValueError, KeyError, IndexError, TypeError) as err:  # facts the graphs lack
            raise InputError(
                bundle / "manifest.json",
                f"variant {self.variant.key} (contract {self.variant.contract}): {err}",
            ) from err

    def _class_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.graphs.run("classify", token_ids=ids, padding_mask=mask)["probabilities"]


def load_bundle(
    bundle: str | Path,
    backend: str = "onnx",
    quantization: str = "float32",
    num_threads: int | None = None,
    runtime: bool = True,
) -> BundleModel:
    """Open `bundle` with `backend` ("onnx" or "tflite") at `quantization`.

    `runtime` False: its manifest and tokenizer only (checked as ever), no graphs opened and
    no stepper, for a process that only encodes and decodes text (`keras-lm serve`'s, whose
    engine process runs the graphs)."""
    return BundleModel(bundle, backend, quantization, num_threads, runtime)
