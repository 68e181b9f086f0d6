"""Research benchmarks of keras_lm: run from a source checkout, not shipped in the wheel.

Each module measures one thing and has one entry taking a config dataclass; the
`keras-lm bench train|parity|step|quality|tokenizers|generate` commands parse their
options into that config and call it (see README.md beside this file).

Example:
>>> from benchmarks.speed_rounds import TrainSpeedConfig
>>> TrainSpeedConfig(configs=("shakespeare-baby",), steps=20).torch_ref is None
True
"""
