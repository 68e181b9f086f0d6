"""Readers: every format, and every kind of bad input names where it is."""

from __future__ import annotations

import pytest

from keras_lm.data.readers import guess_kind
from keras_lm.data.readers import read_corpus
from keras_lm.data.readers import read_labelled
from keras_lm.data.readers import read_parallel
from keras_lm.data.readers import read_text
from keras_lm.errors import InputError


def write(tmp_path, name, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def test_plain_text_keeps_blank_lines_and_line_numbers(tmp_path):
    path = write(tmp_path, "a.txt", "\ufeffFirst line\r\n\nThird\n")
    corpus = read_text(path)
    assert [r.text for r in corpus] == ["First line", "", "Third"]
    assert [r.line for r in corpus] == [1, 2, 3]
    assert corpus.kind == "text"


def test_parallel_with_extra_columns(tmp_path):
    path = write(tmp_path, "p.tsv", "Go.\tVe.\tCC-BY\nHi.\tHola.\tCC-BY\n")
    corpus = read_parallel(path)
    assert corpus.sources() == ["Go.", "Hi."]
    assert corpus.targets() == ["Ve.", "Hola."]
    assert corpus[1].extra == ("CC-BY",)


def test_parallel_wrong_column_count_names_the_line(tmp_path):
    path = write(tmp_path, "p.tsv", "Go.\tVe.\nHi.\tHola.\nBroken line without tab\n")
    with pytest.raises(
        InputError, match=r"p\.tsv:3: expected 2 tab-separated columns, found 1"
    ) as err:
        read_parallel(path)
    assert err.value.line == 3


def test_parallel_single_column_file_is_rejected(tmp_path):
    path = write(tmp_path, "p.tsv", "only one column\n")
    with pytest.raises(InputError, match="at least 2"):
        read_parallel(path)


def test_labelled_tsv_with_quotes_is_read_without_quoting(tmp_path):
    path = write(
        tmp_path, "s.tsv", "sentence\tlabel\nit 's a `` great '' film \t1\n\"bad\" movie\t0\n"
    )
    corpus = read_labelled(path, labels=["0", "1"])
    assert corpus.texts() == ["it 's a `` great '' film ", '"bad" movie']
    assert [r.label for r in corpus] == ["1", "0"]
    assert [r.line for r in corpus] == [2, 3]
    assert corpus.label_names() == ["0", "1"]


def test_labelled_csv_uses_csv_quoting(tmp_path):
    path = write(tmp_path, "s.csv", 'text,label\n"Hello, world",pos\nplain,neg\n')
    corpus = read_labelled(path)
    assert corpus.texts() == ["Hello, world", "plain"]
    assert corpus.label_names() == ["neg", "pos"]


def test_label_outside_the_declared_set_names_line_and_field(tmp_path):
    path = write(tmp_path, "s.tsv", "sentence\tlabel\ngood\t1\nmeh\t2\n")
    with pytest.raises(
        InputError, match=r"s\.tsv:3 \[label\]: label '2' is not one of \['0', '1'\]"
    ):
        read_labelled(path, labels=["0", "1"])


def test_labelled_missing_column_in_header(tmp_path):
    path = write(tmp_path, "s.tsv", "sentence\tscore\ngood\t1\n")
    with pytest.raises(InputError, match="no label column"):
        read_labelled(path)


def test_labelled_row_with_wrong_width(tmp_path):
    path = write(tmp_path, "s.tsv", "sentence\tlabel\ngood\t1\nno label here\n")
    with pytest.raises(InputError, match=r":3: expected 2 columns, found 1"):
        read_labelled(path)


def test_non_utf8_names_offset_and_line(tmp_path):
    path = write(tmp_path, "bad.txt", b"fine\nalso fine\nbad \xff byte\n")
    with pytest.raises(InputError, match=r"bad\.txt:3 \(byte 19\): not valid UTF-8") as err:
        read_text(path)
    assert err.value.offset == 19
    assert "errors='replace'" in str(err.value)


def test_non_utf8_can_be_replaced_explicitly(tmp_path):
    path = write(tmp_path, "bad.txt", b"bad \xff byte\n")
    assert read_text(path, errors="replace")[0].text == "bad \ufffd byte"


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_is_an_error(tmp_path, content):
    path = write(tmp_path, "empty.txt", content)
    with pytest.raises(InputError, match="empty"):
        read_text(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="nope.txt: file not found"):
        read_text(tmp_path / "nope.txt")


def test_header_only_is_an_error(tmp_path):
    path = write(tmp_path, "s.tsv", "sentence\tlabel\n")
    with pytest.raises(InputError, match="no rows after the header"):
        read_labelled(path)


def test_guess_kind(tmp_path):
    assert guess_kind(write(tmp_path, "a.tsv", "sentence\tlabel\nx\t1\n")) == "labelled"
    assert guess_kind(write(tmp_path, "b.tsv", "Go.\tVe.\n")) == "parallel"
    assert guess_kind(write(tmp_path, "c.csv", "text,label\n")) == "labelled"
    assert guess_kind(write(tmp_path, "d.txt", "x\ty\n")) == "text"
    assert read_corpus(tmp_path / "b.tsv").kind == "parallel"


@pytest.mark.needs_data
def test_reads_the_shared_layout(data_dir):
    spa = read_parallel(data_dir / "spa-eng" / "train.txt")
    assert len(spa) == 110_895
    sst = read_labelled(data_dir / "sst2" / "train.tsv", labels=["0", "1"])
    assert len(sst) == 65_331
    assert sum(r.label == "1" for r in sst) == 36_438
    shakespeare = read_text(data_dir / "tinyshakespeare" / "valid.txt")
    assert len("\n".join(shakespeare.texts())) == 100_386
