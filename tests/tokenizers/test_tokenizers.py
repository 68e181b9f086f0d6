"""The TF-free tokenizers on tiny inline text: fixed specials, saving, unknowns, errors, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.tokenizers import ByteTokenizer
from keras_lm.tokenizers import CharTokenizer
from keras_lm.tokenizers import SentencePieceTokenizer
from keras_lm.tokenizers import SpecialTokens
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import WordPieceTokenizer
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers import train_tokenizer

KINDS = ("char", "byte", "wordpiece", "sentencepiece")
CLASSES = {
    "char": CharTokenizer,
    "byte": ByteTokenizer,
    "wordpiece": WordPieceTokenizer,
    "sentencepiece": SentencePieceTokenizer,
}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]"]


@pytest.mark.parametrize("kind", KINDS)
def test_special_ids_are_fixed_in_every_kind(kind, tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer(kind)
    assert isinstance(tok, CLASSES[kind]) and tok.kind == kind
    assert tok.vocabulary()[:5] == SPECIAL_TOKENS
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.specials == SpecialTokens() and tok.specials.ids() == (0, 1, 2, 3, 4)
    saved = json.loads((tok.save(tmp_path / "tok") / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["special_tokens"]["mask"] == {"token": "[MASK]", "id": 4}
    assert saved["kind"] == kind and saved["vocab_size"] == tok.vocab_size
    framed = tok.encode("x y", add_start=True, add_end=True)
    assert framed == [2, *tok.encode("x y"), 3]


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_gives_identical_ids(kind, tiny_tokenizer, tiny_lines, tmp_path):
    tok = tiny_tokenizer(kind)
    loaded = load_tokenizer(tok.save(tmp_path / "tok"))
    assert type(loaded) is type(tok) and loaded.options() == tok.options()
    assert loaded.vocabulary() == tok.vocabulary()
    texts = [*tiny_lines, "unseen ☃ wörds ZZZ", ""]
    assert loaded.encode_batch(texts, add_end=True) == tok.encode_batch(texts, add_end=True)
    assert loaded.training["kind"] == kind
    asset = {
        "char": "vocab.json",
        "byte": None,
        "wordpiece": "vocab.txt",
        "sentencepiece": "spm.model",
    }[kind]
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == sorted(
        filter(None, ["tokenizer.json", asset])
    )


def test_saving_again_replaces_the_directory_but_never_a_foreign_one(tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer("char")
    tok.save(tmp_path / "tok")
    tok.save(tmp_path / "tok")  # a tokenizer directory is replaced
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="without tokenizer.json"):
        tok.save(foreign)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_unknown_characters_map_to_unk(tiny_tokenizer):
    char, wordpiece = tiny_tokenizer("char"), tiny_tokenizer("wordpiece")
    assert char.encode("☃") == [1] and char.decode(char.encode("a☃")) == "a[UNK]"
    assert wordpiece.encode("☃") == [1]
    assert wordpiece.encode("x" * 101) == [1]  # longer than 100 bytes: unknown, as in FastWordpiece
    sentencepiece = tiny_tokenizer("sentencepiece")
    snowman = sentencepiece.encode("☃")
    assert 1 not in snowman and all(
        sentencepiece.id_to_token(i).startswith("<0x") for i in snowman[-3:]
    )
    assert 1 not in ByteTokenizer().encode("☃")


@pytest.mark.parametrize("kind", KINDS)
def test_decode_skips_specials_and_keeps_unk(kind, tiny_tokenizer):
    tok = tiny_tokenizer(kind)
    ids = tok.encode("The end is near.")
    assert tok.decode([2, *ids, 4, 3, 0, 0]) == tok.decode(ids)
    assert tok.decode(np.array([2, *ids, 3, 0], dtype=np.int64)) == tok.decode(ids)
    assert tok.decode([1]) == "[UNK]"
    assert "[BOS]" in tok.decode([2, *ids], skip_special=False)
    assert tok.decode_batch([[2, *ids], [0, 0]]) == [tok.decode(ids), ""]
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([tok.vocab_size])


@pytest.mark.parametrize("kind", ["byte", "sentencepiece"])
def test_byte_and_sentencepiece_decode_inverts_encode(kind, tiny_tokenizer, tiny_lines):
    tok = tiny_tokenizer(kind)
    texts = [*tiny_lines, "unseen ☃ text\twith  spaces ", " ", "\n\n", "a\x00b", "x"]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts


def test_char_decode_inverts_encode_on_its_training_text(tiny_tokenizer, tiny_lines):
    tok = tiny_tokenizer("char")
    text = "\n".join(tiny_lines)
    assert tok.decode(tok.encode(text)) == text
    assert tok.token_to_id("\n") == 5


def test_char_vocabulary_order_and_limits():
    tok = CharTokenizer.train(["bbbaac", "c"], max_size=8)
    assert tok.vocabulary() == [*SPECIAL_TOKENS, "\n", "b", "a"]
    assert CharTokenizer.train(["bbbaac"], min_frequency=2).vocabulary()[6:] == ["b", "a"]


def test_byte_tokenizer_ids():
    tok = ByteTokenizer()
    assert tok.encode("é") == [0xC3 + 5, 0xA9 + 5] and tok.vocab_size == 261
    assert tok.id_to_token(5) == "<0x00>" and tok.token_to_id("A") == 70
    assert tok.decode([0xC3 + 5]) == "\ufffd"


@pytest.mark.parametrize("kind", KINDS)
def test_empty_training_texts_are_an_input_error(kind):
    for texts in ([], ["", ""]):
        with pytest.raises(InputError, match="no text to train"):
            train_tokenizer(texts, TokenizerConfig(kind=kind))
    blank = {"wordpiece": [" \n ", "\t"], "sentencepiece": ["\n"]}.get(kind)
    if blank:
        with pytest.raises(InputError, match="training texts: no (words|sentences)"):
            train_tokenizer(blank, TokenizerConfig(kind=kind))


def test_config_rejects_options_that_do_not_apply():
    with pytest.raises(ConfigError, match="wordpiece only"):
        TokenizerConfig(kind="char", lowercase=True)
    with pytest.raises(ConfigError, match="at least"):
        TokenizerConfig(kind="sentencepiece", vocab_size=100)
    with pytest.raises(ConfigError, match="261"):
        TokenizerConfig.from_dict({"kind": "byte", "vocab_size": 300})
    config = TokenizerConfig(kind="wordpiece").with_overrides(["vocab_size=500", "lowercase=true"])
    assert TokenizerConfig.from_dict(config.to_dict()) == config


def test_training_samples_and_is_deterministic(tiny_lines):
    texts = tiny_lines * 50
    config = TokenizerConfig(kind="sentencepiece", vocab_size=400, max_train_lines=300, seed=3)
    first, second = train_tokenizer(texts, config), train_tokenizer(texts, config)
    assert first.proto == second.proto and first.training["train_lines"] == 300
    char = train_tokenizer(texts, TokenizerConfig(kind="char", max_train_lines=2, seed=0))
    assert (
        char.training["train_lines"] == 2
        and char.vocab_size < train_tokenizer(texts, TokenizerConfig()).vocab_size
    )


def test_wordpiece_lowercase_and_strip_accents_options(tiny_tokenizer):
    plain = tiny_tokenizer("wordpiece")
    folded = tiny_tokenizer("wordpiece", lowercase=True, strip_accents=True)
    assert folded.options()["lowercase"] and not plain.options()["lowercase"]
    assert folded.encode("MAÑANA Él") == folded.encode("manana el")
    assert plain.encode("Mañana") != plain.encode("manana")
    assert "ñ" not in "".join(folded.vocabulary()) and "ñ" in "".join(plain.vocabulary())


def _corrupt_cases(directory):
    config = directory / "tokenizer.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    return [
        ("missing tokenizer.json", lambda: config.unlink(), "tokenizer.json", "file not found"),
        (
            "not JSON",
            lambda: config.write_text("{oops", encoding="utf-8"),
            "tokenizer.json",
            "not valid JSON",
        ),
        (
            "unknown kind",
            lambda: config.write_text(json.dumps({**data, "kind": "bpe"})),
            "tokenizer.json",
            "kind",
        ),
        (
            "new version",
            lambda: config.write_text(json.dumps({**data, "format_version": 9})),
            "tokenizer.json",
            "format_version",
        ),
        (
            "moved special",
            lambda: config.write_text(
                json.dumps(
                    {
                        **data,
                        "special_tokens": {
                            **data["special_tokens"],
                            "pad": {"token": "<pad>", "id": 0},
                        },
                    }
                )
            ),
            "tokenizer.json",
            "special_tokens",
        ),
        (
            "asset edited",
            lambda: (directory / "vocab.txt").write_text("[PAD]\nx\n"),
            "vocab.txt",
            "sha256",
        ),
        (
            "asset missing",
            lambda: (directory / "vocab.txt").unlink(),
            "vocab.txt",
            "file not found",
        ),
    ]


@pytest.mark.parametrize("case", range(7))
def test_a_bad_tokenizer_directory_error_names_the_file(case, tiny_tokenizer, tmp_path):
    directory = tiny_tokenizer("wordpiece").save(tmp_path / f"tok{case}")
    name, corrupt, file_name, expected = _corrupt_cases(directory)[case]
    corrupt()
    with pytest.raises(InputError) as err:
        load_tokenizer(directory)
    assert file_name in str(err.value) and expected in str(err.value), name


def test_a_missing_directory_or_corrupt_model_is_an_input_error(tiny_tokenizer, tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_tokenizer(tmp_path / "nowhere")
    directory = tiny_tokenizer("sentencepiece").save(tmp_path / "sp")
    model = directory / "spm.model"
    model.write_bytes(b"not a model")
    config = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    config["asset"]["sha256"] = __import__("hashlib").sha256(b"not a model").hexdigest()
    (directory / "tokenizer.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(InputError, match="spm.model.*not a valid SentencePiece model"):
        load_tokenizer(directory)


def test_loading_and_using_a_tokenizer_imports_no_tensorflow(tiny_tokenizer, tmp_path):
    directories = [str(tiny_tokenizer(kind).save(tmp_path / kind)) for kind in KINDS]
    code = (
        "import keras_lm.tokenizers as t, sys\n"
        f"for d in {directories!r}:\n"
        "    tok = t.load_tokenizer(d); tok.encode('x'); tok.decode(tok.encode_batch(['x y'])[0])\n"
        "bad = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_loading_a_char_tokenizer_imports_no_other_kinds_library(tiny_tokenizer, tmp_path):
    """A runtime holding a char tokenizer does not pay for sentencepiece, tokenizers or regex."""
    directory = str(tiny_tokenizer("char").save(tmp_path / "char"))
    code = (
        "import keras_lm.tokenizers as t, sys\n"
        f"tok = t.load_tokenizer({directory!r}); tok.decode(tok.encode('x y'))\n"
        "print(sorted(m for m in ('sentencepiece', 'tokenizers', 'regex') if m in sys.modules))\n"
        "t.ByteBPETokenizer\n"  # the other kinds still import on first use
        "print('tokenizers' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_learner_that_stops_short_of_vocab_size_says_so(tiny_lines, caplog):
    config = TokenizerConfig(kind="wordpiece", vocab_size=5000)
    with caplog.at_level("WARNING", logger="keras_lm.tokenizers.training"):
        tokenizer = train_tokenizer(tiny_lines, config)
    assert tokenizer.vocab_size < 5000
    assert f"asked for 5000 ids, the wordpiece learner found {tokenizer.vocab_size}" in caplog.text
