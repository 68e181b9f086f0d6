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
# Every tiny preset's backbone: 2 layers, 16 wide, 64 positions.
TINY_SHAPE = dict(
    num_layers=2,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=64,
    dropout=0.0,
)


def train_byte_bpe(
    texts: list[str], vocab_size: int, specials: tuple[str, ...] = (END,)
) -> tuple[dict[str, int], list[str]]:
    """GPT-2's kind of vocabulary and merges, trained with Hugging Face `tokenizers`."""
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import pre_tokenizers
    from tokenizers import trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
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
        **TINY_SHAPE,
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


BERT_RESERVED = ["[PAD]", *(f"[unused{i}]" for i in range(6)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_word_piece(texts: list[str], vocab_size: int) -> list[str]:
    """A BERT-style uncased vocabulary (keras-hub's trainer); [UNK] [CLS] [SEP] [MASK] at 7..10,
    not at keras_lm's fixed 1..4, as BERT's own are at 100..103."""
    import keras_hub
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices([t for t in texts if t]).batch(4096)
    return keras_hub.tokenizers.compute_word_piece_vocabulary(
        data, vocabulary_size=vocab_size, lowercase=True, reserved_tokens=BERT_RESERVED
    )


def save_tiny_bert(folder: Path, vocabulary: list[str], texts: list[str], seed: int = 0) -> Path:
    """A 3-class BertTextClassifier preset: 2 layers, 16 wide, weights drawn wide, and the
    pooler's and head's biases centred on `texts`, so that their classes vary (a random BERT
    puts every text in one class: its [CLS] vector hardly depends on the text)."""
    import keras_hub

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=64)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        **TINY_SHAPE,
    )
    classifier = keras_hub.models.BertTextClassifier(
        backbone, 3, preprocessor=preprocessor, dropout=0.0
    )
    rng = np.random.default_rng(seed)
    for variable in classifier.weights:
        variable.assign(rng.normal(0.0, 1.0, variable.shape).astype("float32"))
    first = np.asarray(backbone(preprocessor(texts))["sequence_output"])[:, 0]  # (N, D)
    pooler, head = backbone.pooled_dense, classifier.output_dense
    hidden = first @ np.asarray(pooler.kernel)
    pooler.bias.assign(-hidden.mean(0))
    logits = np.tanh(hidden - hidden.mean(0)) @ np.asarray(head.kernel)
    head.bias.assign(-logits.mean(0))
    classifier.save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_bert_preset(tmp_path_factory) -> Path:
    """The folder of a tiny BERT classifier preset, 3 classes (read-only: tamperers copy it)."""
    from keras_lm.data.embedded import stdlib_docs_corpus
    from keras_lm.data.embedded import stdlib_kinds_corpus

    texts = stdlib_docs_corpus(max_chars=200_000).texts()
    vocabulary = train_word_piece(texts, vocab_size=400)
    kinds = stdlib_kinds_corpus().texts()[:256]
    return save_tiny_bert(tmp_path_factory.mktemp("presets") / "tiny-bert", vocabulary, kinds)


@pytest.fixture(scope="session")
def tiny_bert_run(tiny_bert_preset, tmp_path_factory) -> Path:
    """The tiny BERT imported once per session, checked on stdlib-kinds (3 labels); read-only."""
    from keras_lm.presets.importer import ImportConfig
    from keras_lm.presets.importer import import_preset

    out = tmp_path_factory.mktemp("imported") / "tiny-bert"
    config = ImportConfig(
        preset=str(tiny_bert_preset), out=str(out), dataset="stdlib-kinds", check_prompts=8
    )
    return import_preset(config)


@pytest.fixture
def preset_copy(tmp_path):
    """`preset_copy(folder)`: a private copy of a session preset, to damage."""
    import shutil

    return lambda preset: Path(shutil.copytree(preset, tmp_path / "preset"))


@pytest.fixture
def edit_json():
    """`edit_json(path, edit)`: `edit(data)` on a JSON file's data, written back."""

    def edit_file(path: Path, edit) -> None:
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return edit_file


LLAMA3_SPECIALS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
)
# Every tiny Llama-style backbone: 2 layers, 16 wide, 4 query heads sharing 2 key/value heads.
TINY_LLAMA = dict(
    num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16, intermediate_dim=32
)


def randomize(model, seed: int = 0, scale: float = 0.3) -> None:
    """Weights drawn wide enough that greedy decoding has no near ties."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, scale, variable.shape).astype("float32"))


@pytest.fixture(scope="session")
def tiny_llama3_preset(tmp_path_factory) -> Path:
    """A tiny Llama3CausalLM preset: byte-level BPE with Llama 3's specials, GQA backbone, tied
    embeddings as Llama 3.2's (keras-hub leaves `tie_word_embeddings` out of config.json)."""
    import keras_hub

    from keras_lm.data.embedded import stdlib_docs_corpus

    texts = stdlib_docs_corpus(max_chars=300_000).texts()
    vocabulary, merges = train_byte_bpe(texts, 400, LLAMA3_SPECIALS)
    tokenizer = keras_hub.models.Llama3Tokenizer(vocabulary=vocabulary, merges=merges)
    backbone = keras_hub.models.Llama3Backbone(
        vocabulary_size=len(vocabulary),
        rope_max_wavelength=500_000,
        tie_word_embeddings=True,
        **TINY_LLAMA,
    )
    folder = tmp_path_factory.mktemp("presets") / "tiny-llama3"
    return save_causal_lm(folder, "Llama3", tokenizer, backbone)


def import_tiny(preset: Path, root: Path, **options) -> Path:
    """`preset` imported into `root / preset.name` (context 48, 3 prompts checked)."""
    from keras_lm.presets.importer import ImportConfig
    from keras_lm.presets.importer import import_preset

    config = ImportConfig(
        preset=str(preset), out=str(root / preset.name), context=48, check_prompts=3, **options
    )
    return import_preset(config)


@pytest.fixture(scope="session")
def tiny_llama3_run(tiny_llama3_preset, tmp_path_factory) -> Path:
    """The tiny Llama 3 imported once per session; read-only."""
    return import_tiny(tiny_llama3_preset, tmp_path_factory.mktemp("imported"))


def train_sentence_piece(texts: list[str], **specials) -> bytes:
    """A 600-piece SentencePiece BPE model with byte fallback and identity normalization, which
    keeps every space, as Llama's and Gemma's are."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=600,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=0.995,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        minloglevel=2,
        **specials,
    )
    return model.getvalue()


def save_causal_lm(folder: Path, name: str, tokenizer, backbone) -> Path:
    """keras-hub's `<name>CausalLM` over `backbone` (randomized) saved with `save_to_preset`."""
    import keras_hub

    preprocessor = getattr(keras_hub.models, f"{name}CausalLMPreprocessor")(
        tokenizer, sequence_length=64
    )
    randomize(backbone)
    getattr(keras_hub.models, f"{name}CausalLM")(backbone, preprocessor).save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_llama_preset(tmp_path_factory) -> Path:
    """A tiny LlamaCausalLM preset: SentencePiece with Llama 2's <unk> <s> </s> at 0..2, no pad."""
    import keras_hub

    from keras_lm.data.embedded import stdlib_docs_corpus

    proto = train_sentence_piece(
        stdlib_docs_corpus(max_chars=200_000).texts(), unk_id=0, bos_id=1, eos_id=2, pad_id=-1
    )
    tokenizer = keras_hub.models.LlamaTokenizer(proto=proto)
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), **TINY_LLAMA
    )
    folder = tmp_path_factory.mktemp("presets") / "tiny-llama"
    return save_causal_lm(folder, "Llama", tokenizer, backbone)


@pytest.fixture(scope="session")
def tiny_gemma_preset(tmp_path_factory) -> Path:
    """A tiny GemmaCausalLM preset: Gemma's <pad> <eos> <bos> <unk> at 0..3, head width 6, MQA."""
    import keras_hub

    from keras_lm.data.embedded import stdlib_docs_corpus

    proto = train_sentence_piece(
        stdlib_docs_corpus(max_chars=200_000).texts(),
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        user_defined_symbols=["<mask>"],
        add_dummy_prefix=False,
    )
    tokenizer = keras_hub.models.GemmaTokenizer(proto=proto)
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=2,
        num_query_heads=4,
        num_key_value_heads=1,
        hidden_dim=16,
        intermediate_dim=64,
        head_dim=6,
    )
    folder = tmp_path_factory.mktemp("presets") / "tiny-gemma"
    return save_causal_lm(folder, "Gemma", tokenizer, backbone)


@pytest.fixture(scope="session")
def tiny_llama_run(tiny_llama_preset, tmp_path_factory) -> Path:
    """The tiny Llama 2 imported once per session; read-only."""
    return import_tiny(tiny_llama_preset, tmp_path_factory.mktemp("imported"))


@pytest.fixture(scope="session")
def tiny_gemma_run(tiny_gemma_preset, tmp_path_factory) -> Path:
    """The tiny Gemma imported once per session; read-only."""
    return import_tiny(tiny_gemma_preset, tmp_path_factory.mktemp("imported"))
