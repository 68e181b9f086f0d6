"""The `keras-lm` command line: exit codes scripts can trust, and nothing written on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from keras_lm.cli.main import build_parser
from keras_lm.cli.main import main
from keras_lm.cli.main import parse


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
    for name in (
        "tinyshakespeare",
        "spa-eng",
        "sst2",
        "wikitext2",
        "stdlib-sigs",
        "stdlib-sig2text",
    ):
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


def test_an_os_error_is_one_line_naming_the_path_and_exit_2(tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text("Go.\tVe.\nRun!\t¡Corre!\n", encoding="utf-8")
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "afile" / "clean"  # a folder under a file: NotADirectoryError from mkdir
    code, _, err = run(["data", "clean", str(path), "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"error: {out}: Not a directory"


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (
            PermissionError(13, "Permission denied", "export/.lm.pid7.abcd1234.tmp"),
            "error: export/lm: Permission denied",  # the bundle, not its temporary folder
        ),
        (
            IsADirectoryError(21, "Is a directory", "prompts.txt"),
            "error: prompts.txt: Is a directory",
        ),
        (
            UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "invalid start byte"),
            "error: input is not valid utf-8 (byte 2, 0xff: invalid start byte)",
        ),
    ],
)
def test_every_os_error_and_decode_error_is_one_line(monkeypatch, capsys, raised, message):
    def fail(args):
        raise raised

    monkeypatch.setattr("keras_lm.cli.data.run_list", fail)
    code, _, err = run(["data", "list"], capsys)
    assert code == 2 and err.startswith(message) and err.count("\n") == 1
    code, _, err = run(["--verbose", "data", "list"], capsys)  # --verbose shows the traceback
    assert code == 2 and "Traceback" in err and message in err


@pytest.mark.parametrize("text", ["", "   "])
@pytest.mark.parametrize("command", ["generate", "translate"])
def test_an_empty_or_blank_text_is_refused_before_any_model_loads(tmp_path, capsys, command, text):
    code, out, err = run([command, str(tmp_path), "ok", text], capsys)
    noun = "prompt" if command == "generate" else "sentence"
    assert code == 2 and not out
    assert err.strip() == f"error: {noun}: {noun} 1 ({text!r}) is empty or blank; give some text"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seed", "-1"], "--seed: expected an integer >= 0, got -1"),
        (
            ["--strategy", "top_p", "--top-p", "2"],
            "--top-p: expected a number > 0 and <= 1, got 2.0",
        ),
        (["--temperature", "0"], "--temperature: expected a number > 0, got 0.0"),
        (["--max-new-tokens", "0"], "--max-new-tokens: expected an integer >= 1, got 0"),
        (["--strategy", "top_k"], "--top-k: expected an integer >= 1 with strategy top_k, got 0"),
    ],
)
def test_a_bad_sampling_option_is_named_as_typed(tmp_path, capsys, options, message):
    code, _, err = run(["generate", str(tmp_path), "def", *options], capsys)
    assert code == 2 and err.strip() == f"error: {message}"


def test_input_file_that_is_not_utf8_names_file_line_and_byte(tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_bytes(b"Return the sum.\nbad \xff\xfe\n")
    code, _, err = run(["translate", str(tmp_path), "--input", str(path)], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: {path}:2 (byte 20): not valid UTF-8 (bytes ff fe 0a")
    code, _, err = run(["translate", str(tmp_path), "--input", str(tmp_path)], capsys)
    assert code == 2 and err.strip() == f"error: {tmp_path}: cannot read --input: Is a directory"


@pytest.mark.parametrize(
    "argv",
    [
        ["translate", "RUN", "--strategy", "beam", "one", "two"],
        ["translate", "RUN", "one", "--strategy", "beam", "two"],
        ["translate", "RUN", "one", "two", "--strategy", "beam"],
        ["translate", "--strategy", "beam", "RUN", "one", "two"],
    ],
)
def test_options_go_before_or_after_the_texts(argv):
    args = parse(build_parser(), argv)
    assert (args.run_dir, args.texts, args.strategy) == ("RUN", ["one", "two"], "beam")


def test_an_unknown_option_after_the_texts_is_still_refused(capsys):
    code, _, err = run(["translate", "RUN", "one", "--bogus"], capsys)
    assert code == 2 and "unrecognized arguments: --bogus" in err


def test_export_clean_removes_what_dead_exports_left_and_keeps_live_ones(tmp_path, capsys):
    dead = tmp_path / ".lm.pid999999999.abcd1234.tmp"  # past any pid_max: its process is gone
    unowned = tmp_path / ".lm.abcd1234.tmp"  # named no process (older keras_lm)
    live = tmp_path / f".lm.pid{os.getpid()}.abcd1234.tmp"
    for folder in (dead, unowned, live):
        folder.mkdir()
    code, out, err = run(["export", "--clean", "--out", str(tmp_path)], capsys)
    assert code == 0 and "2 temporary folder(s) removed" in out
    assert str(dead) in err and str(unowned) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    code, _, err = run(["export", "--out", str(tmp_path)], capsys)
    assert code == 2 and "give RUN to export, or --clean" in err


def test_export_out_naming_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, _, err = run(["export", str(tmp_path), "--out", str(tmp_path / "afile")], capsys)
    assert code == 2
    assert err.strip() == (
        f"error: {tmp_path / 'afile'}: --out is a file; expected the folder bundles go into"
    )
