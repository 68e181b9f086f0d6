"""Write a corpus back to disk in the format its reader reads, atomically.

Example:
>>> import pathlib, tempfile
>>> from keras_lm.data.corpus import Corpus
>>> from keras_lm.data.readers import read_parallel
>>> p = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
>>> _ = write_corpus(Corpus.from_pairs([("Hi.", "Hola.")]), p)
>>> read_parallel(p)[0].target
'Hola.'
"""

from __future__ import annotations

import os
from pathlib import Path

from keras_lm.data.corpus import Corpus
from keras_lm.errors import InputError
from keras_lm.io import write_text_atomic


def format_corpus(corpus: Corpus, text_column: str = "sentence") -> str:
    """`corpus` as file text: lines, parallel TSV, or labelled TSV with a header."""
    header = [f"{text_column}\tlabel"] if corpus.kind == "labelled" else []
    return "\n".join([*header, *(_format(r, corpus) for r in corpus.records)]) + "\n"


def write_corpus(corpus: Corpus, path: str | os.PathLike, text_column: str = "sentence") -> Path:
    """Write `corpus` in the format its reader reads, atomically."""
    return write_text_atomic(path, format_corpus(corpus, text_column))


def _format(record, corpus: Corpus) -> str:
    fields = {
        "text": lambda r: (r.text,),
        "parallel": lambda r: (r.source, r.target, *r.extra),
        "labelled": lambda r: (r.text, r.label),
    }[corpus.kind](record)
    for value in fields:
        if "\n" in value or (corpus.kind != "text" and "\t" in value):
            raise InputError(
                corpus.name,
                "a field holds a tab or newline and cannot be written as TSV",
                line=record.line,
            )
    return "\t".join(fields)
