"""Decoding loops over a step function: batched greedy/sampling, beam search, the sliding window.

Pure numpy. A *stepper* runs the model one token at a time with its cache (a
Keras model in-process, or an ONNX / LiteRT bundle in `keras_lm.runtime`); these
loops only see logits and an opaque state:

    LM stepper:      prefill(ids, mask) -> (logits, state); step(tokens, state) -> (logits, state);
                     select(state, rows) -> state; full(state) -> bool; context (int | None)
    seq2seq stepper: start(source_ids, source_mask, start_id) -> (logits, state); step; select;
                     max_target_length (int)

Prompts of different lengths are left-padded so that every row's newest token is
in the last column; the stepper turns the mask into positions. When a cache would
pass the model's context, the loop re-runs prefill on each row's last `context`
tokens: exactly what a full recompute over that window gives.

Example:
>>> left_pad([[7, 8, 9], [5]])[0].tolist()
[[7, 8, 9], [0, 0, 5]]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from keras_lm.errors import InputError
from keras_lm.inference.sampling import SamplingConfig
from keras_lm.inference.sampling import choose_tokens
from keras_lm.inference.sampling import log_softmax

Advance = Callable[[np.ndarray, object, list], tuple]


def generate_lm(
    stepper,
    prompts: list[list[int]],
    config: SamplingConfig,
    end_id: int | None = None,
    banned: tuple[int, ...] = (),
) -> list[list[int]]:
    """New token ids for each prompt (the end token itself is not returned); `banned` ids are never chosen.

    Example, with a fake stepper whose next token is always the previous one + 1:
    >>> from keras_lm.generation.testing import CountingStepper
    >>> generate_lm(CountingStepper(vocab=10), [[1], [4, 5]], SamplingConfig(max_new_tokens=3))
    [[2, 3, 4], [6, 7, 8]]
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise InputError("prompt", "every prompt needs at least one token")

    def window(seqs):
        context = stepper.context
        return left_pad([s[-context:] if context else s for s in seqs])

    def advance(tokens, state, seqs):
        if stepper.full(state):
            return stepper.prefill(*window(seqs))
        return stepper.step(tokens, state)

    logits, state = stepper.prefill(*window(prompts))
    if config.strategy == "beam":
        return beam_search(logits, state, advance, stepper.select, prompts, config, end_id, banned)
    return sample_loop(logits, state, advance, prompts, config, end_id, banned)


def translate_ids(
    stepper,
    sources: list[list[int]],
    config: SamplingConfig,
    start_id: int,
    end_id: int,
    banned: tuple[int, ...] = (),
) -> list[list[int]]:
    """Target token ids for each source, without the start and end tokens; never a `banned` id."""
    if not sources:
        return []
    ids, mask = right_pad([s or [0] for s in sources])
    logits, state = stepper.start(ids, mask, start_id)
    max_new = min(config.max_new_tokens, stepper.max_target_length - 1)
    config = dataclasses.replace(config, max_new_tokens=max_new)
    prefixes = [[start_id] for _ in sources]

    def advance(tokens, state, seqs):
        return stepper.step(tokens, state)

    if config.strategy == "beam":
        return beam_search(logits, state, advance, stepper.select, prefixes, config, end_id, banned)
    return sample_loop(logits, state, advance, prefixes, config, end_id, banned)


def sample_loop(
    logits, state, advance: Advance, prefixes, config: SamplingConfig, end_id, banned=()
) -> list[list[int]]:
    """Greedy or sampled decoding of every row at once; a row stops at `end_id`."""
    rng = np.random.default_rng(config.seed)
    seqs = [list(p) for p in prefixes]
    out: list[list[int]] = [[] for _ in prefixes]
    done = np.zeros(len(prefixes), bool)
    for i in range(config.max_new_tokens):
        tokens = choose_tokens(without(logits, banned), config, rng).astype(np.int32)
        for row, token in enumerate(tokens.tolist()):
            seqs[row].append(token)
            if done[row]:
                continue
            if token == end_id:
                done[row] = True
            else:
                out[row].append(token)
        if done.all() or i == config.max_new_tokens - 1:
            break
        logits, state = advance(tokens, state, seqs)
    return out


def beam_search(
    logits, state, advance: Advance, select, prefixes, config: SamplingConfig, end_id, banned=()
) -> list[list[int]]:
    """Beam search per row, all rows batched: the best hypothesis by log p / length ** penalty."""
    k, batch = config.num_beams, len(prefixes)
    rows = np.repeat(np.arange(batch), k)
    state = select(state, rows)
    logp = log_softmax(without(logits, banned))[rows]  # (B*k, V)
    scores = np.full((batch, k), -np.inf)
    scores[:, 0] = 0.0  # one live beam per row at first, so the first step picks k distinct tokens
    seqs = [list(prefixes[r]) for r in rows]
    hyps: list[list[int]] = [[] for _ in rows]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    for i in range(config.max_new_tokens):
        chosen = _expand(scores, logp, hyps, finished, k, end_id, config.length_penalty)
        picked_rows = np.array([r for r, _, _ in chosen])
        tokens = np.array([t for _, t, _ in chosen], np.int32)
        scores = np.array([s for _, _, s in chosen]).reshape(batch, k)
        hyps = [hyps[r] + [t] for r, t, _ in chosen]
        seqs = [seqs[r] + [t] for r, t, _ in chosen]
        if all(len(f) >= k for f in finished) or i == config.max_new_tokens - 1:
            break
        logits, state = advance(tokens, select(state, picked_rows), seqs)
        logp = log_softmax(without(logits, banned))
    for b in range(batch):
        for j in range(k):
            if np.isfinite(scores[b, j]):
                hyp = hyps[b * k + j]
                finished[b].append(
                    (_normalised(scores[b, j], len(hyp), config.length_penalty), hyp)
                )
    return [max(f, key=lambda item: item[0])[1] for f in finished]


def _expand(scores, logp, hyps, finished, k, end_id, penalty):
    """The next k live beams per row: (source row, token, score); end tokens go to `finished`."""
    batch, vocab = scores.shape[0], logp.shape[-1]
    candidates = (scores.reshape(-1, 1) + logp).reshape(batch, k * vocab)
    order = np.argsort(-candidates, axis=-1, kind="stable")[:, : 2 * k]
    chosen = []
    for b in range(batch):
        live = []
        for flat in order[b].tolist():
            score = candidates[b, flat]
            if not np.isfinite(score):
                break
            row = b * k + flat // vocab
            token = flat % vocab
            if token == end_id:
                finished[b].append((_normalised(score, len(hyps[row]) + 1, penalty), hyps[row]))
            elif len(live) < k:
                live.append((row, token, score))
        while len(live) < k:  # a vocabulary smaller than the beam: pad with dead beams
            live.append((live[0][0], live[0][1], -np.inf))
        chosen += live
    return chosen


def without(logits: np.ndarray, banned: tuple[int, ...]) -> np.ndarray:
    """`logits` with the `banned` token ids at -inf, so that no strategy can choose them.

    >>> without(np.zeros((1, 3)), (0, 2)).tolist()
    [[-inf, 0.0, -inf]]
    """
    if not banned:
        return logits
    logits = np.array(logits, np.float64)
    logits[:, list(banned)] = -np.inf
    return logits


def _normalised(score: float, length: int, penalty: float) -> float:
    return score / max(length, 1) ** penalty if penalty else score


def left_pad(seqs: list[list[int]], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`(ids, mask)` int32 `(B, T)`, each row's tokens at the right end."""
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad, np.int32)
    mask = np.zeros((len(seqs), width), np.int32)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = s
            mask[i, width - len(s) :] = 1
    return ids, mask


def right_pad(seqs: list[list[int]], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`(ids, mask)` int32 `(B, T)`, each row's tokens from the left.

    >>> right_pad([[7, 8], [5]])[1].tolist()
    [[1, 1], [1, 0]]
    """
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad, np.int32)
    mask = np.zeros((len(seqs), width), np.int32)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return ids, mask
