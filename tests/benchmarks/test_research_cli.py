"""The research benchmarks' commands: parsed into a config, run from the checkout, refused elsewhere."""

from __future__ import annotations

import pytest

import benchmarks.generation_speed as generation_speed
import benchmarks.speed_rounds as speed_rounds
import benchmarks.torch_parity as torch_parity
from keras_lm.cli import bench
from keras_lm.cli.main import main
from keras_lm.errors import KerasLMError


def test_research_module_is_the_checkouts_benchmarks():
    assert bench.research_module("speed_rounds") is speed_rounds
    assert (bench.CHECKOUT / "benchmarks" / "README.md").is_file()


def test_without_a_checkout_the_command_fails_in_one_line(monkeypatch, tmp_path, capsys):
    with pytest.raises(KerasLMError, match="research benchmark: it runs from a source checkout"):
        bench.research_module("speed_rounds", checkout=tmp_path)
    monkeypatch.setattr(bench, "CHECKOUT", tmp_path)  # as installed from a wheel
    assert main(["bench", "generate", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "source checkout" in err and str(tmp_path / "benchmarks") in err.replace("\n", "")
    assert not (tmp_path / "out").exists()


def _capture(monkeypatch, module, function: str) -> list:
    seen = []

    def fake(config, command, progress=None):
        seen.append((config, command))
        return "| table |"

    monkeypatch.setattr(module, function, fake)
    return seen


def test_train_options_become_the_config(monkeypatch, tmp_path, capsys):
    seen = _capture(monkeypatch, speed_rounds, "run_train_speed")
    args = ["bench", "train", "--configs", "shakespeare-baby", "--repeats", "3"]
    args += ["--variant", "loop.jit_compile=true", "--set", "model.dropout=0.0"]
    args += ["--torch-ref", "ref", "--torch-python", "py", "--out", str(tmp_path)]
    assert main(args) == 0
    ((config, command),) = seen
    assert config == speed_rounds.TrainSpeedConfig(
        configs=("shakespeare-baby",),
        repeats=3,
        variants=("loop.jit_compile=true",),
        overrides=("model.dropout=0.0",),
        torch_python="py",
        torch_ref="ref",
        out=str(tmp_path),
    )
    assert command.startswith("keras-lm ") and "| table |" in capsys.readouterr().out


def test_torch_ref_defaults_to_the_shared_anchor_beside_the_current_directory(
    monkeypatch, tmp_path
):
    seen = _capture(monkeypatch, torch_parity, "run_parity")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["bench", "parity", "--seeds", "1,2"]) == 0
    assert seen[-1][0].torch_ref is None and seen[-1][0].seeds == (1, 2)
    (tmp_path / "shared/anchors/torch_ref").mkdir(parents=True)
    assert main(["bench", "parity"]) == 0
    assert seen[-1][0].torch_ref == "../shared/anchors/torch_ref"


def test_generate_lengths_are_parsed_as_integers(monkeypatch, capsys):
    seen = _capture(monkeypatch, generation_speed, "run_generation_speed")
    assert main(["bench", "generate", "--lengths", "16,32"]) == 0
    assert seen[-1][0].lengths == (16, 32)
    assert main(["bench", "generate", "--lengths", "16,x"]) == 2
    assert "comma-separated whole numbers" in capsys.readouterr().err
