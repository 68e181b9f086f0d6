"""Export trained runs to verified SavedModel, TFLite and ONNX bundles (see export/README.md)."""
