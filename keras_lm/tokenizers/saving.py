"""`load_tokenizer(directory)`: read tokenizer.json and its asset back into the right pure class.

Every problem (missing or corrupt file, unknown kind or version, special tokens that
differ from the fixed ones, or for byte_bpe, bert_wordpiece and preset_sentencepiece from
those its asset gives, an asset whose sha256 is not the recorded one) raises `InputError`
naming the file and what was expected.

Example:
>>> import tempfile
>>> from keras_lm.tokenizers import CharTokenizer
>>> d = CharTokenizer.train(["ab"]).save(tempfile.mkdtemp() + "/tok")
>>> load_tokenizer(d).encode("ba")
[7, 6]
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from keras_lm.errors import InputError
from keras_lm.io import sha256_file
from keras_lm.tokenizers.base import CONFIG_NAME
from keras_lm.tokenizers.base import FORMAT
from keras_lm.tokenizers.base import FORMAT_VERSION
from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.specials import SPECIALS
from keras_lm.tokenizers.specials import SpecialTokens

# kind -> (module, class). A kind's module, and the library it wraps, is imported when a
# tokenizer of that kind is loaded: loading a char tokenizer imports no sentencepiece.
KINDS: dict[str, tuple[str, str]] = {
    "char": ("char", "CharTokenizer"),
    "byte": ("byte", "ByteTokenizer"),
    "wordpiece": ("word_piece", "WordPieceTokenizer"),
    "sentencepiece": ("sentence_piece", "SentencePieceTokenizer"),
    "byte_bpe": ("byte_bpe", "ByteBPETokenizer"),
    "bert_wordpiece": ("bert_word_piece", "BertWordPieceTokenizer"),
    "preset_sentencepiece": ("preset_sentence_piece", "PresetSentencePieceTokenizer"),
}


def kind_class(kind: str) -> type[Tokenizer]:
    """The tokenizer class of `kind` (a key of `KINDS`), its module imported on first use."""
    module, name = KINDS[kind]
    return getattr(importlib.import_module(f"keras_lm.tokenizers.{module}"), name)


def load_tokenizer(directory: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer saved by `Tokenizer.save` (TensorFlow is not imported)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(
            str(directory),
            "tokenizer directory not found (expected a folder holding tokenizer.json)",
        )
    config_path = directory / CONFIG_NAME
    config = read_config(config_path)
    cls = kind_class(config["kind"])
    asset = _checked_asset(directory, config, cls, config_path)
    try:
        tokenizer = cls._from_asset(asset, config.get("options") or {})
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(
            str(config_path), f"bad options for kind {cls.kind!r}: {err}", field="options"
        ) from None
    recorded = SpecialTokens.from_dict(config["special_tokens"])
    if tokenizer.specials != recorded:
        raise InputError(
            str(config_path),
            f"records {recorded.to_dict()} but {cls.asset_name} gives {tokenizer.specials.to_dict()}",
            field="special_tokens",
        )
    if tokenizer.vocab_size != config["vocab_size"]:
        raise InputError(
            str(asset or config_path),
            f"holds {tokenizer.vocab_size} tokens but tokenizer.json records vocab_size {config['vocab_size']}",
        )
    tokenizer.training = config.get("training")
    return tokenizer


def read_config(path: Path) -> dict[str, Any]:
    """Parse and check tokenizer.json (format, version, kind, special tokens, vocab_size).

    Kinds with fixed specials must record `SPECIALS`; the others' are checked against
    their asset by `load_tokenizer`.
    """
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            str(path), "file not found: expected the tokenizer config written by Tokenizer.save"
        ) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(str(path), f"not valid JSON: {err}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise InputError(
            str(path), f'not a keras_lm tokenizer config (expected "format": "{FORMAT}")'
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise InputError(
            str(path),
            f"format_version {config.get('format_version')!r} is not supported (expected {FORMAT_VERSION})",
        )
    if config.get("kind") not in KINDS:
        raise InputError(
            str(path), f"kind {config.get('kind')!r} is not one of {sorted(KINDS)}", field="kind"
        )
    try:
        specials = SpecialTokens.from_dict(config["special_tokens"])
    except (KeyError, TypeError, ValueError):
        specials = None
    if kind_class(config["kind"]).fixed_specials and specials != SPECIALS:
        raise InputError(
            str(path),
            f"special_tokens must be the fixed ones {SPECIALS.to_dict()}",
            field="special_tokens",
        )
    if specials is None:
        raise InputError(
            str(path),
            'special_tokens: expected {"pad": {"token": ..., "id": ...}, ...} for the roles '
            "pad, unk, start, end and mask",
            field="special_tokens",
        )
    if not isinstance(config.get("vocab_size"), int):
        raise InputError(str(path), "vocab_size: expected an integer", field="vocab_size")
    return config


def _checked_asset(
    directory: Path, config: dict[str, Any], cls: type[Tokenizer], config_path: Path
) -> Path | None:
    """The asset's path, after checking its name and sha256 against tokenizer.json."""
    if cls.asset_name is None:
        return None
    asset = config.get("asset")
    if (
        not isinstance(asset, dict)
        or asset.get("file") != cls.asset_name
        or not asset.get("sha256")
    ):
        raise InputError(
            str(config_path),
            f'asset: expected {{"file": "{cls.asset_name}", "sha256": ...}}',
            field="asset",
        )
    path = directory / cls.asset_name
    if not path.is_file():
        raise InputError(
            str(path), f"file not found: tokenizer.json names it as the {cls.kind} asset"
        )
    actual = sha256_file(path)
    if actual != asset["sha256"]:
        raise InputError(
            str(path),
            f"sha256 {actual} does not match {asset['sha256']} recorded in tokenizer.json (file changed?)",
        )
    return path
