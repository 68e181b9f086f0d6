"""preset_sentencepiece: keras-hub's ids and text for Llama-2-like and Gemma-like BPE models.

The models are trained here, once per module, on standard-library docstrings (offline), with
Llama 2's specials (<unk>=0 <s>=1 </s>=2, no pad, dummy prefix) and Gemma's (<pad>=0 <eos>=1
<bos>=2 <unk>=3, user-defined <mask>, no dummy prefix); both fall back to bytes.
"""

from __future__ import annotations

import inspect
import io
import json
import random
from pathlib import Path

import pytest
import sentencepiece as spm

from keras_lm.errors import ConfigError
from keras_lm.errors import InputError
from keras_lm.io import sha256_file
from keras_lm.tokenizers import PresetSentencePieceTokenizer
from keras_lm.tokenizers import TokenizerConfig
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers.preset_sentence_piece import from_preset_proto

UNICODE_LINES = [
    "¿Dónde está la biblioteca? Está cerca.",
    "Ça va très bien, merci ! Ünïcödé naïve café.",
    "I ❤️ keras — and TFLite too 🚀 👍🏽",
    "数据 quality matters: 中文 and English mixed.",
    "Привет, мир! Γειά σου κόσμε",
]
# Spaces, newlines, and characters the models never saw (they become byte pieces).
EDGE_TEXTS = [
    "",
    " ",
    "   ",
    "plain ascii text.",
    "  two leading spaces",
    "trailing spaces   ",
    "  both  and  multiple   inside  ",
    "line one\nline two\n\nline four\n",
    "\n leading newline",
    "tabs\tand\r\nwindows newlines",
    "accents: àéîõü ÀÉÎÕÜ ñ ç ß",
    "emoji 🚀🔥👍🏽❤️ and a flag 🇪🇸",
    "unseen: ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ᚠᚢᚦ தமிழ் \U0010ffff",
    "e\u0301 vs é, \u200b zero width, \ufeff bom, \xa0 nbsp",
    "a literal replacement char \ufffd stays",
    "1234567890 and 3.14159",
]
FUZZ_CHARS = [*"aZé ñ\t\n.,!¿'", "  ", "数", "🚀", "👍🏽", "ꙮ", "\U0001d400", "000", "\ufffd"]
COMMON = {
    "model_type": "bpe",
    "vocab_size": 700,
    "byte_fallback": True,
    "split_digits": True,
    "allow_whitespace_only_pieces": True,
    "normalization_rule_name": "identity",
    "remove_extra_whitespaces": False,
    "hard_vocab_limit": False,
    "num_threads": 1,
    "minloglevel": 2,
}
LLAMA = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1, "add_dummy_prefix": True}
GEMMA = {
    "pad_id": 0,
    "eos_id": 1,
    "bos_id": 2,
    "unk_id": 3,
    "pad_piece": "<pad>",
    "eos_piece": "<eos>",
    "bos_piece": "<bos>",
    "unk_piece": "<unk>",
    "user_defined_symbols": ["<mask>", "<start_of_turn>", "<end_of_turn>"],
    "add_dummy_prefix": False,
}
MODELS = ("llama", "gemma")


def _docstring_lines() -> list[str]:
    import argparse
    import collections
    import functools
    import pathlib
    import re
    import textwrap

    lines = []
    for module in (argparse, collections, functools, json, pathlib, re, textwrap):
        for _, obj in inspect.getmembers(module):
            lines += (inspect.getdoc(obj) or "").splitlines()
    return list(dict.fromkeys(line for line in lines if line.strip()))


def _train(path: Path, lines: list[str], **options) -> Path:
    model = io.BytesIO()
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, **{**COMMON, **options}
    )
    path.write_bytes(model.getvalue())
    return path


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return _docstring_lines()


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, corpus) -> dict[str, Path]:
    """name -> the trained model's file (what a preset ships as vocabulary.spm)."""
    folder = tmp_path_factory.mktemp("spm")
    lines = corpus[::2] + UNICODE_LINES * 10  # every other line: the rest stays unseen
    return {
        "llama": _train(folder / "llama.spm", lines, **LLAMA),
        "gemma": _train(folder / "gemma.spm", lines, **GEMMA),
    }


@pytest.fixture(scope="module")
def tokenizers(model_files) -> dict[str, PresetSentencePieceTokenizer]:
    return {name: from_preset_proto(path, max_bytes=1 << 20) for name, path in model_files.items()}


@pytest.fixture(scope="module")
def texts(corpus) -> list[str]:
    rng = random.Random(0)
    fuzz = ["".join(rng.choices(FUZZ_CHARS, k=rng.randint(0, 12))) for _ in range(200)]
    return [*EDGE_TEXTS, *UNICODE_LINES, *corpus[1::2][:300], *fuzz]


@pytest.fixture(scope="module")
def keras_hub_layers(model_files):
    """name -> keras_hub's SentencePieceTokenizer on the same proto (its eager, Python path)."""
    keras_hub = pytest.importorskip("keras_hub")
    return {
        name: keras_hub.tokenizers.SentencePieceTokenizer(proto=path.read_bytes())
        for name, path in model_files.items()
    }


def test_specials_come_from_the_model(tokenizers):
    llama, gemma = tokenizers["llama"], tokenizers["gemma"]
    # Llama 2 has no pad: keras-hub's LlamaTokenizer pads with id 0 (<unk>); mask falls back to it.
    assert llama.specials.to_dict() == {
        "pad": {"token": "<unk>", "id": 0},
        "unk": {"token": "<unk>", "id": 0},
        "start": {"token": "<s>", "id": 1},
        "end": {"token": "</s>", "id": 2},
        "mask": {"token": "<unk>", "id": 0},
    }
    assert gemma.specials.ids() == (0, 3, 2, 1, 4)
    assert gemma.specials.tokens() == ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>")
    ids = gemma.encode("hi", add_start=True, add_end=True)
    assert (ids[0], ids[-1]) == (2, 1)


@pytest.mark.parametrize("name", MODELS)
def test_ids_and_text_match_keras_hub(name, tokenizers, keras_hub_layers, texts):
    tok, layer = tokenizers[name], keras_hub_layers[name]
    ids = tok.encode_batch(texts)
    assert ids == [tok.encode(t) for t in texts]
    assert ids == [list(map(int, row)) for row in layer.tokenize(texts)]
    byte_ids = {i for i, t in enumerate(tok.vocabulary()) if t.startswith("<0x")}
    assert any(i in byte_ids for i in tok.encode("ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢")), "expected byte fallback"
    decoded = tok.decode_batch(ids)
    expected = layer.detokenize(ids)
    bad = [(t, d, e) for t, d, e in zip(texts, decoded, expected, strict=True) if d != e]
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:3]}"
    assert [d for d, t in zip(decoded, texts, strict=True) if d != t] == []  # round trip


@pytest.mark.parametrize("name", MODELS)
def test_decode_of_any_ids_matches_keras_hub(name, tokenizers, keras_hub_layers):
    """Arbitrary ids (pad/start/end/mask dropped first): leading "▁" pieces, unk, broken UTF-8."""
    tok, layer = tokenizers[name], keras_hub_layers[name]
    rng, skip = random.Random(1), tok.specials.skip_ids
    keep = [i for i in range(tok.vocab_size) if i not in skip]
    byte_ids = [i for i, t in enumerate(tok.vocabulary()) if t.startswith("<0x")]
    space = tok.token_to_id("\u2581")
    rows = [rng.choices(keep, k=rng.randint(0, 20)) for _ in range(400)]
    rows += [rng.choices(byte_ids, k=rng.randint(1, 8)) for _ in range(400)]
    rows += [[space, space, byte_ids[97]], [space, *tok.encode(" a")], [tok.specials.unk_id]]
    rows = [[i for i in row if i not in skip] for row in rows]  # Llama's unk is its pad
    pairs = zip(tok.decode_batch(rows), layer.detokenize(rows), strict=True)
    bad = [(row, a, b) for row, (a, b) in zip(rows, pairs, strict=True) if a != b]
    assert not bad, f"{len(bad)} of {len(rows)} differ, e.g. {bad[:3]}"


def test_specials_in_decode(tokenizers):
    llama, gemma = tokenizers["llama"], tokenizers["gemma"]
    ids = gemma.encode("a <mask> b", add_start=True, add_end=True)
    assert 4 in ids  # the literal text is the user-defined piece
    assert gemma.decode(ids) == "a  b"
    assert gemma.decode(ids, skip_special=False) == "<bos>a <mask> b<eos>"
    ids = llama.encode("Hello", add_start=True, add_end=True)
    assert llama.decode([0, *ids, 0]) == "Hello"  # pad (= <unk>) dropped
    assert llama.decode(ids, skip_special=False) == "<s> Hello</s>"
    assert gemma.decode([3]) == " \u2047 "  # unk renders as sentencepiece's surface


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name, tokenizers, texts, tmp_path):
    tok = tokenizers[name]
    folder = tok.save(tmp_path / "tok")
    config = json.loads((folder / "tokenizer.json").read_text())
    assert config["kind"] == "preset_sentencepiece" and config["asset"]["file"] == "spm.model"
    loaded = load_tokenizer(folder)
    assert isinstance(loaded, PresetSentencePieceTokenizer)
    assert loaded.specials == tok.specials and loaded.proto == tok.proto
    assert loaded.encode_batch(texts) == tok.encode_batch(texts)


def test_a_tampered_asset_or_config_is_refused(tokenizers, model_files, tmp_path):
    folder = tokenizers["llama"].save(tmp_path / "tok")
    asset = folder / "spm.model"
    original = asset.read_bytes()
    asset.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(InputError, match="sha256") as err:
        load_tokenizer(folder)
    assert err.value.path == str(asset)
    # Another model with its sha256 recorded: its specials differ from tokenizer.json's.
    asset.write_bytes(model_files["gemma"].read_bytes())
    config = json.loads((folder / "tokenizer.json").read_text())
    config["asset"]["sha256"] = sha256_file(asset)
    (folder / "tokenizer.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="special_tokens"):
        load_tokenizer(folder)


def test_from_preset_proto_refuses_what_is_not_a_bpe_preset_model(model_files, corpus, tmp_path):
    with pytest.raises(InputError, match="file not found") as err:
        from_preset_proto(tmp_path / "missing.spm", max_bytes=1 << 20)
    for name, data in [
        ("text.spm", b"not a model at all"),
        ("json.spm", b'{"a": 1}'),
        ("empty.spm", b""),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match="not a serialized SentencePiece model") as err:
            from_preset_proto(tmp_path / name, max_bytes=1 << 20)
        assert err.value.path == str(tmp_path / name)
    with pytest.raises(InputError, match="larger than 100 bytes"):
        from_preset_proto(model_files["llama"], max_bytes=100)
    lines = corpus[:300]
    unigram = _train(tmp_path / "unigram.spm", lines, **{**LLAMA, "model_type": "unigram"})
    with pytest.raises(InputError, match="a unigram model") as err:
        from_preset_proto(unigram, max_bytes=1 << 20)
    assert err.value.path == str(unigram)
    no_bos = _train(tmp_path / "no_bos.spm", lines, **{**LLAMA, "bos_id": -1})
    with pytest.raises(InputError, match="has no bos piece"):
        from_preset_proto(no_bos, max_bytes=1 << 20)
    with pytest.raises(InputError, match="sentencepiece model: a unigram"):
        PresetSentencePieceTokenizer(unigram.read_bytes())


def test_the_kind_is_a_runs_tokenizer_but_cannot_be_trained():
    from keras_lm.tokenizers.training import train_tokenizer

    config = TokenizerConfig.from_dict({"kind": "preset_sentencepiece"})  # an imported run's
    with pytest.raises(ConfigError, match="keras-hub preset"):
        train_tokenizer(["some text"], config)
    with pytest.raises(ConfigError, match="kind"):
        TokenizerConfig(kind="unigram")


@pytest.mark.parametrize("name", MODELS)
def test_tf_twin_gives_the_same_ids_and_text(name, tokenizers, texts, twins):
    tf = pytest.importorskip("tensorflow")
    tok = tokenizers[name]
    ids = tok.encode_batch(texts)
    assert not (report := twins.mismatches(texts, ids, twins.tokenize(tok, texts))), report
    rng = random.Random(2)
    rows = [*ids, *([rng.randrange(tok.vocab_size) for _ in range(12)] for _ in range(300))]
    labels = [str(r) for r in rows]
    assert not (
        report := twins.mismatches(labels, tok.decode_batch(rows), twins.detokenize(tok, rows))
    ), report
    graph = tok.to_tf()
    mapped = tf.data.Dataset.from_tensor_slices(texts[:8]).map(
        lambda t: graph.tokenize(t, add_start=True)
    )
    assert [x.numpy().tolist() for x in mapped] == tok.encode_batch(texts[:8], add_start=True)


def test_tf_twin_survives_a_savedmodel(tokenizers, tmp_path):
    tf = pytest.importorskip("tensorflow")
    tok = tokenizers["llama"]

    class Serving(tf.Module):
        def __init__(self, graph):
            super().__init__()
            self.graph = graph

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def echo(self, texts):
            return {"text": self.graph.detokenize(self.graph.tokenize(texts, add_start=True))}

    module = Serving(tok.to_tf())
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"echo": module.echo})
    restored = tf.saved_model.load(str(tmp_path / "sm")).signatures["echo"]
    texts = ["  Él dijo:\n ꙮ 🚀 ", "The end."]
    assert [s.decode() for s in restored(texts=tf.constant(texts))["text"].numpy()] == texts
