"""Evaluation of trained runs: perplexity, classification scores, BLEU/chrF, confusion plots.

`evaluate_run` (TensorFlow) is imported on first use, so `import keras_lm.evaluation`
and its metrics stay light.

Example:
>>> from keras_lm.evaluation import lm_metrics
>>> lm_metrics(total_nll=3.0, tokens=3, correct=2)["loss"]
1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keras_lm.evaluation.metrics import classification_metrics
from keras_lm.evaluation.metrics import lm_metrics
from keras_lm.evaluation.metrics import roc_auc
from keras_lm.evaluation.metrics import translation_scores
from keras_lm.evaluation.plots import plot_confusion

if TYPE_CHECKING:
    from keras_lm.evaluation.evaluate import evaluate_run

__all__ = [
    "classification_metrics",
    "evaluate_run",
    "lm_metrics",
    "plot_confusion",
    "roc_auc",
    "translation_scores",
]


def __getattr__(name: str):  # `evaluate_run` is imported on first use
    if name == "evaluate_run":
        from keras_lm.evaluation.evaluate import evaluate_run

        return evaluate_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
