"""Atomic writes leave nothing half-written behind."""

from __future__ import annotations

import pytest

from keras_lm.io import atomic_dir
from keras_lm.io import atomic_write
from keras_lm.io import data_dir_candidates


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failed_directory_leaves_nothing(tmp_path):
    target = tmp_path / "bundle"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "model.bin").write_bytes(b"x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_directory_replaces_only_when_complete(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old").write_text("1")
    with pytest.raises(FileExistsError), atomic_dir(target):
        pass
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("KERAS_LM_CACHE", str(tmp_path / "cache"))
    assert data_dir_candidates(tmp_path / "arg") == [
        tmp_path / "arg",
        tmp_path / "env",
        tmp_path / "cache",
    ]
