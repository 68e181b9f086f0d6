"""`load`: local data directories, downloads (from file:// URLs, no network), embedded corpora."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile

import pytest

from keras_lm.data import datasets
from keras_lm.data.registry import REGISTRY
from keras_lm.data.registry import RemoteFile
from keras_lm.errors import DatasetNotFoundError
from keras_lm.errors import InputError


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data dir in the environment; the download cache in a temp folder."""
    monkeypatch.delenv("KERAS_LM_DATA", raising=False)
    monkeypatch.setenv("KERAS_LM_CACHE", str(tmp_path / "cache"))
    return tmp_path


def with_remote(monkeypatch, name, remote):
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(REGISTRY[name], remote=remote))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_offline_and_absent_says_which_file_to_put_where(isolated, monkeypatch):
    with_remote(
        monkeypatch, "spa-eng", RemoteFile("file:///nonexistent/spa-eng.zip", "spa-eng.zip")
    )
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.load("spa-eng", data_dir=isolated / "nowhere")
    message = str(err.value)
    assert str(isolated / "nowhere" / "spa-eng" / "train.txt") in message
    assert "KERAS_LM_DATA" in message
    assert str(isolated / "cache" / "spa-eng" / "spa-eng.zip") in message


def test_download_false_does_not_touch_the_network(isolated):
    with pytest.raises(DatasetNotFoundError, match="not found"):
        datasets.load("sst2", download=False)


def test_local_layout_is_read_and_recorded(isolated):
    folder = isolated / "data" / "spa-eng"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("Go.\tVe.\nHi.\tHola.\n", encoding="utf-8")
    (folder / "valid.txt").write_text("Run!\t¡Corre!\n", encoding="utf-8")
    ds = datasets.load("spa-eng", data_dir=isolated / "data")
    assert sorted(ds.splits) == ["train", "valid"]
    assert ds["valid"].targets() == ["¡Corre!"]
    assert ds.info.method == "given"
    assert set(ds.info.sources) == {"train:train.txt", "valid:valid.txt"}
    with pytest.raises(KeyError, match="has no 'test' split"):
        ds["test"]


def test_environment_variable_is_a_data_dir(isolated, monkeypatch):
    folder = isolated / "env" / "tinyshakespeare"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("First Citizen:\nBefore we proceed\n", encoding="utf-8")
    monkeypatch.setenv("KERAS_LM_DATA", str(isolated / "env"))
    assert datasets.load("tinyshakespeare")["train"].texts()[0] == "First Citizen:"


def test_download_text_checksum_and_contiguous_split(isolated, monkeypatch):
    text = "".join(f"line {i}\n" for i in range(1000))
    src = isolated / "input.txt"
    src.write_text(text, encoding="utf-8")
    with_remote(
        monkeypatch, "tinyshakespeare", RemoteFile(src.as_uri(), "input.txt", sha(text.encode()))
    )
    ds = datasets.load("tinyshakespeare")
    joined = {k: "\n".join(v.texts()) for k, v in ds.splits.items()}
    n = len(text)
    assert len((isolated / "cache/tinyshakespeare/train.txt").read_text()) == int(
        0.9 * int(0.9 * n)
    )
    assert joined["train"].startswith("line 0\nline 1")
    assert ds.info.method == "contiguous_90_90"
    assert ds.info.sources["train:train.txt"]
    # The second load reads the prepared cache (the source may be gone).
    src.unlink()
    assert datasets.load("tinyshakespeare")["valid"].texts() == ds["valid"].texts()


def test_download_with_wrong_checksum_is_refused_and_nothing_prepared(isolated, monkeypatch):
    src = isolated / "input.txt"
    src.write_text("tampered\n", encoding="utf-8")
    with_remote(monkeypatch, "tinyshakespeare", RemoteFile(src.as_uri(), "input.txt", "0" * 64))
    with pytest.raises(InputError, match="sha256 is .* expected 0000"):
        datasets.load("tinyshakespeare")
    assert not (isolated / "cache").exists()  # neither the download nor its folder is kept


def test_a_failed_download_leaves_no_cache_folder(isolated, monkeypatch):
    with_remote(
        monkeypatch, "spa-eng", RemoteFile("file:///nonexistent/spa-eng.zip", "spa-eng.zip")
    )
    with pytest.raises(DatasetNotFoundError):
        datasets.load("spa-eng")
    assert not (isolated / "cache").exists()


def test_download_zip_member_grouped_split(isolated, monkeypatch):
    lines = [f"Sentence {i // 2}{'!' if i % 2 else '.'}\tFrase {i}" for i in range(400)]
    member = ("\n".join(lines) + "\n").encode()
    archive = isolated / "spa-eng.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("spa-eng/spa.txt", member)
    remote = RemoteFile(archive.as_uri(), "spa-eng.zip", members={"spa-eng/spa.txt": sha(member)})
    with_remote(monkeypatch, "spa-eng", remote)
    monkeypatch.setattr("keras_lm.data.preparation.SPA_ENG_HOLDOUT", {"valid": 20, "test": 20})
    ds = datasets.load("spa-eng", seed=5)
    assert sorted(ds.splits) == ["test", "train", "valid"]
    assert sum(len(c) for c in ds.splits.values()) == 400
    train_keys = {s.rstrip(".!") for s in ds["train"].sources()}
    assert not train_keys & {s.rstrip(".!") for s in ds["valid"].sources()}
    assert ds.info.method == "pairs_grouped_by_source" and ds.info.seed == 5


def test_zip_member_checksum_mismatch(isolated, monkeypatch):
    archive = isolated / "spa-eng.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("spa-eng/spa.txt", "Go.\tVe.\n")
    with_remote(
        monkeypatch,
        "spa-eng",
        RemoteFile(archive.as_uri(), "spa-eng.zip", members={"spa-eng/spa.txt": "1" * 64}),
    )
    with pytest.raises(InputError, match=r"spa-eng\.zip!spa-eng/spa\.txt: sha256"):
        datasets.load("spa-eng")


def test_a_path_loads_as_a_single_train_split(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("Go.\tVe.\n", encoding="utf-8")
    ds = datasets.load(str(path))
    assert ds.kind == "parallel" and list(ds.splits) == ["train"]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DatasetNotFoundError, match="spa-eng"):
        datasets.load("no-such-set")


@pytest.mark.slow
def test_embedded_corpora_are_deterministic_and_split():
    a = datasets.load("stdlib-sigs", seed=3)
    b = datasets.load("stdlib-sigs", seed=3)
    assert a["valid"].records == b["valid"].records
    assert len(a["train"]) > 1000
    assert a.info.sources["content_sha256"]
    assert "standard library" in a.info.note
    docs = datasets.load("stdlib-docs")
    assert docs.kind == "text" and len(docs["train"]) > 10 * len(docs["valid"]) > 0


@pytest.mark.needs_data
def test_shared_data_sets_load(data_dir):
    # sst2: GLUE train's rows less 1,000 held-out sentences and the phrases inside them.
    for name, rows in {"spa-eng": 110_895, "sst2": 55_957, "tinyshakespeare": 31_899}.items():
        ds = datasets.load(name, data_dir=data_dir, download=False)
        assert len(ds["train"]) == rows
        assert "valid" in ds.splits
