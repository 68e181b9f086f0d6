"""One set of checks for every model family, as keras-hub's `tests/test_case.py` does for backbones.

Each `test_<family>.py` builds a `Case` (family, tiny config) and calls the checks:
config round trip, variable batch and sequence length, fitting a `keras_lm.data.pipelines`
batch, `.keras` save/load parity, padding invariance, causality and float32 logits
under mixed precision. Everything runs eagerly on tiny models (no jit), to stay fast on 2 cores.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np

from keras_lm.config import Config
from keras_lm.data.pipelines import classification_dataset
from keras_lm.data.pipelines import lm_dataset
from keras_lm.data.pipelines import seq2seq_dataset
from keras_lm.features import CLASSIFIER_INPUTS
from keras_lm.features import LM_INPUTS
from keras_lm.features import SEQ2SEQ_INPUTS
from keras_lm.models.registry import build_model
from keras_lm.models.registry import config_from_dict
from keras_lm.models.registry import get_family

INPUTS = {"lm": LM_INPUTS, "seq2seq": SEQ2SEQ_INPUTS, "classify": CLASSIFIER_INPUTS}
FIRST_ID = 3  # random tokens avoid 0 (padding), 1 (start) and 2 (end)


@dataclasses.dataclass
class Case:
    family: str
    config: Config

    @property
    def task(self) -> str:
        return get_family(self.family).task

    @property
    def vocab(self) -> int:
        return self.config.vocab_size

    @property
    def target_vocab(self) -> int:
        return getattr(self.config, "target_vocab", self.vocab)

    def build(self) -> keras.Model:
        keras.utils.set_random_seed(0)
        return build_model(self.family, self.config)


def random_inputs(case: Case, batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Unpadded int32 inputs; seq2seq sources are one token longer than the targets."""
    rng = np.random.default_rng(seed)

    def ids(n, vocab=case.vocab):
        return rng.integers(FIRST_ID, vocab, (batch, n)).astype("int32")

    if case.task == "seq2seq":
        src, tgt = ids(length + 1), ids(length, case.target_vocab)
        return {
            "encoder_token_ids": src,
            "encoder_padding_mask": np.ones_like(src),
            "decoder_token_ids": tgt,
            "decoder_padding_mask": np.ones_like(tgt),
        }
    x = ids(length)
    return {"token_ids": x, "padding_mask": np.ones_like(x)}


def predict(model: keras.Model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def check_config_round_trip(case: Case) -> None:
    """JSON -> registry config -> model: same config, same size, and the fixed I/O contract."""
    model = case.build()
    restored = config_from_dict(case.family, json.loads(case.config.to_json()))
    assert restored == case.config
    assert (
        case.build().count_params() == build_model(case.family, restored.to_dict()).count_params()
    )
    assert sorted(model.input) == sorted(INPUTS[case.task])
    assert all(t.dtype == "int32" and tuple(t.shape) == (None, None) for t in model.inputs)
    assert model.output_names == ["logits"] and model.output.dtype == "float32"
    assert not [layer.name for layer in model.layers if isinstance(layer, keras.layers.Lambda)]


def check_variable_length(case: Case) -> None:
    """One model, batch 2 x length 5 then batch 3 x length 9."""
    model = case.build()
    for batch, length in ((2, 5), (3, 9)):
        out = predict(model, random_inputs(case, batch, length))
        width = case.config.num_classes if case.task == "classify" else case.target_vocab
        assert out.shape == ((batch, width) if case.task == "classify" else (batch, length, width))
        assert np.isfinite(out).all()


def tiny_dataset(case: Case):
    """One batch from the real tf.data pipeline of the family's task."""
    rng = np.random.default_rng(1)
    rows = [list(rng.integers(FIRST_ID, case.vocab, n)) for n in (5, 7, 6, 4)]
    if case.task == "lm":
        return lm_dataset(rng.integers(FIRST_ID, case.vocab, 41), 8, 4, shuffle=False)
    if case.task == "seq2seq":
        return seq2seq_dataset(
            rows,
            rows[::-1],
            4,
            start_id=1,
            end_id=2,
            max_source_length=8,
            max_target_length=9,
            shuffle=False,
        )
    return classification_dataset(rows, [0, 1, 2, 1], 4, max_length=8, shuffle=False)


def check_fit_memorises(case: Case, steps: int = 20) -> None:
    """Fit one pipeline batch repeatedly: the loss stays finite and falls."""
    model = case.build()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        jit_compile=False,
        run_eagerly=True,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        tiny_dataset(case).take(1).repeat(), epochs=steps, steps_per_epoch=1, verbose=0
    )
    losses = history.history["loss"]
    assert np.isfinite(losses).all(), losses
    assert losses[-1] < 0.8 * losses[0], losses


def check_save_load(case: Case, tmp_path: Path) -> None:
    """`.keras` save, then `load_model(safe_mode=True)`: same size, outputs within 1e-6."""
    model = case.build()
    inputs = random_inputs(case, 2, 6)
    path = tmp_path / f"{case.family}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert isinstance(loaded, keras.Model) and loaded.count_params() == model.count_params()
    np.testing.assert_allclose(predict(loaded, inputs), predict(model, inputs), atol=1e-6, rtol=0)


def pad(
    ids: np.ndarray, mask: np.ndarray, extra: int, vocab: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Append `extra` positions of random ids with mask 0: their content must not matter."""
    garbage = (
        np.random.default_rng(seed).integers(FIRST_ID, vocab, (ids.shape[0], extra)).astype("int32")
    )
    return np.concatenate([ids, garbage], 1), np.concatenate([mask, np.zeros_like(garbage)], 1)


def check_padding_invariance(case: Case) -> None:
    """Padding appended with mask 0 (any ids) leaves the logits at real positions unchanged."""
    model = case.build()
    inputs = random_inputs(case, 2, 5)
    padded = dict(inputs)
    pairs = [
        ("encoder_token_ids", "encoder_padding_mask", 3, case.vocab),
        ("decoder_token_ids", "decoder_padding_mask", 2, case.target_vocab),
    ]
    if case.task != "seq2seq":
        pairs = [("token_ids", "padding_mask", 3, case.vocab)]
    for seed, (ids, mask, extra, vocab) in enumerate(pairs):
        padded[ids], padded[mask] = pad(inputs[ids], inputs[mask], extra, vocab, seed)
    want, got = predict(model, inputs), predict(model, padded)
    if case.task != "classify":
        got = got[:, : want.shape[1]]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # The mask is wired in (causality alone would make right padding harmless in an LM):
    # masking a real token at position 1 changes the outputs that may see it.
    mask_key = pairs[0][1]
    masked = {**inputs, mask_key: inputs[mask_key].copy()}
    masked[mask_key][:, 1] = 0
    later = slice(None) if case.task == "classify" else np.s_[:, 2:]
    assert not np.allclose(predict(model, masked)[later], want[later], atol=1e-5)


def check_causal(case: Case) -> None:
    """Changing token at t + 1 leaves the logits at positions <= t unchanged (and changes t + 1)."""
    model = case.build()
    inputs = random_inputs(case, 2, 8)
    key = "decoder_token_ids" if case.task == "seq2seq" else "token_ids"
    t = 4
    changed = dict(inputs)
    changed[key] = inputs[key].copy()
    vocab = case.target_vocab if case.task == "seq2seq" else case.vocab
    changed[key][:, t + 1] = FIRST_ID + (inputs[key][:, t + 1] + 1 - FIRST_ID) % (vocab - FIRST_ID)
    want, got = predict(model, inputs), predict(model, changed)
    np.testing.assert_allclose(got[:, : t + 1], want[:, : t + 1], atol=1e-6, rtol=0)
    assert not np.allclose(got[:, t + 1], want[:, t + 1])


def check_mixed_precision_logits(case: Case) -> None:
    """Under `mixed_bfloat16` the logits are still float32."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        out = case.build()(random_inputs(case, 1, 4), training=False)
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def check_runtime_cache_graphs(family, model, facts: dict, prompts) -> None:
    """The graphs TFLite and ONNX get decode as the standard ones: greedy past the context
    (the window slides, so prefill runs again) and beam search, at a dynamic batch with one
    dynamic prefill and at TFLite's batch 1 with static prefill lengths."""
    from keras_lm.generation.keras_graphs import KerasGraphs
    from keras_lm.generation.keras_graphs import keras_stepper
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig
    from keras_lm.models.graph_parts import prefill_buckets

    configs = [
        SamplingConfig(max_new_tokens=facts["context"] + 4),
        SamplingConfig(max_new_tokens=5, strategy="beam", num_beams=3),
    ]
    standard = keras_stepper(model, jit_compile=False)
    expected = [generate_lm(standard, prompts, c) for c in configs]
    static = (1, prefill_buckets(facts["context"], smallest=4, factor=2), "tflite")
    for batch, lengths, target in [(None, None, "onnx"), static]:
        functions = family.runtime_cache_graphs(model, batch, lengths, target)
        graphs = KerasGraphs(model, jit_compile=False, functions=functions)
        assert ("prefill" in graphs.names) == (lengths is None)
        stepper = family.make_stepper(graphs, facts, "runtime_cache")
        assert [generate_lm(stepper, prompts, c) for c in configs] == expected, target
        if getattr(stepper, "sized", False):
            check_sized_cache(stepper, prompts)


def check_sized_cache(stepper, prompts, steps: int = 5) -> None:
    """A cache sized to what its rows reach decodes as the whole context's, also joined into
    a pool of another width (a wider row widens it, a narrower one is zero-padded)."""
    from keras_lm.inference.decoding import left_pad

    ids, mask = left_pad(prompts)
    reach = ids.shape[1] + steps
    stepper.slot_step = 2  # a tiny context: widths in steps of 2, not 16
    assert stepper.cache_slots(ids.shape[1], reach) < stepper.context  # the test sizes a cache

    def run(states, tokens):
        state, logits = None, []
        for part in states:
            state = stepper.join(state, part)
        for _ in range(steps):
            out, state = stepper.step(tokens, state)
            logits.append(out)
        return np.stack(logits)

    tokens = np.full(len(prompts), FIRST_ID, np.int32)
    whole = run([stepper.prefill(ids, mask)[1]], tokens)
    assert stepper.full(stepper.prefill(ids, mask, reach=reach)[1]) is False
    sized = run([stepper.prefill(ids, mask, reach=reach)[1]], tokens)
    np.testing.assert_allclose(sized, whole, atol=1e-5)
    halves = [slice(0, 1), slice(1, None)]  # a narrow first row, then wider ones; and the reverse
    for first, second in (
        (reach, stepper.context),
        (stepper.context, reach),
    ):
        states = [
            stepper.prefill(ids[rows], mask[rows], reach=r)[1]
            for rows, r in zip(halves, (first, second), strict=True)
        ]
        np.testing.assert_allclose(run(states, tokens), whole, atol=1e-5)


def check_runtime_cache_seq2seq_graphs(family, model, facts: dict, sources) -> None:
    """A seq2seq family's runtime-cache graphs, for each target, give the standard graphs' logits
    at every teacher-forced step of padded sources of different lengths, the same beam
    search, and the same logits for rows joined into a running batch (a wider source
    widening the pool) and kept as others leave."""
    from keras_lm.generation.keras_graphs import KerasGraphs
    from keras_lm.generation.keras_graphs import keras_stepper
    from keras_lm.inference.decoding import right_pad
    from keras_lm.inference.decoding import translate_ids
    from keras_lm.inference.sampling import SamplingConfig

    teacher = np.array([[1, 5, 6, 7, 8], [1, 9, 9, 4, 2], [1, 3, 4, 5, 6]], np.int32)[
        : len(sources)
    ]
    beam = SamplingConfig(max_new_tokens=5, strategy="beam", num_beams=3)

    def forced(stepper):
        state, logits = stepper.encode(*right_pad(sources)), []
        for tokens in teacher.T:
            out, state = stepper.step(tokens, state)
            logits.append(out)
        return np.stack(logits, 1)

    standard = keras_stepper(model, jit_compile=False)
    expected = forced(standard)
    for target in ("onnx", "tflite"):
        functions = family.runtime_cache_graphs(model, None, None, target)
        graphs = KerasGraphs(model, jit_compile=False, functions=functions)
        stepper = family.make_stepper(graphs, facts, "runtime_cache")
        np.testing.assert_allclose(forced(stepper), expected, atol=1e-5, rtol=0, err_msg=target)
        tokens = translate_ids(stepper, sources, beam, 1, 2)
        assert tokens == translate_ids(standard, sources, beam, 1, 2), target
        # in flight: row 0 alone, then the longest source joins after one step, then row 0 leaves
        state = stepper.join(None, stepper.encode(*right_pad(sources[:1])))
        first, state = stepper.step(teacher[:1, 0], state)
        state = stepper.join(state, stepper.encode(*right_pad([max(sources, key=len)])))
        longest = int(np.argmax([len(s) for s in sources]))
        both, state = stepper.step(np.array([teacher[0, 1], teacher[longest, 0]]), state)
        state = stepper.keep(state, [1])
        last, _ = stepper.step(teacher[longest, 1:2], state)
        np.testing.assert_allclose(first[0], expected[0, 0], atol=1e-5, rtol=0)
        np.testing.assert_allclose(both, expected[[0, longest], [1, 0]], atol=1e-5, rtol=0)
        np.testing.assert_allclose(last[0], expected[longest, 1], atol=1e-5, rtol=0)


def check_graphs_and_stepper(case: Case) -> None:
    """The family's export graphs and stepper: named inputs, JSON facts, and cached decoding that
    gives the tokens of the full model (LMs: greedy against a recompute; seq2seq: the first step's
    logits against the full model's)."""
    from keras_lm.generation.keras_graphs import KerasGraphs
    from keras_lm.generation.keras_graphs import RecomputeLMStepper
    from keras_lm.inference.decoding import generate_lm
    from keras_lm.inference.sampling import SamplingConfig

    family = get_family(case.family)
    model = case.build()
    graphs = KerasGraphs(model, jit_compile=False, max_target_length=8)
    assert graphs.names and all(graphs.inputs(name) for name in graphs.names)
    json.dumps(graphs.facts)  # the manifest stores them
    stepper = family.make_stepper(graphs, graphs.facts)
    if family.task == "classify":
        assert stepper is None and graphs.names == ["classify"]
        return
    if family.task == "lm":
        greedy = SamplingConfig(max_new_tokens=4)
        prompts = [[FIRST_ID, FIRST_ID + 1, FIRST_ID + 2], [FIRST_ID + 3]]
        full = generate_lm(RecomputeLMStepper(model), prompts, greedy)
        assert generate_lm(stepper, prompts, greedy) == full
        if family.runtime_cache_stepper is not None:
            check_runtime_cache_graphs(family, model, graphs.facts, prompts)
        return
    inputs = random_inputs(case, 2, 5)
    source = inputs["encoder_token_ids"]
    logits, _ = stepper.start(source, np.ones_like(source), start_id=1)
    start = np.ones((2, 1), "int32")
    full = predict(
        model,
        {
            "encoder_token_ids": source,
            "encoder_padding_mask": np.ones_like(source),
            "decoder_token_ids": start,
            "decoder_padding_mask": np.ones_like(start),
        },
    )
    np.testing.assert_allclose(logits, full[:, 0], atol=1e-5, rtol=0)
    if family.runtime_cache_stepper is not None:
        sources = [[FIRST_ID, FIRST_ID + 1], [FIRST_ID + 2] * 5, [FIRST_ID + 3] * 3]
        check_runtime_cache_seq2seq_graphs(family, model, graphs.facts, sources)
