"""`evaluate_run(run_dir, split)`: score a trained run on a held-out split, write `RUN/eval/<split>.json`.

What is measured depends on the run's task:
    lm        mean NLL per token (nats), perplexity, next-token accuracy, over the split cut
              into the same non-overlapping windows as training's validation
    classify  accuracy, precision/recall/F1, ROC-AUC, the confusion matrix (also drawn as
              `RUN/eval/<split>_confusion.png`) and the mean cross-entropy
    seq2seq   corpus BLEU and chrF of the translations (with sacrebleu's signatures), the
              teacher-forced loss, perplexity and token accuracy, and the scores of two trivial
              baselines on the same rows (`baselines`: copy the source; the most frequent
              training target)
The training split is refused: the model was fitted to it. Loss and accuracy are means
over real tokens, whatever the batching. Keras' `model.evaluate` combines per-batch
figures instead (the loss weighted by sequences per batch, the accuracy by 1/padded
length): the same numbers for equal-length windows (lm) and one label per example
(classify), slightly different ones for padded seq2seq batches.

Example (needs a trained run):
>>> evaluate_run("runs/tiny-transformer-lm", "valid")["perplexity"]  # doctest: +SKIP
12.3
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from keras_lm.data.corpus import Corpus
from keras_lm.errors import InputError
from keras_lm.evaluation.metrics import classification_metrics
from keras_lm.evaluation.metrics import lm_metrics
from keras_lm.evaluation.metrics import translation_scores
from keras_lm.evaluation.metrics import trivial_baselines
from keras_lm.evaluation.plots import plot_confusion
from keras_lm.framing import Framing
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.io import write_text_atomic
from keras_lm.runs import Run
from keras_lm.runs import open_run

Translate = Callable[[list[str]], list[str]]
SAMPLES = 5  # (source, reference, hypothesis) triples kept in a seq2seq report


def eval_path(run_dir: str | Path, split: str) -> Path:
    """Where `evaluate_run` writes the report of `split`.

    Example:
    >>> eval_path("runs/demo", "test").as_posix()
    'runs/demo/eval/test.json'
    """
    return Path(run_dir) / "eval" / f"{split}.json"


def confusion_path(run_dir: str | Path, split: str) -> Path:
    """Where `evaluate_run` draws a classifier's confusion matrix of `split`."""
    return Path(run_dir) / "eval" / f"{split}_confusion.png"


def evaluate_run(
    run_dir: str | Path,
    split: str = "valid",
    checkpoint: str = "best",
    limit: int | None = None,
    translate: Translate | None = None,
    batch_size: int | None = None,
    decoding: SamplingConfig | None = None,
) -> dict:
    """Evaluate the run's `checkpoint` ("best" or "final") on `split`; write and return the report.

    Args:
        run_dir: a run directory written by `keras-lm train`.
        split: a held-out split of the run's data set ("valid" or "test"); never "train".
        checkpoint: "best" (falls back to "final" when the run kept no best) or "final".
        limit: score only the first `limit` examples (windows for a language model).
        translate: seq2seq only: `list[str] -> list[str]`; default `keras_lm.generation.Generator`
            decoding as `decoding` says.
        batch_size: sequences per forward pass (default: the run's training batch size).
        decoding: seq2seq only: how translations are decoded (default greedy); recorded
            in the report. `SamplingConfig(strategy="beam", num_beams=4)` for beam search.
    """
    run = open_run(run_dir)
    if limit is not None and limit < 1:
        raise InputError(run.path, f"limit must be a positive number of examples, not {limit}")
    corpus = _held_out_split(run, split)
    report = {
        "run": str(run.path),
        "name": run.config.name,
        "split": split,
        "checkpoint": str(run.checkpoint(checkpoint)),
        "family": run.family,
        "task": run.task,
        "dataset": run.config.data.dataset,
        "limit": limit,
    }
    batch_size = batch_size or run.config.loop.batch_size
    if run.task == "lm":
        report.update(_evaluate_lm(run, corpus, checkpoint, batch_size, limit))
    elif run.task == "classify":
        report.update(_evaluate_classifier(run, _head(corpus, limit), checkpoint, batch_size))
        report["confusion_plot"] = str(_plot(report, confusion_path(run.path, split)))
    else:
        corpus = _head(corpus, limit)
        if translate is None:
            decoding = decoding or SamplingConfig()
            translate = _generator_translate(run, checkpoint, decoding)
            report["decoding"] = decoding.to_dict()
        report.update(_evaluate_seq2seq(run, corpus, checkpoint, batch_size, translate))
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    write_text_atomic(eval_path(run.path, split), text)
    return report


def _held_out_split(run: Run, split: str) -> Corpus:
    """The corpus of `split`, refusing the training split and splits the data set lacks."""
    splits = run.splits()
    held_out = sorted(s for s in splits if s != "train")
    if split == "train":
        hint = (
            f"use one of: {', '.join(held_out)}"
            if held_out
            else "the data set has no held-out split to use instead"
        )
        raise InputError(
            run.path,
            "will not evaluate on the 'train' split: the model was fitted to it, so its scores "
            f"would flatter the model; {hint}",
        )
    if split not in splits:
        raise InputError(
            run.path,
            f"data set {run.config.data.dataset!r} has no {split!r} split; "
            f"it has {', '.join(sorted(splits))}",
        )
    if not len(splits[split]):
        raise InputError(run.path, f"the {split!r} split is empty")
    return splits[split]


def _head(corpus: Corpus, limit: int | None) -> Corpus:
    return corpus if limit is None else corpus.replace(corpus.records[:limit])


def _evaluate_lm(
    run: Run, corpus: Corpus, checkpoint: str, batch_size: int, limit: int | None
) -> dict:
    from keras_lm.data.pipelines import lm_dataset

    if corpus.kind == "parallel":  # prompt/response rows: perplexity of the responses
        from keras_lm.training.tasks import lm_pairs_dataset

        return token_metrics(
            run.model(checkpoint),
            lm_pairs_dataset(
                _head(corpus, limit),
                run.tokenizer,
                run.config.data,
                batch_size,
                add_start=bool(Framing.prompt_head(run.config.model, run.tokenizer.specials)),
            ),
        )
    length = run.config.loop.sequence_length
    ids = np.asarray(run.tokenizer.encode("\n".join(corpus.texts())), np.int32)
    if limit is not None:
        ids = ids[: limit * length + 1]  # exactly `limit` windows, as they start every `length`
    dataset = lm_dataset(ids, length, batch_size, shuffle=False, drop_remainder=False)
    return token_metrics(run.model(checkpoint), dataset)


def _evaluate_classifier(run: Run, corpus: Corpus, checkpoint: str, batch_size: int) -> dict:
    from keras_lm.data.pipelines import classification_dataset

    labels = run.labels() or run.splits()["train"].label_names()
    index = {name: i for i, name in enumerate(labels)}
    unknown = next((r for r in corpus if r.label not in index), None)
    if unknown is not None:
        raise InputError(
            corpus.name,
            f"label {unknown.label!r} is not one the model was trained on ({labels})",
            line=unknown.line,
            field="label",
        )
    data = run.config.data
    dataset = classification_dataset(
        run.tokenizer.encode_batch(corpus.texts()),
        [index[r.label] for r in corpus],
        batch_size,
        max_length=data.max_length,
        overflow=data.overflow,
        shuffle=False,
        lines=[r.line for r in corpus],
        framing=run.framing(),
    )
    y_true, probs, nll = _predict_classes(run.model(checkpoint), dataset)
    return {"loss": float(nll.mean()), **classification_metrics(y_true, probs, labels)}


def _evaluate_seq2seq(
    run: Run, corpus: Corpus, checkpoint: str, batch_size: int, translate: Translate
) -> dict:
    from keras_lm.data.pipelines import fit_lengths
    from keras_lm.data.pipelines import seq2seq_dataset

    data, specials = run.config.data, run.tokenizer.specials
    source_ids = run.tokenizer.encode_batch(corpus.sources())
    target_ids = run.tokenizer.encode_batch(corpus.targets())
    dropped = 0
    if data.overflow == "drop":  # the rows training dropped are not scored either, and counted
        keep = fit_lengths(
            [(len(s), len(t) + 1) for s, t in zip(source_ids, target_ids, strict=True)],
            (data.max_source_length, data.max_target_length),
            "drop",
            None,
            ("source", "target"),
        )
        dropped = len(corpus) - len(keep)
        corpus = corpus.replace([corpus.records[i] for i in keep])
        source_ids, target_ids = [source_ids[i] for i in keep], [target_ids[i] for i in keep]
    dataset = seq2seq_dataset(
        source_ids,
        target_ids,
        batch_size,
        start_id=specials.start_id,
        end_id=specials.end_id,
        max_source_length=data.max_source_length,
        max_target_length=data.max_target_length,
        overflow=data.overflow,
        shuffle=False,
        lines=[r.line for r in corpus],
    )
    teacher_forced = token_metrics(run.model(checkpoint), dataset)
    teacher_forced.pop("examples")
    sources, references = corpus.sources(), corpus.targets()
    hypotheses = list(translate(sources))
    scores = translation_scores(hypotheses, references)  # checks that the lengths pair up
    baselines = trivial_baselines(sources, references, run.splits()["train"].targets())
    samples = [
        {"source": s, "reference": r, "hypothesis": h}
        for s, r, h in zip(sources[:SAMPLES], references, hypotheses, strict=False)
    ]
    return {
        **scores,
        **teacher_forced,
        "baselines": baselines,
        "dropped_over_length": dropped,
        "samples": samples,
    }


def _plot(report: dict, path: Path) -> Path:
    title = f"{report['name']}: {report['split']} ({report['examples']} examples)"
    return plot_confusion(report["confusion_matrix"], report["labels"], path, title)


def _generator_translate(run: Run, checkpoint: str, decoding: SamplingConfig) -> Translate:
    from keras_lm.generation import Generator

    generator = Generator.from_run(run.path, checkpoint)
    return lambda sources: generator.translate(sources, decoding)


def token_metrics(model, dataset) -> dict:
    """`lm_metrics` of teacher-forced next-token prediction over the real (weighted) labels."""
    import tensorflow as tf

    features_spec, labels_spec, *_ = dataset.element_spec
    weights_spec = tf.TensorSpec(labels_spec.shape, tf.float32)

    @tf.function(input_signature=[features_spec, labels_spec, weights_spec])  # one trace
    def step(features, labels, weights):
        logits = tf.cast(model(features, training=False), tf.float32)
        labels = tf.cast(labels, tf.int32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        hit = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        return nll * weights, hit * weights

    total, correct, tokens, examples = 0.0, 0.0, 0.0, 0
    for features, labels, *rest in dataset:
        weights = tf.cast(rest[0], tf.float32) if rest else tf.ones_like(labels, tf.float32)
        nll, hit = step(features, labels, weights)
        total += float(np.sum(nll.numpy(), dtype=np.float64))
        correct += float(np.sum(hit.numpy(), dtype=np.float64))
        tokens += float(np.sum(weights.numpy(), dtype=np.float64))
        examples += int(labels.shape[0])
    return {"examples": examples, **lm_metrics(total, round(tokens), round(correct))}


def _predict_classes(model, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true labels, softmax probabilities, per-example cross-entropy) over the whole dataset."""
    import tensorflow as tf

    @tf.function(input_signature=list(dataset.element_spec))  # one trace for every batch shape
    def step(features, labels):
        logits = tf.cast(model(features, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int32), logits=logits
        )
        return tf.nn.softmax(logits, axis=-1), nll

    y_true, probs, nll = [], [], []
    for features, labels in dataset:
        p, loss = step(features, labels)
        y_true.append(labels.numpy())
        probs.append(p.numpy())
        nll.append(loss.numpy().astype(np.float64))
    return np.concatenate(y_true), np.concatenate(probs), np.concatenate(nll)
