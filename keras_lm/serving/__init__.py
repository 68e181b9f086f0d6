"""`keras-lm serve`: an export bundle behind an HTTP API (TensorFlow-free; the [serve] extra).

`build_app(config, model)` (`keras_lm.serving.app`) makes the ASGI app from a `ServeConfig`
and a loaded bundle; `keras_lm.serving.batcher` decodes every request in flight as one
batch, in a process of its own (`keras_lm.serving.engine`); `schemas`, `limits` and `metrics` hold the request bodies, the caps and the
Prometheus metrics.
"""
