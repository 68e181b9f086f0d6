"""keras-hub's BERT (`BertBackbone` + `BertTokenizer`, and a `BertTextClassifier` head) as a keras_lm `encoder_classifier`.

BERT is `encoder_classifier`'s post-LayerNorm encoder with BERT's options on: tanh GELU
(`activation: gelu_approximate`), LayerNorm epsilon 1e-12, first-token pooling through
BERT's pooler (`pooler`: `pooled_dense`, tanh), and inputs framed `[CLS] text [SEP]`
(`frame_specials`). keras-hub adds a segment embedding; a single text always has segment
0, so its row 0 is added to every row of the position table here (exact: both are added
before the embedding LayerNorm) and the model takes no segment input. The classifier
head (`logits`) is the preset's `BertTextClassifier`'s where task.json holds one, else a
new one (keras-hub's initialisation) of `classes` classes, to fine-tune with
`keras-lm train --from RUN`. `context` may cut the position table below the preset's.

Example:
>>> config = classifier_config({"vocabulary_size": 30522, "num_layers": 12, "num_heads": 12,
...     "hidden_dim": 768, "intermediate_dim": 3072}, 2, 128)
>>> config.max_length, config.activation, config.pooler, config.frame_specials
(128, 'gelu_approximate', True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keras_lm.errors import InputError
from keras_lm.models.encoder_classifier.config import EncoderClassifierConfig
from keras_lm.presets import fields as f
from keras_lm.presets.folder import MAX_VOCABULARY_BYTES
from keras_lm.presets.folder import Preset

BACKBONE = "keras_hub>BertBackbone"
TOKENIZER = "keras_hub>BertTokenizer"
TASK = "keras_hub>BertTextClassifier"  # another task (BertMaskedLM ...): the head is new
FAMILY = "encoder_classifier"
FIELDS = {
    **f.TRANSFORMER_SIZES,
    "dropout": f.number(float, 0.0, 0.99, default=0.1),
    "max_sequence_length": f.number(int, 3, 131_072, default=512),
    "num_segments": f.number(int, 1, 1024, default=2),
}
TOKENIZER_FIELDS = {
    "lowercase": f.choice(False, True, default=False),
    "strip_accents": f.choice(False, True, default=False),
    "split": f.choice(True, default=True),
    "split_on_cjk": f.choice(True, False, default=True),
    "suffix_indicator": f.choice("##", default="##"),
    "oov_token": f.choice("[UNK]", default="[UNK]"),
    "special_tokens": f.choice(None, default=None),
    "special_tokens_in_strings": f.choice(False, default=False),
    "vocabulary": f.choice(None, default=None),  # saved presets keep it in assets/
}
TOKENIZER_IGNORED = ("config_file", "sequence_length")  # the output length: keras_lm pads itself
TASK_FIELDS = {
    "num_classes": f.number(int, 1, 100_000),
    "activation": f.choice(None, "linear", default=None),  # the head must give logits
    "dropout": f.number(float, 0.0, 0.99, default=0.1),
}
TASK_IGNORED = ("backbone", "preprocessor")  # config.json and tokenizer.json are read instead
# Our variable path's prefix -> keras-hub's (the rest of each path is the same).
_RENAMES = {
    "embeddings/": "",
    "embeddings_norm/": "embeddings_layer_norm/",
    "encoder_layer_": "transformer_layer_",
}


def checked_config(config: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """The backbone config's fields, each of the right type and range; `InputError` otherwise."""
    found = f.checked_config(config, FIELDS, where, "BertBackbone")
    f.check_heads(found, where)
    return found


def task_config(preset: Preset) -> dict[str, Any] | None:
    """The checked fields of the preset's `BertTextClassifier` (None: it has no such task)."""
    if preset.task != TASK:
        return None
    where = str(preset.path / "task.json")
    return f.checked_config(
        preset.task_config, TASK_FIELDS, where, "BertTextClassifier", TASK_IGNORED
    )


def model_config(
    preset: Preset,
    context: int | None,
    classes: int | None,
    labels: Callable[[], list[str] | None],
) -> EncoderClassifierConfig:
    """The `encoder_classifier` config: classes from the task head, else `classes`, else the
    number of `labels()` (the import's data set's label names; loading it is not cheap)."""
    task = task_config(preset)
    if task is not None and classes not in (None, task["num_classes"]):
        raise InputError(
            "--classes", f"the preset's {TASK} has {task['num_classes']} classes, not {classes}"
        )
    num_classes = task["num_classes"] if task else classes or len(labels() or [])
    if not num_classes:
        raise InputError(
            str(preset.path),
            f"a {BACKBONE} without a {TASK} head (task.json): pass --classes N or a labelled --data",
        )
    return classifier_config(preset.config, num_classes, context)


def classifier_config(
    config: dict[str, Any], num_classes: int, context: int | None = None
) -> EncoderClassifierConfig:
    """The `encoder_classifier` config of a BERT backbone config; `context` None keeps its positions."""
    fields = checked_config(config)
    f.check_context(context, fields["max_sequence_length"], shortest=3)  # [CLS] a token [SEP]
    return EncoderClassifierConfig(
        vocab_size=fields["vocabulary_size"],
        num_classes=num_classes,
        max_length=context or fields["max_sequence_length"],
        num_layers=fields["num_layers"],
        num_heads=fields["num_heads"],
        hidden_dim=fields["hidden_dim"],
        intermediate_dim=fields["intermediate_dim"],
        dropout=fields["dropout"],
        pooling="first",
        normalize_first=False,
        layer_norm_epsilon=1e-12,
        activation="gelu_approximate",
        pooler=True,
        frame_specials=True,
    )


def load_tokenizer(preset: Preset):
    """The preset's WordPiece (vocabulary.txt, read as keras-hub reads it) with BERT's specials."""
    from keras_lm.tokenizers.bert_word_piece import BertWordPieceTokenizer

    where = str(preset.path / "tokenizer.json")
    options = f.checked_config(
        preset.tokenizer_config, TOKENIZER_FIELDS, where, "BertTokenizer", TOKENIZER_IGNORED
    )
    path = preset.asset("vocabulary.txt")
    if path.stat().st_size > MAX_VOCABULARY_BYTES:
        raise InputError(str(path), f"larger than {MAX_VOCABULARY_BYTES} bytes")
    try:
        with path.open(encoding="utf-8") as file:
            vocabulary = [line.rstrip() for line in file]
        return BertWordPieceTokenizer(
            vocabulary, options["lowercase"], options["strip_accents"], options["split_on_cjk"]
        )
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text") from None
    except InputError as err:
        raise InputError(str(path), err.message) from None


def hub_model(preset: Preset, config: EncoderClassifierConfig):
    """keras-hub's `BertTextClassifier` (no preprocessor) on the preset's backbone, with the
    preset's head where it has one (else keras-hub's new one)."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone(**checked_config(preset.config), dtype="float32")
    f.load_weights(backbone.load_weights, preset.weights, "BertBackbone")
    task = task_config(preset)
    classifier = keras_hub.models.BertTextClassifier(
        backbone, config.num_classes, preprocessor=None, dropout=(task or {}).get("dropout", 0.1)
    )
    if task is not None:
        f.load_weights(classifier.load_task_weights, preset.task_weights, "BertTextClassifier")
    return classifier


def convert(classifier, config: EncoderClassifierConfig):
    """An `encoder_classifier` Keras model holding `classifier`'s weights (segment 0 folded in)."""
    from keras_lm.models.encoder_classifier.model import build_encoder_classifier

    model = build_encoder_classifier(config)
    source = {v.path: np.asarray(v.numpy()) for v in classifier.weights}
    segment = source.pop("segment_embedding/embeddings")[0]  # (D,): every position's segment 0
    positions = source["position_embedding/embeddings"][: config.max_length]
    source["position_embedding/embeddings"] = positions + segment
    for variable in model.weights:
        variable.assign(source.pop(_hub_path(variable.path)))
    if source:
        raise InputError("model.weights.h5", f"weights keras_lm did not place: {sorted(source)}")
    return model


def _hub_path(path: str) -> str:
    """The encoder_classifier model's variable path -> keras-hub's BertTextClassifier's."""
    for ours, theirs in _RENAMES.items():
        if path.startswith(ours):
            return theirs + path[len(ours) :]
    return path


def check(classifier, model, prompts: list[list[int]], config) -> dict:
    """`model`'s logits and classes against keras-hub's on the framed `prompts` (segment 0)."""
    from keras_lm.presets.checks import check_classifier

    def hub_logits(ids, mask):
        feed = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
        return classifier(feed, training=False)

    return check_classifier(hub_logits, model, prompts, config.preset, config.logits_atol)
