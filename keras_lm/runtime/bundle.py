"""Load an export bundle and run it with ONNX Runtime or LiteRT: no TensorFlow, no Keras.

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
from keras_lm.inference.manifest import Manifest
from keras_lm.inference.manifest import Variant
from keras_lm.inference.text_model import TextModel
from keras_lm.io import sha256_file
from keras_lm.models.registry import get_family
from keras_lm.runtime.litert_runner import LiteRTGraphs
from keras_lm.runtime.onnx_runner import OnnxGraphs
from keras_lm.tokenizers import load_tokenizer

BACKENDS = ("onnx", "tflite")


def read_manifest(bundle: str | Path) -> Manifest:
    """The bundle's checked manifest; an `InputError` if `bundle` is not one."""
    return Manifest.read(bundle)


def _check_hashes(manifest: Manifest, bundle: Path, prefix: str) -> None:
    """Every file of the variant must be the one that was verified at export."""
    for rel, entry in manifest.files.items():
        if rel.startswith(prefix) or rel.startswith("tokenizer/"):
            path = bundle / rel
            if not path.is_file():
                raise InputError(path, "missing from the bundle")
            if sha256_file(path) != entry["sha256"]:
                raise InputError(
                    path, "sha256 differs from the manifest: the file changed after export"
                )


def open_graphs(bundle: Path, variant: Variant, num_threads: int | None):
    """The variant's graphs as a runner (`run(name, **inputs)`)."""
    path = bundle / variant.path
    if variant.format == "tflite":
        return LiteRTGraphs(path, num_threads=num_threads)
    return OnnxGraphs({p.stem: p for p in sorted(path.glob("*.onnx"))}, num_threads=num_threads)


class BundleModel(TextModel):
    """A loaded bundle: `generate`, `translate` (as `keras_lm.generation.Generator`) and `classify`."""

    def __init__(
        self,
        bundle: str | Path,
        backend: str = "onnx",
        quantization: str = "float32",
        num_threads: int | None = None,
    ):
        bundle = Path(bundle)
        if backend not in BACKENDS:
            raise InputError("backend", f"unknown {backend!r}; expected one of {list(BACKENDS)}")
        self.manifest = manifest = read_manifest(bundle)
        try:
            family = get_family(manifest.family)
        except KerasLMError as err:
            raise InputError(bundle / "manifest.json", f"field family: {err}") from err
        self.variant = manifest.variant(backend, quantization, bundle)
        _check_hashes(manifest, bundle, self.variant.path)
        self.graphs = open_graphs(bundle, self.variant, num_threads)
        tokenizer = load_tokenizer(bundle / "tokenizer")
        try:
            stepper = family.make_stepper(self.graphs, manifest.facts, self.variant.contract)
        except (ValueError, KeyError, IndexError) as err:  # a contract or facts the graphs lack
            raise InputError(
                bundle / "manifest.json",
                f"variant {self.variant.key} (contract {self.variant.contract}): {err}",
            ) from err
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

    def _class_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.graphs.run("classify", token_ids=ids, padding_mask=mask)["probabilities"]


def load_bundle(
    bundle: str | Path,
    backend: str = "onnx",
    quantization: str = "float32",
    num_threads: int | None = None,
) -> BundleModel:
    """Open `bundle` with `backend` ("onnx" or "tflite") at `quantization`."""
    return BundleModel(bundle, backend, quantization, num_threads)
