"""TFLite weight-only int8: a float32 `.tflite` with int8 weights, float compute.

Every weight tensor of at least `MIN_WEIGHT_ELEMENTS` values becomes int8, one
symmetric scale per output channel, behind a builtin `DEQUANTIZE`; activations stay
float32. The file is about 3x smaller than float32, with none of the activation
rounding of dynamic-range int8; on `small` it decoded at 0.87x float32's speed, so it
is the variant for size and quality, not speed (README). The quantization is Google's AI Edge
Quantizer (`ai_edge_quantizer`), the LiteRT tool made for it, on the float32 file the
converter wrote; nothing else changes, so the signatures are the float32 file's.

Example:
>>> RECIPE[0]["op_config"]["weight_tensor_config"]["symmetric"]
True
>>> quantize_tflite_weight_only("model.float32.tflite", "model.int8-weight-only.tflite")  # doctest: +SKIP
PosixPath('model.int8-weight-only.tflite')
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from keras_lm.export.errors import ExportError
from keras_lm.io import atomic_write

MIN_WEIGHT_ELEMENTS = 1024  # as the converter's dynamic range: small tensors stay float
RECIPE = [
    {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "min_max_uniform_quantize",
        "op_config": {
            "weight_tensor_config": {
                "num_bits": 8,
                "symmetric": True,  # XNNPACK's int8-weight kernels take no zero point
                "granularity": "CHANNELWISE",
                "dtype": "INT",
            },
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
            "skip_checks": False,
            "min_weight_elements": MIN_WEIGHT_ELEMENTS,
        },
    }
]


def quantize_tflite_weight_only(
    float_path: str | os.PathLike, out_path: str | os.PathLike
) -> Path:
    """`float_path` with int8 weights written to `out_path` (atomically); `ExportError` on failure."""
    float_path, out_path = Path(float_path), Path(out_path)
    try:
        from ai_edge_quantizer import quantizer

        q = quantizer.Quantizer(str(float_path))
        q.load_quantization_recipe(RECIPE)
        with open(os.devnull, "w") as sink:  # it prints a size summary and progress bars
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                result = q.quantize()
        flatbuffer = bytes(result.quantized_model)
    except Exception as err:
        raise ExportError(f"tflite int8 weight-only quantization of {float_path}: {err}") from err
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_path, "wb") as f:
        f.write(flatbuffer)
    return out_path
