"""A tiny keras-hub GPT-2 preset, made offline: a byte-level BPE trained on Python's own
docstrings, a randomly initialised `GPT2Backbone`, written by keras-hub's `save_to_preset`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras_hub")
pytest.importorskip("tokenizers")

END = "<|endoftext|>"


def train_byte_bpe(texts: list[str], vocab_size: int) -> tuple[dict[str, int], list[str]]:
    """GPT-2's kind of vocabulary and merges, trained with Hugging Face `tokenizers`."""
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import pre_tokenizers
    from tokenizers import trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return tok.get_vocab(), [m if isinstance(m, str) else " ".join(m) for m in merges]


def save_tiny_gpt2(folder: Path, vocabulary: dict, merges: list[str], seed: int = 0) -> Path:
    """A GPT2CausalLM preset: 2 layers, 16 wide; weights drawn wide enough that greedy has no ties."""
    import keras_hub

    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=64)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=64,
        dropout=0.0,
    )
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        variable.assign(rng.normal(0.0, 0.3, variable.shape).astype("float32"))
    keras_hub.models.GPT2CausalLM(backbone, preprocessor).save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2_preset(tmp_path_factory) -> Path:
    """The folder of a tiny GPT-2 preset (read-only: tests that tamper with it copy it first)."""
    from keras_lm.data.embedded import stdlib_docs_corpus

    texts = stdlib_docs_corpus(max_chars=300_000).texts()
    vocabulary, merges = train_byte_bpe(texts, vocab_size=400)
    return save_tiny_gpt2(tmp_path_factory.mktemp("presets") / "tiny-gpt2", vocabulary, merges)


@pytest.fixture(scope="session")
def tiny_gpt2_run(tiny_gpt2_preset, tmp_path_factory) -> Path:
    """The tiny preset imported once per session (context cut to 48); read-only."""
    from keras_lm.presets.importer import ImportConfig
    from keras_lm.presets.importer import import_preset

    out = tmp_path_factory.mktemp("imported") / "tiny-gpt2"
    config = ImportConfig(preset=str(tiny_gpt2_preset), out=str(out), context=48, check_prompts=3)
    return import_preset(config)
