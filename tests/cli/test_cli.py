"""The `keras-lm` command line: exit codes scripts can trust, and nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from keras_lm.cli.main import main


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_everywhere(capsys):
    for args in (
        ["--help"],
        ["data", "--help"],
        ["data", "report", "--help"],
        ["tokenizer", "train", "--help"],
        ["bench", "tokenizers", "--help"],
        ["demo", "--help"],
    ):
        code, out, _ = run(args, capsys)
        assert code == 0 and "usage: keras-lm" in out


def test_no_command_prints_help_and_fails(capsys):
    code, out, _ = run([], capsys)
    assert code == 2 and "COMMAND" in out


def test_unknown_option_is_a_usage_error(capsys):
    code, _, err = run(["data", "report", "spa-eng", "--bogus"], capsys)
    assert code == 2 and "unrecognized arguments" in err


def test_data_list(capsys):
    code, out, _ = run(["data", "list"], capsys)
    assert code == 0
    for name in ("tinyshakespeare", "spa-eng", "sst2", "wikitext2", "stdlib-sigs"):
        assert name in out


def test_report_on_a_file_prints_the_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "Go.\tVe.\nGo.\tVe.\nHi.\tHola.\nCheer up!\t¡Ánimo!\ncheer up.\t¡Ánimo!\n", encoding="utf-8"
    )
    code, out, _ = run(["data", "report", str(path), "--out", str(tmp_path / "r")], capsys)
    assert code == 0, out
    report = json.loads((tmp_path / "r" / "pairs.train.quality.json").read_text())
    assert report["rows"] == 5
    assert report["duplicates"] == 1
    assert "pairs / train" in out and "rows" in out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            b"Go.\tVe.\nno tab\n",
            ["--format", "parallel"],
            "bad.tsv:2: expected 2 tab-separated columns",
        ),
        (
            b"Go.\tVe.\nbad \xfe\tbyte\n",
            ["--format", "parallel"],
            "bad.tsv:2 (byte 12): not valid UTF-8",
        ),
        (b"sentence\tlabel\nok\t1\nno\t7\n", ["--labels", "0,1"], "bad.tsv:3 [label]: label '7'"),
        (b"", [], "file is empty"),
    ],
)
def test_bad_input_exits_2_names_the_place_and_writes_nothing(
    tmp_path, capsys, content, args, message
):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    out_dir = tmp_path / "out"
    code, _, err = run(["data", "clean", str(path), "--out", str(out_dir), *args], capsys)
    assert code == 2
    assert message in " ".join(err.split())
    assert not out_dir.exists()


def test_missing_file_or_data_set(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_LM_DATA", raising=False)
    monkeypatch.setenv("KERAS_LM_CACHE", str(tmp_path / "cache"))
    code, _, err = run(["data", "report", "wikitext2", "--no-download"], capsys)
    assert code == 2 and "wikitext2" in err and "KERAS_LM_DATA" in err


def test_replace_option_goes_on_past_bad_bytes(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\nbad \xff line\n")
    code, _, _ = run(
        ["data", "report", str(path), "--encoding-errors", "replace", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 0
    report = json.loads((tmp_path / "bad.train.quality.json").read_text())
    assert report["rows"] == 2


def test_clean_writes_a_data_dir_with_counts(tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text("Go.\tVe.\nGo.\tVe.\nHi.\t\nRun!\t¡Corre!\n", encoding="utf-8")
    code, out, _ = run(["data", "clean", str(path), "--out", str(tmp_path / "clean")], capsys)
    assert code == 0
    written = tmp_path / "clean" / "pairs"
    assert (written / "train.tsv").read_text(encoding="utf-8") == "Go.\tVe.\nRun!\t¡Corre!\n"
    summary = json.loads((written / "cleaning.json").read_text())
    assert (
        summary["splits"]["train"]["rows_in"] == 4 and summary["splits"]["train"]["rows_out"] == 2
    )
    # Running again without --force refuses, and leaves the first result alone.
    code, _, err = run(["data", "clean", str(path), "--out", str(tmp_path / "clean")], capsys)
    assert code == 2 and "already exists; pass --force" in err
    assert (written / "train.tsv").read_text(encoding="utf-8") == "Go.\tVe.\nRun!\t¡Corre!\n"


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "keras_lm", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("keras-lm ")


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.parametrize("name", ["spa-eng", "tinyshakespeare", "sst2"])
def test_report_on_the_real_data_sets(data_dir, tmp_path, capsys, name):
    code, out, _ = run(
        ["data", "report", name, "--data-dir", str(data_dir), "--out", str(tmp_path)], capsys
    )
    assert code == 0
    assert (tmp_path / f"{name}.train.quality.json").exists()
    assert (tmp_path / f"{name}.valid.quality.json").exists()
    valid = json.loads((tmp_path / f"{name}.valid.quality.json").read_text())
    assert "coverage" in valid  # valid is measured against train
