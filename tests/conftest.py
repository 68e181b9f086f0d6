"""Shared fixtures: tiny inline corpora, and the real data sets behind a clear skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Twenty lines written for these tests: accents, punctuation, an emoji, mixed scripts.
TINY_LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "¿Dónde está la biblioteca? Está cerca.",
    "Ça va très bien, merci !",
    "Tom doesn't like apples; he likes pears.",
    "I ❤️ keras — and TFLite too 🚀",
    "数据 quality matters: 中文 and English mixed.",
    "Привет, мир! Hello, world!",
    "  leading and trailing spaces  ",
    "tabs\tinside\ttext",
    "Numbers: 3.14159, 2,718 and 42%.",
    "E-mail me at someone@example.com (not really).",
    "Ünïcödé wörds with diacritics: naïve café.",
    "\"Quoted\" text with `backquotes` and 'apostrophes'.",
    "A very very very very very very long line that repeats words words words.",
    "Short.",
    "Mañana será otro día.",
    "Él no quería ir, pero fue.",
    "Γειά σου κόσμε",
    "The end is near; the end is here.",
    "Last line without punctuation",
]

TINY_PAIRS = [
    ("Go.", "Ve."),
    ("Hi.", "Hola."),
    ("Run!", "¡Corre!"),
    ("Who are you?", "¿Quién eres?"),
    ("I am hungry.", "Tengo hambre."),
    ("Where is the station?", "¿Dónde está la estación?"),
    ("Thank you very much.", "Muchas gracias."),
    ("It is raining.", "Está lloviendo."),
]


def real_data_dir() -> Path | None:
    """The real data sets: $KERAS_LM_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("KERAS_LM_DATA")
    if env and Path(env, "README.md").exists():
        return Path(env)
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    return beside if (beside / "README.md").exists() else None


@pytest.fixture
def data_dir() -> Path:
    """The real data directory, or a skip that says how to provide it."""
    found = real_data_dir()
    if found is None:
        pytest.skip(
            "needs the real data sets: set KERAS_LM_DATA to a directory laid out as ../shared/data"
        )
    return found


@pytest.fixture
def tiny_lines() -> list[str]:
    return list(TINY_LINES)


@pytest.fixture
def tiny_pairs() -> list[tuple[str, str]]:
    return list(TINY_PAIRS)


# The overrides of every session-trained tiny run (`tiny_training`, `tiny_run`).
TINY_RUN_OVERRIDES = ["loop.max_steps=20", "loop.steps_per_epoch=10"]


@pytest.fixture(scope="session")
def tiny_training(tmp_path_factory):
    """`tiny_training("tiny-transformer-lm")`: the `TrainResult` of a tiny shipped config trained
    once per session (20 steps); its `run_dir` is the run.

    Results and runs are shared by every test that asks for the same name: treat them as read-only.
    """
    results: dict[str, object] = {}

    def get(name: str):
        if name not in results:
            from keras_lm.training.fit import train
            from keras_lm.training.presets import load_config

            config = load_config(name, TINY_RUN_OVERRIDES)
            run_dir = tmp_path_factory.mktemp(name) / "run"
            results[name] = train(config, run_dir, verbose=0)
        return results[name]

    return get


@pytest.fixture(scope="session")
def tiny_run(tiny_training):
    """`tiny_run("tiny-transformer-lm")`: a tiny shipped config trained once per session (20 steps).

    Runs are shared by every test that asks for the same name, so treat them as read-only.
    """

    def get(name: str) -> Path:
        return Path(tiny_training(name).run_dir)

    return get


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory):
    """`tiny_bundle("tiny-transformer-lm", quantize=("int8",))`: a verified bundle of a tiny run.

    Every format (SavedModel, TFLite, ONNX), exported once per session and shared; read-only.
    """
    bundles: dict[tuple, Path] = {}

    def get(name: str, quantize: tuple[str, ...] = ()) -> Path:
        key = (name, quantize)
        if key not in bundles:
            from keras_lm.export.bundle import ExportConfig
            from keras_lm.export.bundle import export_run

            out = tmp_path_factory.mktemp("bundles")
            bundles[key] = export_run(tiny_run(name), ExportConfig(quantize=quantize, out=str(out)))
        return bundles[key]

    return get


@pytest.fixture(scope="module", autouse=True)
def _fresh_keras_session_per_module():
    """After each test module, drop Keras' global graph state (traced functions, name counters):
    a long suite otherwise slows as it piles up. Imports nothing that the module did not."""
    yield
    import sys

    if "keras" in sys.modules:
        import gc

        sys.modules["keras"].backend.clear_session()
        gc.collect()
