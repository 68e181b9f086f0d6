"""Scores from predictions: language-model loss and perplexity, classification, translation.

Pure numpy (sacrebleu is imported only by `translation_scores`), so the numbers can be
checked, and recomputed from saved predictions, without TensorFlow.

Example:
>>> lm_metrics(total_nll=6.0, tokens=4, correct=3)["loss"]
1.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def lm_metrics(total_nll: float, tokens: int, correct: int) -> dict:
    """Mean negative log-likelihood per token (nats), its perplexity and the argmax accuracy.

    Args:
        total_nll: float. Sum of `-log p(token)` over the real (unpadded) tokens.
        tokens: int. How many tokens were scored.
        correct: int. How many of them the model's argmax predicted.

    Example:
    >>> m = lm_metrics(total_nll=4 * math.log(2), tokens=4, correct=1)
    >>> round(m["loss"], 4), round(m["perplexity"], 4), m["token_accuracy"], m["tokens"]
    (0.6931, 2.0, 0.25, 4)
    """
    tokens = int(tokens)
    if tokens <= 0:
        raise ValueError(f"no tokens were scored (tokens={tokens})")
    if not 0 <= correct <= tokens:
        raise ValueError(f"correct={correct} must lie between 0 and tokens={tokens}")
    loss = float(total_nll) / tokens
    return {
        "loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else math.inf,
        "token_accuracy": int(correct) / tokens,
        "tokens": tokens,
    }


def classification_metrics(y_true: Sequence[int], probs: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, per-class and macro precision/recall/F1, ROC-AUC and the confusion matrix.

    The prediction is the argmax of `probs`. A ratio whose denominator is zero is 0.0.
    ROC-AUC is one-vs-rest per class; the headline `roc_auc` is that of class 1 for two
    classes, else the macro mean over the classes that have both positives and negatives
    (a class lacking either has `roc_auc` None).

    Args:
        y_true: int class indices, shape (N,).
        probs: float scores, shape (N, C), columns in the order of `labels`.
        labels: the C class names.

    Example:
    >>> probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    >>> m = classification_metrics([0, 0, 1, 1], probs, ["neg", "pos"])
    >>> m["accuracy"], m["confusion_matrix"], m["roc_auc"]
    (0.5, [[1, 1], [1, 1]], 0.75)
    >>> m["per_class"]["pos"]["f1"]
    0.5
    """
    y, probs = _check_classification(y_true, probs, labels)
    n_classes = len(labels)
    predicted = probs.argmax(axis=1)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y, predicted), 1)
    per_class = {}
    for k, name in enumerate(labels):
        tp = int(matrix[k, k])
        precision = _ratio(tp, int(matrix[:, k].sum()))
        recall = _ratio(tp, int(matrix[k, :].sum()))
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(matrix[k, :].sum()),
            "roc_auc": roc_auc(y == k, probs[:, k]),
        }
    aucs = [c["roc_auc"] for c in per_class.values() if c["roc_auc"] is not None]
    if n_classes == 2:
        headline_auc = per_class[labels[1]]["roc_auc"]
    else:
        headline_auc = float(np.mean(aucs)) if aucs else None
    return {
        "examples": len(y),
        "labels": list(labels),
        "accuracy": float(np.trace(matrix)) / len(y),
        "macro_precision": _mean(c["precision"] for c in per_class.values()),
        "macro_recall": _mean(c["recall"] for c in per_class.values()),
        "macro_f1": _mean(c["f1"] for c in per_class.values()),
        "roc_auc": headline_auc,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def roc_auc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve of `scores` for the `positive` examples; None without both classes.

    Equals the probability that a random positive scores above a random negative, a tie
    counting one half.

    Example:
    >>> roc_auc([False, True, False, True], [0.1, 0.5, 0.5, 0.9])
    0.875
    >>> roc_auc([True, True], [0.2, 0.3]) is None
    True
    """
    # Mann-Whitney U with average ranks for ties: ~15 lines here instead of a scikit-learn dependency.
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(scores)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus BLEU and chrF (sacrebleu's defaults, one reference each) and their signatures.

    Example:
    >>> s = translation_scores(["the cat sat on the mat"], ["the cat sat on the mat"])
    >>> round(s["bleu"], 6), round(s["chrf"], 6), s["bleu_signature"].split("|")[:3]
    (100.0, 100.0, ['nrefs:1', 'case:mixed', 'eff:no'])
    """
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics import CHRF

    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references; they must pair up"
        )
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    hypotheses, refs = list(hypotheses), [list(references)]
    bleu, chrf = BLEU(), CHRF()
    return {
        "bleu": float(bleu.corpus_score(hypotheses, refs).score),
        "chrf": float(chrf.corpus_score(hypotheses, refs).score),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "examples": len(hypotheses),
    }


def trivial_baselines(
    sources: Sequence[str], references: Sequence[str], train_targets: Sequence[str]
) -> dict:
    """BLEU and chrF of two answers that need no learning: copy the source, and always give
    the most frequent target of the training split. A model is worth what it scores above them.

    Example:
    >>> b = trivial_baselines(["f(x)", "g(y)"], ["f takes x", "g takes y"], ["h takes nothing"] * 2)
    >>> b["most_frequent_target"]["text"], b["copy_source"]["bleu"] < 100
    ('h takes nothing', True)
    """
    if not train_targets:
        raise ValueError("no training targets to take the most frequent one from")
    counts: dict[str, int] = {}
    for target in train_targets:
        counts[target] = counts.get(target, 0) + 1
    frequent = max(counts, key=counts.__getitem__)  # the first one seen among equals
    keep = ("bleu", "chrf")
    copy = translation_scores(sources, references)
    constant = translation_scores([frequent] * len(references), references)
    return {
        "copy_source": {k: copy[k] for k in keep},
        "most_frequent_target": {"text": frequent, **{k: constant[k] for k in keep}},
    }


def _check_classification(
    y_true: Sequence[int], probs: np.ndarray, labels: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise ValueError(f"probs must have shape (N, {len(labels)}), not {probs.shape}")
    if len(y) != len(probs):
        raise ValueError(f"{len(y)} labels but {len(probs)} rows of probabilities")
    if len(y) == 0:
        raise ValueError("no examples to score")
    if y.min() < 0 or y.max() >= len(labels):
        raise ValueError(
            f"class indices must lie in [0, {len(labels)}), found {y.min()}..{y.max()}"
        )
    return y, probs


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of `scores`, tied values sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    first = last - counts + 1
    return ((first + last) / 2.0)[inverse]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else 0.0


def _mean(values) -> float:
    return float(np.mean(list(values)))
