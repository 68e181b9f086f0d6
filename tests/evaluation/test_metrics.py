"""The scores themselves, against hand-computed cases and brute-force definitions (no TensorFlow)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from keras_lm.evaluation.metrics import classification_metrics
from keras_lm.evaluation.metrics import lm_metrics
from keras_lm.evaluation.metrics import roc_auc
from keras_lm.evaluation.metrics import translation_scores
from keras_lm.evaluation.metrics import trivial_baselines
from keras_lm.evaluation.plots import plot_confusion


def one_hot_probs(predicted: list[int], n_classes: int) -> np.ndarray:
    """Scores whose argmax is `predicted`, with distinct values so AUCs are not all ties."""
    probs = np.full((len(predicted), n_classes), 0.1)
    for i, k in enumerate(predicted):
        probs[i, k] = 0.5 + 0.01 * i
    return probs


def brute_force_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half, over every pair."""
    pos, neg = scores[positive], scores[~positive]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


# --- language-model metrics ---------------------------------------------------------------


def test_lm_metrics_are_the_mean_nll_and_its_exponential():
    m = lm_metrics(total_nll=10 * math.log(5), tokens=10, correct=7)
    assert m["loss"] == pytest.approx(math.log(5))
    assert m["perplexity"] == pytest.approx(5.0)
    assert m["token_accuracy"] == 0.7 and m["tokens"] == 10


@pytest.mark.parametrize(("tokens", "correct"), [(0, 0), (3, 4), (3, -1)])
def test_lm_metrics_reject_impossible_counts(tokens, correct):
    with pytest.raises(ValueError):
        lm_metrics(1.0, tokens, correct)


# --- classification -----------------------------------------------------------------------


def test_two_class_confusion_precision_recall_f1():
    y_true = [0, 0, 0, 1, 1]
    predicted = [0, 1, 0, 1, 0]
    m = classification_metrics(y_true, one_hot_probs(predicted, 2), ["neg", "pos"])
    # rows true, columns predicted: neg -> [2 right, 1 as pos]; pos -> [1 as neg, 1 right]
    assert m["confusion_matrix"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    neg, pos = m["per_class"]["neg"], m["per_class"]["pos"]
    assert neg["precision"] == pytest.approx(2 / 3) and neg["recall"] == pytest.approx(2 / 3)
    assert pos["precision"] == pytest.approx(1 / 2) and pos["recall"] == pytest.approx(1 / 2)
    assert neg["f1"] == pytest.approx(2 / 3) and pos["f1"] == pytest.approx(1 / 2)
    assert (neg["support"], pos["support"]) == (3, 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["examples"] == 5 and m["labels"] == ["neg", "pos"]


def test_binary_auc_is_that_of_the_positive_class():
    y_true = np.array([0, 0, 1, 1, 0, 1])
    p_pos = np.array([0.1, 0.6, 0.6, 0.9, 0.3, 0.2])
    probs = np.stack([1 - p_pos, p_pos], axis=1)
    m = classification_metrics(y_true, probs, ["neg", "pos"])
    expected = brute_force_auc(y_true == 1, p_pos)
    # pairs (pos, neg): 0.6 vs {0.1, 0.6, 0.3} = 1 + .5 + 1; 0.9 beats all 3; 0.2 beats 0.1 only
    assert expected == pytest.approx(6.5 / 9)
    assert m["roc_auc"] == pytest.approx(expected)
    assert m["per_class"]["pos"]["roc_auc"] == pytest.approx(expected)


def test_three_class_with_a_class_never_predicted():
    y_true = [0, 0, 1, 1, 2, 2, 2]
    predicted = [0, 1, 1, 1, 0, 1, 0]  # class 2 is never predicted
    m = classification_metrics(y_true, one_hot_probs(predicted, 3), ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [2, 1, 0]]
    a, b, c = (m["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"]) == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert a["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert (b["precision"], b["recall"]) == (pytest.approx(2 / 4), 1.0)
    assert b["f1"] == pytest.approx(2 / 3)
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 3)
    assert m["macro_precision"] == pytest.approx((1 / 3 + 1 / 2 + 0) / 3)
    assert m["macro_recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["accuracy"] == pytest.approx(3 / 7)
    assert sum(map(sum, m["confusion_matrix"])) == len(y_true)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_a_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    positive = rng.random(60) < 0.4
    scores = np.round(rng.random(60), 1)  # one decimal: many ties, within and across classes
    assert roc_auc(positive, scores) == pytest.approx(brute_force_auc(positive, scores))


def test_multiclass_auc_is_the_macro_one_vs_rest_mean():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 3, 50)
    probs = rng.dirichlet(np.ones(3), 50).round(2)
    m = classification_metrics(y_true, probs, ["x", "y", "z"])
    per_class = [brute_force_auc(y_true == k, probs[:, k]) for k in range(3)]
    for name, expected in zip("xyz", per_class, strict=True):
        assert m["per_class"][name]["roc_auc"] == pytest.approx(expected)
    assert m["roc_auc"] == pytest.approx(np.mean(per_class))


def test_auc_is_none_for_a_class_without_positives_and_left_out_of_the_mean():
    y_true = np.array([0, 1, 0, 1, 1])  # class 2 never occurs
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.4, 0.5, 0.1], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]]
    )
    m = classification_metrics(y_true, probs, ["a", "b", "c"])
    assert m["per_class"]["c"]["roc_auc"] is None
    a = brute_force_auc(y_true == 0, probs[:, 0])
    b = brute_force_auc(y_true == 1, probs[:, 1])
    assert m["roc_auc"] == pytest.approx((a + b) / 2)


def test_auc_is_none_with_a_single_class():
    assert roc_auc([True, True, True], [0.1, 0.2, 0.3]) is None
    assert roc_auc([False, False], [0.1, 0.2]) is None
    m = classification_metrics([1, 1], [[0.2, 0.8], [0.6, 0.4]], ["neg", "pos"])
    assert m["roc_auc"] is None


@pytest.mark.parametrize(
    ("y_true", "probs", "message"),
    [
        ([0, 1], [[0.5, 0.5]], "2 labels but 1 rows"),
        ([0, 3], [[0.5, 0.5], [0.5, 0.5]], "class indices"),
        ([0], [[1.0, 0.0, 0.0]], "shape"),
        ([], np.zeros((0, 2)), "no examples"),
    ],
)
def test_classification_metrics_reject_inconsistent_input(y_true, probs, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(y_true, probs, ["a", "b"])


# --- translation --------------------------------------------------------------------------


def test_identical_text_scores_100():
    refs = ["Where is the station?", "Thank you very much.", "It is raining."]
    s = translation_scores(list(refs), refs)
    assert s["bleu"] == pytest.approx(100.0) and s["chrf"] == pytest.approx(100.0)
    assert s["examples"] == 3


def test_bleu_of_a_short_but_exact_hypothesis_is_the_brevity_penalty():
    # Every n-gram precision is 1; only the brevity penalty exp(1 - ref/hyp) remains.
    s = translation_scores(["a b c d"], ["a b c d e"])
    assert s["bleu"] == pytest.approx(100 * math.exp(1 - 5 / 4), abs=1e-6)


def test_bleu_is_corpus_level_not_a_mean_of_sentences():
    s = translation_scores(["a b c d e f", "a b c d"], ["a b c d e f", "a b c d e"])
    assert s["bleu"] == pytest.approx(
        100 * math.exp(1 - 11 / 10), abs=1e-6
    )  # 10 hyp, 11 ref tokens


def test_disjoint_and_case_changed_text():
    disjoint = translation_scores(["xyz"], ["abc"])
    assert disjoint["bleu"] == 0.0 and disjoint["chrf"] == 0.0
    refs = ["Where Is The Station?", "Thank You Very Much."]
    lowered = translation_scores([r.lower() for r in refs], refs)
    assert lowered["bleu"] < 100.0 and lowered["chrf"] < 100.0  # case:mixed: case matters


def test_signatures_are_sacrebleus_defaults():
    import sacrebleu

    s = translation_scores(["a"], ["a"])
    assert s["bleu_signature"] == (
        f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    )
    assert s["chrf_signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|")


def test_mismatched_lengths_name_both():
    with pytest.raises(ValueError, match=r"3 hypotheses but 2 references"):
        translation_scores(["a", "b", "c"], ["a", "b"])


# --- plots --------------------------------------------------------------------------------


def test_confusion_plot_is_a_png_written_atomically(tmp_path):
    path = plot_confusion([[3, 1, 0], [0, 0, 0], [2, 0, 5]], ["a", "b", "c"], tmp_path / "c.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary left behind


def test_confusion_plot_of_the_wrong_shape_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="does not fit 3 labels"):
        plot_confusion([[1, 2], [3, 4]], ["a", "b", "c"], tmp_path / "c.png")
    assert not any(tmp_path.iterdir())


def test_trivial_baselines_copy_the_source_and_repeat_the_commonest_target():
    sources, refs = ["a b c", "d e f"], ["a b c x", "q r s"]
    baselines = trivial_baselines(sources, refs, ["q r s", "y", "q r s", "y", "z"])
    copy = translation_scores(sources, refs)
    assert baselines["copy_source"] == {"bleu": copy["bleu"], "chrf": copy["chrf"]}
    frequent = baselines["most_frequent_target"]
    assert frequent["text"] == "q r s"  # seen twice, and before "y" (also twice)
    assert frequent["chrf"] == translation_scores(["q r s"] * 2, refs)["chrf"]
    with pytest.raises(ValueError, match="no training targets"):
        trivial_baselines(sources, refs, [])
