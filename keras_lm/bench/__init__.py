"""Benchmarks: measured throughput of keras_lm components, as data rows and Markdown tables."""
