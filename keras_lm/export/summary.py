"""A bundle's verification record as a Markdown table (for `keras-lm export` and the demo report).

Example:
>>> print(verification_table({"variants": [{"format": "onnx", "quantization": "float32",
...     "bytes": 2048, "verification": {"decoding": {"identical": 20, "examples": 20}}}]}))
| format | quantization | size KB | verification |
|---|---|---|---|
| onnx | float32 | 2 | 20/20 greedy identical |
"""

from __future__ import annotations


def verification_table(manifest: dict) -> str:
    """One row per variant: size, greedy agreement with Keras and the quality kept."""
    lines = ["| format | quantization | size KB | verification |", "|---|---|---|---|"]
    for v in manifest["variants"]:
        decoding = v["verification"].get("decoding") or {}
        summary = (
            f"{decoding['identical']}/{decoding['examples']} greedy identical" if decoding else ""
        )
        quality = v["verification"].get("quality")
        if quality:
            summary += (
                f"{', ' if summary else ''}{quality['metric']} {quality['export']:.4g} "
                f"(Keras {quality['keras']:.4g})"
            )
        lines.append(
            f"| {v['format']} | {v['quantization']} | {v['bytes'] / 1024:.0f} | {summary} |"
        )
    return "\n".join(lines)
