"""The runtime-cache steppers with numpy graphs: what they send, and what they write into their caches."""

import numpy as np
import pytest

from keras_lm.inference.steppers import RuntimeCacheLMStepper
from keras_lm.inference.steppers import RuntimeCacheSeq2SeqStepper

H, C, DH, V = 2, 8, 3, 11


class EchoGraphs:
    """Graphs whose new keys are the token id everywhere; logits favour the sum of what the cache holds."""

    def __init__(self, batch=None, lengths=(4, 8)):
        self.batch, self.lengths, self.calls = batch, lengths, []

    @property
    def names(self):
        return (
            ["decode", *(f"prefill_{n}" for n in self.lengths)]
            if self.lengths
            else ["decode", "prefill"]
        )

    def inputs(self, name):
        past = {f"past_{k}_0": ((self.batch, H, C, DH), "float32") for k in ("key", "value")}
        return {
            "token_ids": ((self.batch, 1), "int32"),
            "positions": ((self.batch, 1), "int32"),
            **past,
        }

    def run(self, name, **x):
        self.calls.append((name, {k: np.array(v) for k, v in x.items()}))
        ids = x["token_ids"].astype(np.float32)  # (B, T)
        new = np.broadcast_to(ids[:, None, :, None], (len(ids), H, ids.shape[1], DH))
        seen = x["past_key_0"][:, 0, :, 0].sum(-1) if name == "decode" else ids.sum(-1)
        logits = np.eye(V)[(seen.astype(int) + 1) % V]
        return {"logits": logits, "key_0": new.copy(), "value_0": -new}


def test_prefill_right_pads_into_the_smallest_static_length_and_fills_the_cache():
    graphs = EchoGraphs()
    stepper = RuntimeCacheLMStepper(graphs, context=C)
    ids = np.array([[0, 0, 5, 6, 7], [1, 2, 3, 4, 9]], np.int32)  # left-padded by the decoder
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], np.int32)
    _, state = stepper.prefill(ids, mask)
    name, sent = graphs.calls[-1]
    assert name == "prefill_8"
    assert sent["token_ids"].tolist() == [[5, 6, 7, 0, 0, 0, 0, 0], [1, 2, 3, 4, 9, 0, 0, 0]]
    assert sent["lengths"].tolist() == [3, 5] and state["next"].tolist() == [3, 5]
    assert state["caches"]["key_0"][0, 1, :3, 0].tolist() == [5, 6, 7]
    assert state["caches"]["value_0"][1, 0, :5, 2].tolist() == [-1, -2, -3, -4, -9]


def test_step_writes_each_rows_keys_at_its_own_position_in_place():
    graphs = EchoGraphs(lengths=None)
    stepper = RuntimeCacheLMStepper(graphs, context=C)
    _, state = stepper.prefill(np.array([[0, 4], [6, 7]]), np.array([[0, 1], [1, 1]]))
    assert graphs.calls[-1][0] == "prefill"
    cache = state["caches"]["key_0"]
    _, state = stepper.step(np.array([9, 10]), state)
    name, sent = graphs.calls[-1]
    assert name == "decode" and sent["positions"].tolist() == [[1], [2]]
    assert state["caches"]["key_0"] is cache  # written in place, not copied
    assert cache[0, :, :3, 0].tolist() == [[4, 9, 0]] * H
    assert cache[1, :, :3, 0].tolist() == [[6, 7, 10]] * H
    assert state["next"].tolist() == [2, 3] and not stepper.full(state)


def test_a_batch_one_graph_runs_a_batch_row_by_row():
    graphs = EchoGraphs(batch=1)
    stepper = RuntimeCacheLMStepper(graphs, context=C)
    logits, state = stepper.prefill(np.array([[2, 3], [4, 5], [6, 7]]), np.ones((3, 2)))
    assert logits.shape == (3, V) and [len(c[1]["token_ids"]) for c in graphs.calls] == [1, 1, 1]
    logits, state = stepper.step(np.array([1, 2, 3]), state)
    assert logits.argmax(-1).tolist() == [(2 + 3 + 1) % V, (4 + 5 + 1) % V, (6 + 7 + 1) % V]
    picked = stepper.select(state, np.array([2, 2]))
    assert picked["next"].tolist() == [3, 3] and picked["caches"]["key_0"][1, 0, 2, 0] == 3


def test_a_prompt_longer_than_every_static_length_is_refused():
    stepper = RuntimeCacheLMStepper(EchoGraphs(lengths=(4,)), context=C)
    with pytest.raises(ValueError, match="longer than 4"):
        stepper.prefill(np.ones((1, 6), np.int32), np.ones((1, 6), np.int32))


class Seq2SeqEchoGraphs:
    """Seq2seq graphs: cross keys are the source ids; new keys the token id, as `EchoGraphs`."""

    names = ["decode", "encode"]

    def __init__(self):
        self.calls = []

    def inputs(self, name):
        if name == "encode":
            return {"encoder_token_ids": ((None, None), "int32")}
        caches = {
            f"{kind}_{k}_0": ((None, H, C if kind == "past" else None, DH), "float32")
            for kind in ("past", "cross")
            for k in ("key", "value")
        }
        return {"token_ids": ((None, 1), "int32"), "positions": ((None, 1), "int32"), **caches}

    def run(self, name, **x):
        self.calls.append((name, {k: np.array(v) for k, v in x.items()}))
        if name == "encode":
            ids = x["encoder_token_ids"].astype(np.float32)
            keys = np.broadcast_to(ids[:, None, :, None], (len(ids), H, ids.shape[1], DH))
            return {"cross_key_0": keys.copy(), "cross_value_0": -keys}
        ids = x["token_ids"].astype(np.float32)
        new = np.broadcast_to(ids[:, None, :, None], (len(ids), H, 1, DH))
        seen = (x["cross_key_0"][:, 0, :, 0] * x["encoder_padding_mask"]).sum(-1)
        return {"logits": np.eye(V)[seen.astype(int) % V], "key_0": new.copy(), "value_0": -new}


def test_seq2seq_state_is_the_decode_graphs_inputs_and_steps_write_in_place():
    graphs = Seq2SeqEchoGraphs()
    stepper = RuntimeCacheSeq2SeqStepper(graphs, max_target_length=C)
    state = stepper.encode(np.array([[3, 4, 0]]), np.array([[1, 1, 0]]))
    decode_inputs = set(graphs.inputs("decode")) - {"token_ids", "positions"}
    assert set(state["inputs"]) == decode_inputs | {"encoder_padding_mask"}
    logits, state = stepper.step(np.array([5]), state)
    assert int(logits.argmax()) == 7  # the masked source sums to 3 + 4
    logits, state = stepper.step(np.array([6]), state)
    np.testing.assert_array_equal(state["inputs"]["past_key_0"][0, 0, :3, 0], [5, 6, 0])
    np.testing.assert_array_equal(graphs.calls[-1][1]["positions"], [[1]])


def test_seq2seq_rows_join_a_pool_that_widens_for_a_longer_source_and_leave_it():
    graphs = Seq2SeqEchoGraphs()
    stepper = RuntimeCacheSeq2SeqStepper(graphs, max_target_length=C)
    state = stepper.join(None, stepper.encode(np.array([[2]]), np.array([[1]])))
    _, state = stepper.step(np.array([5]), state)
    state = stepper.join(state, stepper.encode(np.array([[1, 1, 1]]), np.array([[1, 1, 1]])))
    logits, state = stepper.step(np.array([6, 8]), state)
    sent = graphs.calls[-1][1]
    np.testing.assert_array_equal(sent["encoder_padding_mask"], [[1, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(sent["positions"], [[1], [0]])
    assert logits.argmax(-1).tolist() == [2, 3]  # each row sees its own source only
    np.testing.assert_array_equal(state["inputs"]["past_key_0"][:, 0, :2, 0], [[5, 6], [8, 0]])
    state = stepper.keep(state, [1])  # the first row leaves; the second moves up in the pool
    _, state = stepper.step(np.array([9]), state)
    np.testing.assert_array_equal(state["inputs"]["past_key_0"][:, 0, :2, 0], [[8, 9]])
    assert state["next"].tolist() == [2]
