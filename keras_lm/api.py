"""The public API: everything a notebook needs, from one module.

    from keras_lm.api import load_config, train, Generator, evaluate_run, export_run, load_bundle

Each name is imported from its home module the first time it is used, so
`from keras_lm.api import load_bundle` works on a machine that has only the
[runtime] extra (no TensorFlow), while `train` or `Generator` bring in TensorFlow
when they are asked for.

| name | what it does | home |
|---|---|---|
| `load_config` | a shipped config by name, or a YAML file, with overrides | `keras_lm.training.presets` |
| `train` | data, tokenizer, `model.fit`, checkpoints: a run directory | `keras_lm.training.fit` |
| `open_run` | a run directory's config, tokenizer, checkpoints and splits | `keras_lm.runs` |
| `ImportConfig`, `import_preset` | a keras-hub preset as a run directory, checked against keras-hub | `keras_lm.presets.importer` |
| `Generator` | generate / translate / classify with the run's Keras model | `keras_lm.generation.api` |
| `SamplingConfig` | greedy, beam, top-k, top-p settings | `keras_lm.inference.sampling` |
| `evaluate_run` | perplexity, BLEU/chrF or accuracy/F1 on a held-out split | `keras_lm.evaluation.evaluate` |
| `ExportConfig`, `export_run` | SavedModel, TFLite and ONNX, verified against Keras | `keras_lm.export.bundle` |
| `load_bundle`, `Manifest` | run a bundle with ONNX Runtime or LiteRT, TensorFlow-free | `keras_lm.runtime.bundle` |
| `verification_table` | a bundle's verification record as Markdown | `keras_lm.export.summary` |
| `RuntimeBenchConfig`, `bench_bundles` | latency, tokens/s, size and quality kept per engine | `keras_lm.bench.runtime_speed` |
| `format_bench_markdown`, `write_bench_plots` | the benchmark's tables and plots | `keras_lm.bench.runtime_report` |
| `mobile_report`, `format_mobile_markdown` | each `.tflite`: ops, builtin check, arena, XNNPACK timings | `keras_lm.bench.mobile` |
| `FAMILIES`, `get_family` | the model families and what each one is | `keras_lm.models.registry` |
| `build_attention_model` | the LSTM seq2seq's attention weights, for plots | `keras_lm.models.lstm_seq2seq.model` |
| `load_dataset`, `DatasetNotFoundError` | a data set by name (`keras_lm.data` has the rest) | `keras_lm.data`, `keras_lm.errors` |

Example:
>>> from keras_lm.api import SamplingConfig, get_family
>>> get_family("transformer_lm").task, SamplingConfig(strategy="top_p", top_p=0.9).top_p
('lm', 0.9)
>>> from keras_lm import api
>>> api.nothing_here
Traceback (most recent call last):
...
AttributeError: module 'keras_lm.api' has no attribute 'nothing_here'
"""

from __future__ import annotations

import importlib

# name -> its home module (and name there, when it differs); imported on first use (PEP 562), so the
# runtime names need no TensorFlow.
_HOMES = {
    "load_config": "keras_lm.training.presets",
    "train": "keras_lm.training.fit",
    "open_run": "keras_lm.runs",
    "ImportConfig": "keras_lm.presets.importer",
    "import_preset": "keras_lm.presets.importer",
    "Generator": "keras_lm.generation.api",
    "SamplingConfig": "keras_lm.inference.sampling",
    "evaluate_run": "keras_lm.evaluation.evaluate",
    "ExportConfig": "keras_lm.export.bundle",
    "export_run": "keras_lm.export.bundle",
    "load_bundle": "keras_lm.runtime.bundle",
    "Manifest": "keras_lm.inference.manifest",
    "RuntimeBenchConfig": "keras_lm.bench.runtime_speed",
    "bench_bundles": "keras_lm.bench.runtime_speed",
    "verification_table": "keras_lm.export.summary",
    "format_bench_markdown": ("keras_lm.bench.runtime_report", "format_markdown"),
    "write_bench_plots": ("keras_lm.bench.runtime_report", "write_plots"),
    "mobile_report": "keras_lm.bench.mobile",
    "format_mobile_markdown": ("keras_lm.bench.mobile", "format_markdown"),
    "build_attention_model": "keras_lm.models.lstm_seq2seq.model",
    "load_dataset": ("keras_lm.data", "load"),
    "DatasetNotFoundError": "keras_lm.errors",
    "FAMILIES": "keras_lm.models.registry",
    "get_family": "keras_lm.models.registry",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = _HOMES[name]
    module, attribute = home if isinstance(home, tuple) else (home, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
