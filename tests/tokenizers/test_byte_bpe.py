"""GPT-2's byte-level BPE: keras_hub's ids, its own specials, saving, and the checks on load.

The vocabulary is trained with `ByteBPETokenizer.train` on docstrings of a few standard
library modules (shipped with Python), 400 ids.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys

import pytest

from keras_lm.data.embedded import collect_docstrings
from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.tokenizers import ByteBPETokenizer
from keras_lm.tokenizers import SpecialTokens
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers import train_tokenizer
from keras_lm.tokenizers.byte_level import END_TOKEN
from keras_lm.tokenizers.byte_level import byte_chars
from keras_lm.tokenizers.byte_level import pretokenize

MODULES = ("argparse", "collections", "textwrap", "json", "pathlib", "typing", "string", "difflib")
TRICKY = [
    "",
    " ",
    "  ",
    "   x",
    "a  b",
    "a   \t  b",
    "  leading",
    "trailing  ",
    "tabs\tand\t\ttabs",
    "line\nbreak\n\n\npara",
    "win\r\nline\r\n",
    "x \n y",
    "digits 1234567890 3.14159 1,000,000",
    "don't I'M we'LL you're they've she'd it's 'S",
    "Ünïcödé naïve café Ñandú",
    "emoji ❤️ 🚀 👍🏽 family 👨\u200d👩\u200d👧",
    "CJK 数据 中文 한국어 カタカナ",
    "mixed\u00a0nbsp\u2009thin\u202fnarrow\u3000ideographic",
    "\u2028\u2029\x85\x0b\x0c",
    "¿Qué? ¡Sí!",
    "#$%&()*+,-./:;<=>?@[]^_`{|}~",
    "<|endo",
]
# Characters that stress the split: every kind of space, digits, apostrophes, the marker "६".
PIECES = list("aZé ñ\t\n\r\x0b\x0c\x85\xa0\u2009\u3000#,.!'`\"1٣数🚀") + [
    "'s",
    "'M",
    "६",
    "  ",
    "\r\n",
    "don't",
    "\U00013460",
]


def _fuzz(seed: int, count: int = 500) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12))) for _ in range(count)]


@pytest.fixture(scope="module")
def doc_lines() -> list[str]:
    return [line for d in collect_docstrings(modules=MODULES) for line in d.text.splitlines()]


@pytest.fixture(scope="module")
def tok(doc_lines) -> ByteBPETokenizer:
    return ByteBPETokenizer.train(doc_lines, vocab_size=400)


@pytest.fixture
def texts(doc_lines, tiny_lines) -> list[str]:
    paragraphs = ["\n".join(doc_lines[i : i + 6]) for i in range(0, 600, 6)]
    return [*doc_lines[:1200], *paragraphs, *tiny_lines, *TRICKY, *_fuzz(seed=0)]


# -- ids ---------------------------------------------------------------------------------------


def test_ids_equal_keras_hub_gpt2_tokenizer_in_graph_mode(tok, texts):
    """keras_hub's TensorFlow path (tf.data, SavedModels); its eager path uses another split."""
    pytest.importorskip("tensorflow")
    import keras_hub

    reference = keras_hub.tokenizers.GPT2Tokenizer(
        vocabulary={t: i for i, t in enumerate(tok.vocabulary())},
        merges=tok.merges,
        _allow_python_workflow=False,
    )
    expected = [list(row) for row in reference.tokenize(texts)]
    ids = tok.encode_batch(texts)
    bad = [(t, a, b) for t, a, b in zip(texts, ids, expected, strict=True) if a != b]
    assert not bad, f"{len(bad)} of {len(texts)} differ; first: {bad[:3]}"
    assert reference.end_token_id == tok.specials.end_id


def test_tf_twin_gives_the_same_ids_and_strings(tiny_tokenizer, texts, twins):
    """On the tiny lines' BPE, whose twin test_tf_twins.py builds too (tracing it takes seconds)."""
    pytest.importorskip("tensorflow")
    tok = tiny_tokenizer("byte_bpe")
    ids = tok.encode_batch(texts)
    assert not (report := twins.mismatches(texts, ids, twins.tokenize(tok, texts))), report
    framed = tok.encode_batch(texts, add_start=True, add_end=True)
    decoded = tok.decode_batch(framed)
    assert not (report := twins.mismatches(texts, decoded, twins.detokenize(tok, framed))), report
    shown = [tok.decode(f, skip_special=False) for f in framed[:50]]
    assert all(s.startswith(END_TOKEN) and s.endswith(END_TOKEN) for s in shown)


def test_decode_inverts_encode(tok, texts):
    # keras_hub's split drops NUL and what follows, and a standalone "६"; the fuzz has neither NUL.
    lossless = [t for t in texts if "\x00" not in t and "६" not in t]
    assert len(lossless) > 1500
    assert tok.decode_batch(tok.encode_batch(lossless)) == lossless


def test_the_end_token_in_text_and_in_decoding(tok):
    end = tok.specials.end_id
    ids = tok.encode(f"a{END_TOKEN}b {END_TOKEN}")
    assert ids.count(end) == 2 and tok.decode(ids) == "ab "
    assert tok.decode(ids, skip_special=False) == f"a{END_TOKEN}b {END_TOKEN}"
    assert tok.encode("x", add_start=True, add_end=True) == [end, *tok.encode("x"), end]
    assert tok.encode("ĴA") == [end]  # keras_hub's stand-in for the end token while splitting
    assert tok.decode(tok.encode("a\x00b")) == "a"  # tf-text stops at NUL


def test_split_differs_from_gpt2_only_in_keras_hubs_known_ways():
    assert pretokenize("Hello world!  x") == ["Hello", " world", "!", " ", " x"]
    assert pretokenize("a\n\nb") == ["a", "\n\n", "b"]  # GPT-2: "\n", "\n"
    assert pretokenize("a  ") == ["a", " ", " "]  # GPT-2: "  "
    assert pretokenize("I'M don't") == ["I", "'", "M", " don", "'t"]


# -- specials, vocabulary, training -------------------------------------------------------------


def test_specials_are_the_one_end_token_at_its_id(tok):
    end = tok.vocab_size - 1
    assert tok.id_to_token(end) == END_TOKEN and tok.specials.end_id == end
    assert tok.specials.ids() == (end,) * 5 and tok.specials.tokens() == (END_TOKEN,) * 5
    assert tok.specials.skip_ids == {end}
    assert tok.vocabulary()[:256] == sorted(byte_chars())  # GPT-2's layout: bytes, merges, end
    assert ByteBPETokenizer.fixed_specials is False


def test_training_is_deterministic_and_reachable_from_the_config(doc_lines, tok):
    again = ByteBPETokenizer.train(doc_lines, vocab_size=400)
    assert again.merges == tok.merges and again.vocabulary() == tok.vocabulary()
    config = TokenizerConfig(kind="byte_bpe", vocab_size=400, max_train_lines=None)
    trained = train_tokenizer(doc_lines, config)
    assert trained.vocabulary() == tok.vocabulary() and trained.training["kind"] == "byte_bpe"
    with pytest.raises(ConfigError, match="at least 257"):
        TokenizerConfig(kind="byte_bpe", vocab_size=256)


def test_from_vocabulary_reads_keras_hub_asset_files(tok, tmp_path):
    vocab = {t: i for i, t in enumerate(tok.vocabulary())}
    (tmp_path / "vocabulary.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(tok.merges) + "\n", encoding="utf-8"
    )
    loaded = ByteBPETokenizer.from_vocabulary(
        tmp_path / "vocabulary.json", str(tmp_path / "merges.txt")
    )
    assert loaded.merges == tok.merges and loaded.encode("Return x.") == tok.encode("Return x.")


def _bad_vocabularies(tok):
    vocab = {t: i for i, t in enumerate(tok.vocabulary())}
    no_byte = {("ĀĀ" if t == "Ā" else t): i for t, i in vocab.items()}
    return [
        ({**vocab, "x": vocab["y"]}, tok.merges, END_TOKEN, "each used once"),
        ({**vocab, "a b": len(vocab)}, tok.merges, END_TOKEN, "byte characters"),
        (no_byte, tok.merges, END_TOKEN, "every byte"),
        (vocab, [*tok.merges, "Ġ zzzz"], END_TOKEN, "must be tokens"),
        (vocab, [*tok.merges, "a"], END_TOKEN, "expected 'a b'"),
        (vocab, [*tok.merges, tok.merges[0]], END_TOKEN, "duplicate"),
        (vocab, tok.merges, "<|im_end|>", "end_token"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_bad_vocabularies_and_merges_are_input_errors(case, tok):
    vocab, merges, end, expected = _bad_vocabularies(tok)[case]
    with pytest.raises(InputError, match=expected):
        ByteBPETokenizer.from_vocabulary(vocab, merges, end_token=end)


# -- saving -------------------------------------------------------------------------------------


def test_save_load_round_trip(tok, texts, tmp_path):
    directory = tok.save(tmp_path / "tok")
    assert sorted(p.name for p in directory.iterdir()) == ["bpe.json", "tokenizer.json"]
    config = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    end = tok.specials.end_id
    assert config["special_tokens"]["pad"] == {"token": END_TOKEN, "id": end}
    assert config["kind"] == "byte_bpe" and config["vocab_size"] == 400
    loaded = load_tokenizer(directory)
    assert isinstance(loaded, ByteBPETokenizer) and loaded.specials == tok.specials
    assert loaded.vocabulary() == tok.vocabulary() and loaded.merges == tok.merges
    assert loaded.encode_batch(texts, add_end=True) == tok.encode_batch(texts, add_end=True)


def test_a_start_token_takes_the_start_role_and_survives_saving(tok, tmp_path):
    vocabulary = {t: i for i, t in enumerate(tok.vocabulary())}
    vocabulary["<|begin|>"] = len(vocabulary)
    llama3_like = ByteBPETokenizer(vocabulary, tok.merges, END_TOKEN, start_token="<|begin|>")
    start, end = len(vocabulary) - 1, tok.specials.end_id
    assert llama3_like.specials.ids() == (end, end, start, end, end)
    assert llama3_like.encode("hi", add_start=True, add_end=True) == [
        start,
        *tok.encode("hi"),
        end,
    ]
    assert llama3_like.decode([start, *tok.encode("hi"), end]) == "hi"
    assert llama3_like.encode("<|begin|>") == tok.encode("<|begin|>")  # its text stays text
    loaded = load_tokenizer(llama3_like.save(tmp_path / "tok"))
    assert loaded.specials == llama3_like.specials and loaded.start_token == "<|begin|>"
    assert load_tokenizer(tok.save(tmp_path / "gpt2")).start_token is None
    with pytest.raises(InputError, match=r"\[start_token\]: start_token '<\|nope\|>'"):
        ByteBPETokenizer(vocabulary, tok.merges, END_TOKEN, start_token="<|nope|>")


def _rewrite(path, change):
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _record_sha(directory):
    digest = hashlib.sha256((directory / "bpe.json").read_bytes()).hexdigest()
    _rewrite(directory / "tokenizer.json", lambda c: c["asset"].update(sha256=digest))


def test_a_tampered_asset_is_an_input_error_naming_bpe_json(tok, tmp_path):
    directory = tok.save(tmp_path / "tok")
    _rewrite(directory / "bpe.json", lambda a: a["merges"].pop())
    with pytest.raises(InputError, match=r"bpe\.json: sha256 .* does not match"):
        load_tokenizer(directory)
    _record_sha(directory)  # now consistent, but recorded vocab_size still holds
    assert load_tokenizer(directory).merges == tok.merges[:-1]
    _rewrite(directory / "bpe.json", lambda a: a.update(end_token="<|nope|>"))
    _record_sha(directory)
    with pytest.raises(InputError, match=r"bpe\.json \[end_token\]: end_token '<\|nope\|>'"):
        load_tokenizer(directory)


@pytest.mark.parametrize("specials", ["fixed", "moved", "malformed"])
def test_wrong_special_tokens_in_tokenizer_json_are_an_input_error(specials, tok, tmp_path):
    directory = tok.save(tmp_path / "tok")
    end = tok.specials.end_id
    recorded = {
        "fixed": SpecialTokens().to_dict(),
        "moved": SpecialTokens(*(END_TOKEN,) * 5, *(end - 1,) * 5).to_dict(),
        "malformed": {"end": {"token": END_TOKEN, "id": end}},
    }[specials]
    _rewrite(directory / "tokenizer.json", lambda c: c.update(special_tokens=recorded))
    with pytest.raises(InputError, match=r"tokenizer\.json \[special_tokens\]"):
        load_tokenizer(directory)


@pytest.mark.parametrize("kind", ["char", "byte", "wordpiece", "sentencepiece"])
def test_the_other_kinds_still_require_the_fixed_specials(kind, tiny_tokenizer, tmp_path):
    directory = tiny_tokenizer(kind).save(tmp_path / kind)
    gpt2_like = SpecialTokens(*(END_TOKEN,) * 5, *(3,) * 5).to_dict()
    _rewrite(directory / "tokenizer.json", lambda c: c.update(special_tokens=gpt2_like))
    with pytest.raises(InputError, match=r"special_tokens must be the fixed ones"):
        load_tokenizer(directory)


def test_loading_and_encoding_imports_no_tensorflow(tok, tmp_path):
    directory = str(tok.save(tmp_path / "tok"))
    code = (
        "import keras_lm.tokenizers as t, sys\n"
        f"tok = t.load_tokenizer({directory!r})\n"
        "assert tok.decode(tok.encode_batch(['x y', 'z'])[0]) == 'x y'\n"
        "bad = [m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_split_matches_keras_hub_for_every_assigned_code_point():
    """RE2's \\s, \\p{L} and \\p{N} (TensorFlow's Unicode) against the pure split, per code point:
    every one of the planes Unicode assigns (0 to 3 and 14), one in 4096 of the others
    (4 to 13 unassigned, 15 and 16 private use: each a single class)."""
    tf = pytest.importorskip("tensorflow")
    from keras_hub.src.tokenizers.byte_pair_tokenizer import split_strings_for_bpe

    assigned = [*range(0x40000), *range(0xE0000, 0xF0000)]
    others = [*range(0x40000, 0xE0000, 4096), *range(0xF0000, 0x110000, 4096), 0x10FFFF]
    chars = [chr(c) for c in sorted({*assigned, *others}) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"a{c}b {c}1{c} {c}" for c in chars]
    words = split_strings_for_bpe(tf.constant(texts), [END_TOKEN]).to_list()
    bad = [
        (hex(ord(c)), row, pretokenize(t))
        for c, t, row in zip(chars, texts, words, strict=True)
        if [w.decode("utf-8") for w in row] != pretokenize(t)
    ]
    assert not bad, f"{len(bad)} code points split differently: {bad[:10]}"
