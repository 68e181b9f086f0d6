"""TensorFlow graph twins of the pure tokenizers, built on keras_hub tokenizer layers.

The only tokenizer module that imports TensorFlow and keras_hub. A twin is a `tf.Module`
whose `tokenize` (tf.string [B] or scalar -> int32 RaggedTensor [B, None], or 1-D
int32 for a scalar) and `detokenize` (int ids, ragged or dense [B, T], or 1-D -> tf.string
[B] or scalar) work eagerly, inside `tf.data.Dataset.map` and inside a `tf.function`, so
they can go into SavedModel string-in/string-out signatures. They give exactly the ids
and strings of the pure twin: detokenize drops pad/start/end/mask, as
`decode(skip_special=True)` does.

Example:
>>> from keras_lm.tokenizers import ByteTokenizer
>>> graph = ByteTokenizer().to_tf()
>>> graph.tokenize(["hé"]).to_list()
[[109, 200, 174]]
>>> graph.detokenize([[2, 109, 200, 174, 3, 0]]).numpy().tolist()
[b'h\\xc3\\xa9']
"""

from __future__ import annotations

import keras_hub
import tensorflow as tf

from keras_lm.tokenizers.base import Tokenizer
from keras_lm.tokenizers.byte import OFFSET
from keras_lm.tokenizers.word_piece import SUFFIX

_IDS_SPEC = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1, row_splits_dtype=tf.int64)


class TFTokenizer(tf.Module):
    """Base of the graph twins: shapes, start/end framing and dropping special ids.

    Subclasses implement `_tokenize(texts [B]) -> ragged int [B, None]` and
    `_detokenize(ragged int32 [B, None]) -> string [B]`.
    """

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(name=f"{tokenizer.kind}_tokenizer")
        self.kind = tokenizer.kind
        self.vocab_size = tokenizer.vocab_size
        self.start_id = tokenizer.specials.start_id
        self.end_id = tokenizer.specials.end_id
        self._skip_ids = tf.constant(sorted(tokenizer.specials.skip_ids), tf.int32)

    def tokenize(self, texts, add_start: bool = False, add_end: bool = False):
        """Token ids: int32 RaggedTensor [B, None] for texts [B]; a 1-D int32 tensor for a scalar."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if texts.shape.rank == 0:
            return self.tokenize(texts[tf.newaxis], add_start, add_end)[0]
        ids = self._tokenize_batch(texts)
        if add_start or add_end:
            ids = self._frame(ids, add_start, add_end)
        return ids

    def detokenize(self, ids):
        """Strings [B] of ids [B, T] (ragged or dense; pad/start/end/mask dropped); scalar for 1-D ids."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
            if ids.shape.rank == 1:
                return self.detokenize(ids[tf.newaxis])[0]
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.cast(ids, tf.int32).with_row_splits_dtype(tf.int64)
        return self._detokenize_batch(ids)

    __call__ = tokenize

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def _tokenize_batch(self, texts):
        return tf.cast(self._tokenize(texts), tf.int32)

    @tf.function(input_signature=[_IDS_SPEC])
    def _detokenize_batch(self, ids):
        flat = ids.flat_values
        keep = tf.reduce_all(
            tf.not_equal(flat[:, tf.newaxis], self._skip_ids[tf.newaxis, :]), axis=1
        )
        ids = tf.ragged.boolean_mask(ids, ids.with_flat_values(keep))
        return self._detokenize(ids)

    def _frame(self, ids, add_start: bool, add_end: bool):
        column = tf.stack([ids.nrows(), 1])
        parts = [ids]
        if add_start:
            parts.insert(0, tf.RaggedTensor.from_tensor(tf.fill(column, self.start_id)))
        if add_end:
            parts.append(tf.RaggedTensor.from_tensor(tf.fill(column, self.end_id)))
        return tf.concat(parts, axis=1)

    def _tokenize(self, texts):
        raise NotImplementedError

    def _detokenize(self, ids):
        raise NotImplementedError


class CharGraph(TFTokenizer):
    """Code points (keras_hub UnicodeCodepointTokenizer) looked up in a hash table; unknown -> unk."""

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(tokenizer)
        vocab = tokenizer.vocabulary()
        first = len(tokenizer.specials.tokens())
        self._codepoints = keras_hub.tokenizers.UnicodeCodepointTokenizer(
            lowercase=False, errors="replace", _allow_python_workflow=False
        )
        keys = tf.constant([ord(t) for t in vocab[first:]], tf.int32)
        values = tf.range(first, len(vocab), dtype=tf.int32)
        init = tf.lookup.KeyValueTensorInitializer(keys, values)
        self._table = tf.lookup.StaticHashTable(init, default_value=tokenizer.specials.unk_id)
        self._strings = tf.constant(vocab)

    def _tokenize(self, texts):
        return tf.ragged.map_flat_values(self._table.lookup, self._codepoints.tokenize(texts))

    def _detokenize(self, ids):
        return tf.strings.reduce_join(tf.gather(self._strings, ids), axis=-1)


class ByteGraph(TFTokenizer):
    """UTF-8 bytes (keras_hub ByteTokenizer) + 5; decoding joins bytes, invalid UTF-8 -> U+FFFD."""

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(tokenizer)
        self._bytes = keras_hub.tokenizers.ByteTokenizer(
            lowercase=False, _allow_python_workflow=False
        )
        pieces = [t.encode("ascii") for t in tokenizer.specials.tokens()] + [
            bytes([b]) for b in range(256)
        ]
        self._pieces = tf.constant(pieces)

    def _tokenize(self, texts):
        return self._bytes.tokenize(texts) + OFFSET

    def _detokenize(self, ids):
        joined = tf.strings.reduce_join(tf.gather(self._pieces, ids), axis=-1)
        return tf.strings.unicode_transcode(
            joined, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )


class WordPieceGraph(TFTokenizer):
    """keras_hub WordPieceTokenizer (tensorflow-text FastWordpiece) on the same vocabulary."""

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(tokenizer)
        options = tokenizer.options()
        self._layer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=tokenizer.vocabulary(),
            lowercase=options["lowercase"],
            strip_accents=options["strip_accents"],
            split=True,
            split_on_cjk=options["split_on_cjk"],
            suffix_indicator=SUFFIX,
            oov_token=tokenizer.specials.unk,
            _allow_python_workflow=False,
        )

    def _tokenize(self, texts):
        return self._layer.tokenize(texts)

    def _detokenize(self, ids):
        return self._layer.detokenize(ids)


class SentencePieceGraph(TFTokenizer):
    """keras_hub SentencePieceTokenizer (tensorflow-text SentencePiece) on the same model proto.

    Decoding joins the pieces' surfaces from a table instead of calling tf-text's
    detokenizer, which drops every leading space (see `SentencePieceTokenizer._decode`).
    """

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(tokenizer)
        self._layer = keras_hub.tokenizers.SentencePieceTokenizer(
            proto=tokenizer.proto, _allow_python_workflow=False
        )
        surfaces, first = tokenizer.surfaces()
        self._surfaces = tf.constant(surfaces)
        self._first_surfaces = tf.constant(first)

    def _tokenize(self, texts):
        return self._layer.tokenize(texts)

    def _detokenize(self, ids):
        head = tf.strings.reduce_join(tf.gather(self._first_surfaces, ids[:, :1]), axis=-1)
        tail = tf.strings.reduce_join(tf.gather(self._surfaces, ids[:, 1:]), axis=-1)
        return tf.strings.unicode_transcode(
            head + tail, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )


class PresetSentencePieceGraph(SentencePieceGraph):
    """A preset's SentencePiece model: the same tokenize; decoding as the Python library's
    (keras_hub's eager detokenize; see `PresetSentencePieceTokenizer._decode`) from tables.

    Control pieces are dropped before the first visible piece is found, and invalid UTF-8
    becomes one U+FFFD per byte (`_utf8_per_byte`), where tf-text's detokenizer differs.
    """

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(tokenizer)
        self._visible = tf.constant(tokenizer.visible())

    def _detokenize(self, ids):
        keep = ids.with_flat_values(tf.gather(self._visible, ids.flat_values))
        ids = tf.ragged.boolean_mask(ids, keep)
        head = tf.strings.reduce_join(tf.gather(self._first_surfaces, ids[:, :1]), axis=-1)
        tail = tf.strings.reduce_join(tf.gather(self._surfaces, ids[:, 1:]), axis=-1)
        return _utf8_per_byte(head + tail)


def _utf8_per_byte(texts):
    """Strings [B] as valid UTF-8, one U+FFFD per invalid byte (sentencepiece's decoder).

    TensorFlow's "replace" gives one U+FFFD per maximal invalid subsequence, whose bytes
    would each be invalid alone: repeat each replacement by its width in bytes (a literal
    U+FFFD in the text, the bytes EF BF BD, stays one).
    """
    codes, starts = tf.strings.unicode_decode_with_offsets(
        texts, "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    rows = codes.value_rowids()  # int64, as the offsets
    flat_starts = starts.flat_values
    count = tf.shape(flat_starts, out_type=tf.int64)[0]
    is_last = tf.equal(tf.range(count), tf.gather(codes.row_limits(), rows) - 1)
    next_starts = tf.concat([flat_starts[1:], flat_starts[:1]], axis=0)  # last: unused
    lengths = tf.gather(tf.cast(tf.strings.length(texts), tf.int64), rows)
    widths = tf.where(is_last, lengths, next_starts) - flat_starts
    three = tf.fill(tf.shape(rows), tf.constant(3, tf.int64))
    literal = tf.equal(tf.strings.substr(tf.gather(texts, rows), flat_starts, three), "\ufffd")
    replaced = tf.logical_and(tf.equal(codes.flat_values, 0xFFFD), tf.logical_not(literal))
    repeats = tf.where(replaced, widths, tf.ones_like(widths))
    codes = tf.RaggedTensor.from_value_rowids(
        tf.repeat(codes.flat_values, repeats), tf.repeat(rows, repeats), nrows=codes.nrows()
    )
    return tf.strings.unicode_encode(codes, "UTF-8")


class ByteBPEGraph(TFTokenizer):
    """keras_hub BytePairTokenizer on the same vocabulary and merges, the end token unsplittable
    (what `GPT2Tokenizer` builds for "<|endoftext|>"); decoding joins the ids' bytes from a table.
    """

    def __init__(self, tokenizer: Tokenizer):
        super().__init__(tokenizer)
        vocabulary = {t: i for i, t in enumerate(tokenizer.vocabulary())}
        self._layer = keras_hub.tokenizers.BytePairTokenizer(
            vocabulary=vocabulary,
            merges=tokenizer.merges,
            unsplittable_tokens=[tokenizer.end_token],
            _allow_python_workflow=False,
        )
        self._surfaces = tf.constant(tokenizer.surfaces())

    def _tokenize(self, texts):
        return self._layer.tokenize(texts)

    def _detokenize(self, ids):
        joined = tf.strings.reduce_join(tf.gather(self._surfaces, ids), axis=-1)
        return tf.strings.unicode_transcode(
            joined, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )


GRAPHS: dict[str, type[TFTokenizer]] = {
    "char": CharGraph,
    "byte": ByteGraph,
    "wordpiece": WordPieceGraph,
    "sentencepiece": SentencePieceGraph,
    "byte_bpe": ByteBPEGraph,
    "bert_wordpiece": WordPieceGraph,  # the same layer; only the specials' ids differ
    "preset_sentencepiece": PresetSentencePieceGraph,
}


def build_graph_tokenizer(tokenizer: Tokenizer) -> TFTokenizer:
    """The graph twin of a pure tokenizer (what `tokenizer.to_tf()` returns)."""
    return GRAPHS[tokenizer.kind](tokenizer)
