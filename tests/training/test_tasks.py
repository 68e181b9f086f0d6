"""What each family trains on: the tf.data a config asks for (LM window offsets, seq2seq buckets)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from keras_lm.data.corpus import Corpus
from keras_lm.errors import ConfigError
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import train_tokenizer
from keras_lm.training.presets import load_config
from keras_lm.training.tasks import build_task

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _window_starts(stride: int, batches: int = 30) -> set[int]:
    # The text is the alphabet over and over, so a window's first letter tells its offset mod 26.
    text = ALPHABET * 400
    tokenizer = train_tokenizer([text], TokenizerConfig(kind="char"))
    config = load_config(
        "tiny-transformer-lm",
        ["loop.sequence_length=13", f"loop.window_stride={stride}", "loop.batch_size=8"],
    )
    task = build_task("lm", {"train": Corpus.from_texts([text])}, tokenizer, config)
    first = set()
    for x, _ in task.train.take(batches):
        first.update(tokenizer.decode([int(i)]) for i in np.asarray(x["token_ids"])[:, 0])
    return first


def test_lm_windows_start_at_every_position_by_default():
    assert len(_window_starts(1)) == 26


def test_lm_windows_with_stride_of_the_window_are_one_fixed_chunking():
    # Offsets 0, 13, 26, ... start only with "a" or "n".
    assert _window_starts(13) == {"a", "n"}


@pytest.mark.parametrize("stride", ["0", "14"])
def test_window_stride_out_of_range_is_named(stride):
    with pytest.raises(ConfigError, match="loop.window_stride"):
        load_config(
            "tiny-transformer-lm", ["loop.sequence_length=13", f"loop.window_stride={stride}"]
        )


@pytest.mark.parametrize(
    "name", ["tiny-transformer-lm", pytest.param("tiny-lstm-lm", marks=pytest.mark.slow)]
)
def test_epoch_end_sample_equals_an_eager_recompute(name):
    # The sample runs one right-padded [1, window] shape through predict_on_batch; past the
    # window it slides. It must pick the tokens an unpadded eager forward would pick.
    from keras_lm.features import PADDING_MASK
    from keras_lm.features import TOKEN_IDS
    from keras_lm.models.registry import build_model
    from keras_lm.training.compile import compile_model
    from keras_lm.training.tasks import _greedy_lm

    config = load_config(name, ["loop.jit_compile=true", "loop.max_steps=10"])
    model = build_model(config.family, config.model_config(vocab_size=40))
    compile_model(model, config)
    window, ids = config.loop.sequence_length, [3, 7, 9, 11]
    for _ in range(window + 5):
        x = np.asarray([ids[-window:]], np.int32)
        logits = model({TOKEN_IDS: x, PADDING_MASK: np.ones_like(x)}, training=False)
        ids.append(int(np.argmax(logits[0, -1])))
    assert _greedy_lm(model, [3, 7, 9, 11], window + 5, window) == ids


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny-transformer-seq2seq", "tiny-lstm-seq2seq"])
def test_seq2seq_epoch_end_sample_equals_an_eager_recompute(name):
    # The sample right-pads the decoder to max_target_length under a zero mask, so that one
    # shape is traced once; the padded tail must change no real position's logits.
    import keras

    from keras_lm.features import DECODER_PADDING_MASK
    from keras_lm.features import DECODER_TOKEN_IDS
    from keras_lm.features import ENCODER_PADDING_MASK
    from keras_lm.features import ENCODER_TOKEN_IDS
    from keras_lm.models.registry import build_model
    from keras_lm.training.tasks import _greedy_seq2seq

    keras.utils.set_random_seed(0)  # fixed weights: a random model may emit `end` at once
    config = load_config(name)
    length = config.data.max_target_length
    fixed = {"vocab_size": 40, "max_source_length": config.data.max_source_length}
    model = build_model(config.family, config.model_config(max_target_length=length, **fixed))
    source, start, end = [5, 9, 12, 7], 1, 2
    enc = np.asarray([source], np.int32)
    out = [start]
    for _ in range(length - 1):
        dec = np.asarray([out], np.int32)
        features = {
            ENCODER_TOKEN_IDS: enc,
            ENCODER_PADDING_MASK: np.ones_like(enc),
            DECODER_TOKEN_IDS: dec,
            DECODER_PADDING_MASK: np.ones_like(dec),
        }
        token = int(np.argmax(model(features, training=False)[0, -1]))
        if token == end:
            break
        out.append(token)
    assert len(out) > 2  # a real sequence, not an immediate end
    assert _greedy_seq2seq(model, source, start, end, length) == out[1:]


@pytest.mark.parametrize("template", ["{prompt}\n", "{source} {source}", "no field", "{source"])
def test_prompt_template_must_name_source_once(template):
    with pytest.raises(ConfigError, match="data.prompt_template must name the field"):
        load_config("tiny-transformer-lm").with_overrides([f"data.prompt_template={template!r}"])


def test_lm_on_pairs_weighs_each_response_and_its_end():
    pairs = [("ab", "c"), ("abc", "de"), ("b", "cab")]
    tokenizer = train_tokenizer(["abcde"], TokenizerConfig(kind="char"))
    config = load_config(
        "tiny-transformer-lm", ["loop.batch_size=3", "data.prompt_template='{source}:'"]
    )
    task = build_task("lm", {"train": Corpus.from_pairs(pairs)}, tokenizer, config)
    x, y, w = next(iter(task.train))
    scored = sorted(
        tokenizer.decode(
            [int(t) for t, keep in zip(row, weights, strict=True) if keep], skip_special=False
        )
        for row, weights in zip(np.asarray(y), np.asarray(w), strict=True)
    )
    end = tokenizer.specials.end
    assert scored == sorted(f"{r}{end}" for _, r in pairs)


def test_lm_on_pairs_rows_begin_with_the_start_id_when_the_model_frames_it():
    """A Llama-style run (`model.frame_start`) reads each pair as `<s>` + prompt + response + end,
    the start id unweighted; without it the row begins with the prompt."""
    pairs = [("ab", "c"), ("b", "cab")]
    tokenizer = train_tokenizer(["abcde"], TokenizerConfig(kind="char"))
    firsts = {}
    for frame_start in (True, False):
        config = load_config(
            "tiny-llama-lm", ["loop.batch_size=2", f"model.frame_start={frame_start}"]
        )
        task = build_task("lm", {"train": Corpus.from_pairs(pairs)}, tokenizer, config)
        x, _, w = next(iter(task.train))
        firsts[frame_start] = sorted(int(row[0]) for row in np.asarray(x["token_ids"]))
        assert not np.asarray(w)[:, 0].any()
    start = tokenizer.specials.start_id
    assert firsts[True] == [start, start]
    assert start not in firsts[False]
