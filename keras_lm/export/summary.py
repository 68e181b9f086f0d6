"""A bundle's verification record as a Markdown table (for `keras-lm export` and the demo report).

Example:
>>> from keras_lm.inference.manifest import Manifest
>>> from keras_lm.inference.manifest import Variant
>>> variant = Variant("onnx", "float32", "onnx/float32", 2048,
...     {"decoding": {"identical": 20, "examples": 20}})
>>> print(verification_table(Manifest("tiny", "lstm_lm", "lm", variants=(variant,))))
| format | quantization | size KB | verification |
|---|---|---|---|
| onnx | float32 | 2 | 20/20 greedy identical |
"""

from __future__ import annotations

from keras_lm.inference.manifest import Manifest


def verification_table(manifest: Manifest) -> str:
    """One row per variant: size, greedy agreement with Keras and the quality kept."""
    lines = ["| format | quantization | size KB | verification |", "|---|---|---|---|"]
    for v in manifest.variants:
        decoding = v.verification.get("decoding") or {}
        summary = (
            f"{decoding['identical']}/{decoding['examples']} greedy identical" if decoding else ""
        )
        quality = v.verification.get("quality")
        if quality:
            summary += (
                f"{', ' if summary else ''}{quality['metric']} {quality['export']:.4g} "
                f"(Keras {quality['keras']:.4g})"
            )
        lines.append(f"| {v.format} | {v.quantization} | {v.bytes / 1024:.0f} | {summary} |")
    return "\n".join(lines)
