"""TensorFlow-free runtime: run exported bundles with numpy and ONNX Runtime / LiteRT only.

No module in this package may import tensorflow or keras (directly or through other
keras_lm modules): it runs on servers and devices that only have the [runtime] extra.
"""
