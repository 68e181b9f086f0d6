"""TF_CONFIG read and checked before TensorFlow starts: every mistake names its field."""

from __future__ import annotations

import json

import pytest

from keras_lm.errors import ConfigError
from keras_lm.training.cluster import ClusterSpec

GOOD = {
    "cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},
    "task": {"type": "worker", "index": 1},
}


def test_a_good_tf_config_and_the_same_from_workers():
    spec = ClusterSpec.from_tf_config(json.dumps(GOOD))
    assert (spec.num_workers, spec.worker_index, spec.is_chief) == (2, 1, False)
    assert ClusterSpec.from_workers(GOOD["cluster"]["worker"], 1) == spec
    assert json.loads(spec.tf_config()) == GOOD


def test_a_chief_task_is_rank_zero():
    config = {
        "cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]},
        "task": {"type": "worker", "index": 0},
    }
    spec = ClusterSpec.from_tf_config(json.dumps(config))
    assert spec.addresses == ["c:1", "w:1", "w:2"] and spec.worker_index == 1
    chief = ClusterSpec.from_tf_config(
        json.dumps({**config, "task": {"type": "chief", "index": 0}})
    )
    assert chief.is_chief


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (None, "TF_CONFIG is not set"),
        ("{not json", "TF_CONFIG: not valid JSON"),
        ("[1, 2]", r"TF_CONFIG \[cluster\]"),
        ('{"cluster": {"worker": []}, "task": {}}', r"\[cluster.worker\]: expected a non-empty"),
        (
            '{"cluster": {"worker": ["a"]}, "task": {}}',
            r"\[cluster.worker\[0\]\]: expected host:port",
        ),
        ('{"cluster": {"worker": ["a:99999"]}, "task": {}}', r"\[cluster.worker\[0\]\]"),
        ('{"cluster": {"ps": ["a:1"], "worker": ["b:1"]}}', r"\[cluster.ps\]: keras_lm runs"),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {}}', r"listed twice"),
        ('{"cluster": {"worker": ["a:1"]}}', r"\[task\]: expected"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps"}}', r"\[task.type\]"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
            r"\[task.index\]: expected 0..0, got 1",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}',
            r"\[task.index\]",
        ),
    ],
)
def test_malformed_tf_config_names_the_field(text, field):
    with pytest.raises(ConfigError, match=field):
        ClusterSpec.from_tf_config(text)


@pytest.mark.parametrize(
    ("workers", "index", "message"),
    [
        (["a:1", "b:2"], None, r"task_index: expected 0..1"),
        (["a:1", "b:2"], 2, r"task_index: expected 0..1"),
        (["a:1", "a:1"], 0, "listed twice"),
        ([], 0, "at least one"),
        (["nohost"], 0, "expected host:port"),
    ],
)
def test_bad_workers_lists_are_refused(workers, index, message):
    with pytest.raises(ConfigError, match=message):
        ClusterSpec.from_workers(workers, index)
