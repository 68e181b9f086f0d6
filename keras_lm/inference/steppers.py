"""Steppers: a family's named graphs driven one token at a time, for any backend.

A stepper wraps *graphs*: anything with `run(name, **inputs) -> {output: ndarray}`
and `inputs(name) -> {input: (shape, dtype)}` over the graph names of
`keras_lm.export.signatures` (`prefill`, `decode`, `encode`). There is one stepper per
graph contract, not per family: a family record (`keras_lm.models.family.Family`)
names the one its graphs follow. The same classes run a Keras model in-process
(`keras_lm.generation.keras_graphs.KerasGraphs`), an ONNX bundle and a TFLite bundle
(`keras_lm.runtime`), so a float32 export decodes token-identically to Keras by
construction of the loop. Pure numpy: no TensorFlow.

Example, with fake graphs whose decode always favours token 7:
>>> import numpy as np
>>> class Fake:
...     def inputs(self, name): return {}
...     def run(self, name, **x):
...         return {"logits": np.eye(9)[[7] * len(x["token_ids"])], "h": x["past_h"], "c": x["past_c"]}
>>> stepper = RecurrentLMStepper(Fake(), state_shape=(1, 2))
>>> logits, state = stepper.prefill(np.array([[0, 3]]), np.array([[0, 1]]))
>>> int(logits.argmax())
7
"""

from __future__ import annotations

import numpy as np

from keras_lm.inference.rows import concat_states
from keras_lm.inference.rows import join_pooled
from keras_lm.inference.rows import keep_rows
from keras_lm.inference.rows import move_rows


def _take(state: dict, rows: np.ndarray) -> dict:
    return {k: v[rows] for k, v in state.items()}


class Rows:
    """In-flight batching (`keras_lm.inference.rows`): rows join and leave between steps.

    `join(state, other)` is `state`'s rows then `other`'s (`state` None: `other` alone);
    `keep(state, rows)` only `rows`, in that order. Both copy the state's arrays here; a
    stepper that keeps its own cache overrides them to copy less.
    """

    def join(self, state: dict | None, other: dict) -> dict:
        return concat_states(state, other)

    def keep(self, state: dict, rows: list[int]) -> dict:
        return keep_rows(state, rows)


class PooledRows(Rows):
    """Rows that join into a pool (`keras_lm.inference.rows.join_pooled`) and leave within it.

    The state's `pooled` arrays (a dict) are the first rows of its `pool`, written in place
    by each step; `next` holds one position per row. A pooled state's arrays are never a
    runtime's lent buffers (no `owner`).
    """

    pooled = "caches"

    def join(self, state: dict | None, other: dict) -> dict:
        """`other`'s rows after `state`'s: only the new rows are copied (and the pool when it grows)."""
        current = None if state is None else state[self.pooled]
        pool = None if state is None else state.get("pool")
        pool = join_pooled(pool, current, other[self.pooled])
        ahead = [] if state is None else [state["next"]]
        positions = np.concatenate([*ahead, other["next"]]).astype(np.int32)
        return self._in_pool(state or other, pool, positions)

    def keep(self, state: dict, rows: list[int]) -> dict:
        """Only `rows` (as `keras_lm.inference.rows.fill_from_tail` gives), moved within the pool."""
        pool = state.get("pool")
        if pool is None:
            return self.select(state, np.asarray(rows, np.int64))
        positions = state["next"].copy()
        move_rows([*pool.values(), positions], rows)
        return self._in_pool(state, pool, positions[: len(rows)])

    def _in_pool(self, state: dict, pool: dict, positions: np.ndarray) -> dict:
        rows = len(positions)
        kept = {k: v for k, v in state.items() if k != "owner"}
        arrays = {k: v[:rows] for k, v in pool.items()}
        return {**kept, self.pooled: arrays, "next": positions, "pool": pool}


class CachedLMStepper(Rows):
    """`prefill` then one-token `decode` steps with the fixed-size cache (`context` slots)."""

    def __init__(self, graphs, context: int):
        self.graphs, self.context = graphs, context

    @classmethod
    def from_facts(cls, graphs, facts: dict) -> CachedLMStepper:
        return cls(graphs, facts["context"])

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        out = self.graphs.run(
            "prefill", token_ids=ids.astype(np.int32), padding_mask=mask.astype(np.int32)
        )
        positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
        state = {"cache": out["cache"], "next": (positions[:, -1] + 1).astype(np.int32)}
        return out["logits"][:, -1], state

    def step(self, tokens: np.ndarray, state: dict):
        out = self.graphs.run(
            "decode",
            token_ids=tokens.astype(np.int32)[:, None],
            positions=state["next"][:, None],
            past_cache=state["cache"],
        )
        return out["logits"][:, -1], {"cache": out["cache"], "next": state["next"] + 1}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _take(state, rows)

    def full(self, state: dict) -> bool:
        return int(state["next"].max()) >= self.context


SLOT_STEP = 16  # a sized cache's slots are a multiple of this: few distinct widths to pool


class RuntimeCacheLMStepper(PooledRows):
    """`prefill` then one-token `decode` steps over graphs that return only the new keys/values.

    The cache is this stepper's: one `(B, H, C, Dh)` array per layer's keys and one per
    its values, each step's keys written in place at the row's position (a state is
    consumed by `step`). Prompts go to `prefill` right-padded with their `lengths`, to
    the smallest `prefill_<T>` graph that holds them (static TFLite signatures) or to
    one dynamic `prefill`. A graph set with a fixed batch (TFLite's batch 1) runs a
    batch row by row.

    Graphs that lend their input buffers (`LiteRTGraphs.input_views`) hold a batch-1
    cache in the interpreter's own memory, so no step copies it in. Those buffers belong
    to the latest `prefill`: stepping an older state is refused rather than decoded
    from another prompt's cache.
    """

    def __init__(self, graphs, context: int):
        self.graphs, self.context = graphs, context
        decode = graphs.inputs("decode")
        self.names = [n[len("past_") :] for n in decode if n.startswith("past_")]
        heads, slots, dim = decode[f"past_{self.names[0]}"][0][1:]  # (H, C, Dh)
        # A decode graph that takes any number of slots (ONNX) lets a cache be sized to its rows.
        self.sized = not (isinstance(slots, int) and slots > 0)
        self.slot_step = SLOT_STEP
        self.head_shape = (heads, context if self.sized else slots, dim)
        batch = decode["token_ids"][0][0]
        self.batch = batch if isinstance(batch, int) and batch > 0 else None
        self.lengths = sorted(
            int(n.split("_")[1]) for n in graphs.names if n.startswith("prefill_")
        )
        views = getattr(graphs, "input_views", None)
        self._views = views("decode") if views else None
        self._prompts = 0  # prefills so far: the owner of the lent buffers is the latest

    def _new_caches(self, rows: int, slots: int) -> tuple[dict, int | None]:
        """Zeroed caches of `slots` slots for `rows` rows: the lent buffers at batch 1 when
        there are some."""
        if rows == 1 and self._views and all(f"past_{k}" in self._views for k in self.names):
            self._prompts += 1
            caches = {k: self._views[f"past_{k}"] for k in self.names}
            for cache in caches.values():
                cache.fill(0.0)
            return caches, self._prompts
        heads, _, dim = self.head_shape
        return {k: np.zeros((rows, heads, slots, dim), np.float32) for k in self.names}, None

    def cache_slots(self, width: int, reach: int | None) -> int:
        """The slots a prefill's cache gets: `reach` (the most any of its rows can fill)
        rounded up to a multiple of `slot_step`, at least the prompt's `width`, at most the
        context; the context where the graphs need it whole (or `reach` is None).

        >>> class Graphs:
        ...     names = ["decode", "prefill"]
        ...     def inputs(self, name):
        ...         return {"token_ids": ((None, 1), "int32"), "past_key_0": ((None, 2, None, 4), "float32")}
        >>> RuntimeCacheLMStepper(Graphs(), context=128).cache_slots(width=6, reach=69)
        80
        """
        if not self.sized or reach is None:
            return self.head_shape[1]
        wanted = max(width, reach)
        return min(self.context, -(-wanted // self.slot_step) * self.slot_step)

    @classmethod
    def from_facts(cls, graphs, facts: dict) -> RuntimeCacheLMStepper:
        return cls(graphs, facts["context"])

    def _prefill_graph(self, longest: int) -> tuple[str, int]:
        if not self.lengths:
            return "prefill", longest
        fits = [n for n in self.lengths if n >= longest]
        if not fits:
            raise ValueError(f"a prompt of {longest} tokens is longer than {self.lengths[-1]}")
        return f"prefill_{fits[0]}", fits[0]

    def prefill(self, ids: np.ndarray, mask: np.ndarray, reach: int | None = None):
        """Prefill the prompts; `reach` (a server's): the most slots any row will fill (its
        prompt and new tokens), so a sized cache reads no more (None: the whole context)."""
        mask = mask.astype(bool)
        lengths = mask.sum(axis=1).astype(np.int32)
        name, width = self._prefill_graph(int(lengths.max()))
        right = np.zeros((len(ids), width), np.int32)
        for row, (seq, real) in enumerate(zip(ids, mask, strict=True)):
            right[row, : lengths[row]] = seq[real]
        out = self._run(name, token_ids=right, lengths=lengths)
        caches, owner = self._new_caches(len(ids), self.cache_slots(width, reach))
        for key in self.names:
            caches[key][:, :, :width] = out[key]
        return out["logits"], {"caches": caches, "next": lengths, "owner": owner}

    def step(self, tokens: np.ndarray, state: dict):
        position = state["next"]
        caches = state["caches"]
        owner = state.get("owner")
        if owner is not None and owner != self._prompts:
            raise RuntimeError(
                "this decoding state's cache lives in the runtime's buffers, which a later "
                "prefill has reused; decode one prompt at a time per loaded model"
            )
        past = {f"past_{k}": v for k, v in caches.items()}
        out = self._run(
            "decode",
            token_ids=tokens.astype(np.int32)[:, None],
            positions=position[:, None],
            **past,
        )
        if len(tokens) == 1:  # plain indexing: a tenth of the cost of the fancy kind
            for key, cache in caches.items():
                cache[0, :, position[0]] = out[key][0, :, 0]
        else:
            rows = np.arange(len(tokens))
            for key, cache in caches.items():
                cache[rows, :, position] = out[key][:, :, 0]  # (B, H, Dh) into slot `position`
        return out["logits"], {**state, "next": position + 1}  # the caches (and pool) written

    def _run(self, name: str, **inputs) -> dict:
        rows = len(inputs["token_ids"])
        if self.batch is None or rows == self.batch:
            return self.graphs.run(name, **inputs)
        parts = [
            self.graphs.run(name, **{k: v[r : r + 1] for k, v in inputs.items()})
            for r in range(rows)
        ]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return {"caches": _take(state["caches"], rows), "next": state["next"][rows]}

    def full(self, state: dict) -> bool:
        slots = next(iter(state["caches"].values())).shape[2]  # the context, unless sized
        return int(state["next"].max()) >= slots


class RecurrentLMStepper(Rows):
    """`decode` one token at a time, carrying `h` and `c` `(B, layers, units)`."""

    context = None

    def __init__(self, graphs, state_shape: tuple[int, int]):
        self.graphs, self.state_shape = graphs, tuple(state_shape)

    @classmethod
    def from_facts(cls, graphs, facts: dict) -> RecurrentLMStepper:
        return cls(graphs, facts["state_shape"])

    def prefill(self, ids: np.ndarray, mask: np.ndarray):
        zeros = np.zeros((len(ids), *self.state_shape), np.float32)
        state = {"h": zeros, "c": zeros.copy()}
        for t in range(ids.shape[1]):  # left padding: a row's state starts at its first real token
            logits, new = self.step(ids[:, t], state)
            keep = mask[:, t, None, None].astype(bool)
            state = {k: np.where(keep, new[k], state[k]) for k in new}
        return logits, state

    def step(self, tokens: np.ndarray, state: dict):
        out = self.graphs.run(
            "decode", token_ids=tokens.astype(np.int32), past_h=state["h"], past_c=state["c"]
        )
        return out["logits"], {"h": out["h"], "c": out["c"]}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _take(state, rows)

    def full(self, state: dict) -> bool:
        return False


class Seq2SeqRows(Rows):
    """A seq2seq stepper: `encode` a batch of sources, then `step`; `start` is the two."""

    def start(self, ids: np.ndarray, mask: np.ndarray, start_id: int):
        return self.step(np.full((len(ids),), start_id, np.int32), self.encode(ids, mask))


class CachedSeq2SeqStepper(Seq2SeqRows):
    """`encode` once (cross-attention keys/values), then cached `decode` steps."""

    def __init__(self, graphs, max_target_length: int, cache_shape: tuple[int, ...]):
        self.graphs, self.max_target_length = graphs, max_target_length
        self.cache_shape = tuple(cache_shape[1:])

    @classmethod
    def from_facts(cls, graphs, facts: dict) -> CachedSeq2SeqStepper:
        return cls(graphs, facts["max_target_length"], facts["cache_shape"])

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        """The state before the first step (whose token is the start id): `start` without its step."""
        cross = self.graphs.run(
            "encode",
            encoder_token_ids=ids.astype(np.int32),
            encoder_padding_mask=mask.astype(np.int32),
        )
        batch = len(ids)
        return {
            "cache": np.zeros((batch, *self.cache_shape), np.float32),
            "cross": cross["cross_cache"],
            "source_mask": mask.astype(np.int32),
            "next": np.zeros((batch,), np.int32),
        }

    def step(self, tokens: np.ndarray, state: dict):
        out = self.graphs.run(
            "decode",
            token_ids=tokens.astype(np.int32)[:, None],
            positions=state["next"][:, None],
            past_cache=state["cache"],
            cross_cache=state["cross"],
            encoder_padding_mask=state["source_mask"],
        )
        return out["logits"][:, -1], {**state, "cache": out["cache"], "next": state["next"] + 1}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _take(state, rows)


class RuntimeCacheSeq2SeqStepper(PooledRows, Seq2SeqRows):
    """`encode` once, then one-token `decode` steps over graphs that return only the new keys/values.

    The state's `inputs` are the decode graph's own: the source mask, each layer's
    cross-attention keys and values from `encode`, and its self-attention cache
    `(B, H, T, Dh)`, which this stepper writes in place at the row's position (a state is
    consumed by `step`). Joined rows live in a pool (`PooledRows`), shorter sources
    zero-padded, which their mask hides.
    """

    pooled = "inputs"

    def __init__(self, graphs, max_target_length: int):
        self.graphs, self.max_target_length = graphs, max_target_length
        decode = graphs.inputs("decode")
        self.names = [n[len("past_") :] for n in decode if n.startswith("past_")]
        self.head_shape = tuple(decode[f"past_{self.names[0]}"][0][1:])  # (H, T, Dh)

    @classmethod
    def from_facts(cls, graphs, facts: dict) -> RuntimeCacheSeq2SeqStepper:
        return cls(graphs, facts["max_target_length"])

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        """The state before the first step (whose token is the start id): `start` without its step."""
        mask = mask.astype(np.int32)
        cross = self.graphs.run(
            "encode", encoder_token_ids=ids.astype(np.int32), encoder_padding_mask=mask
        )
        rows = len(ids)
        inputs = {"encoder_padding_mask": mask}
        for key in self.names:
            inputs[f"cross_{key}"] = cross[f"cross_{key}"]
            inputs[f"past_{key}"] = np.zeros((rows, *self.head_shape), np.float32)
        return {"inputs": inputs, "next": np.zeros((rows,), np.int32)}

    def step(self, tokens: np.ndarray, state: dict):
        position, inputs = state["next"], state["inputs"]
        out = self.graphs.run(
            "decode",
            token_ids=tokens.astype(np.int32)[:, None],
            positions=position[:, None],
            **inputs,
        )
        rows = np.arange(len(tokens))
        for key in self.names:  # (B, H, Dh) into slot `position` of each row
            inputs[f"past_{key}"][rows, :, position] = out[key][:, :, 0]
        return out["logits"], {**state, "next": position + 1}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return {"inputs": _take(state["inputs"], rows), "next": state["next"][rows]}


class RecurrentSeq2SeqStepper(Seq2SeqRows):
    """`encode` once (outputs and initial state), then one `decode` step per token.

    A graph whose `encode` has a fixed batch (TFLite's builtin LSTM loop needs one)
    is run row by row and the rows stacked.
    """

    def __init__(self, graphs, max_target_length: int):
        self.graphs, self.max_target_length = graphs, max_target_length
        spec = graphs.inputs("encode").get("encoder_token_ids")
        batch = spec[0][0] if spec else None
        self.encoder_batch = batch if isinstance(batch, int) and batch > 0 else None

    @classmethod
    def from_facts(cls, graphs, facts: dict) -> RecurrentSeq2SeqStepper:
        return cls(graphs, facts["max_target_length"])

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        """The state before the first step (whose token is the start id): `start` without its step."""
        out = self._encode(ids.astype(np.int32), mask.astype(np.int32))
        return {
            "h": out["h"],
            "c": out["c"],
            "encoded": out["encoded"],
            "source_mask": mask.astype(np.int32),
        }

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> dict:
        step = self.encoder_batch or len(ids)
        parts = []
        for i in range(0, len(ids), step):
            chunk_ids, chunk_mask = ids[i : i + step], mask[i : i + step]
            short = step - len(chunk_ids)  # pad the last chunk to the fixed batch
            if short:
                chunk_ids, chunk_mask = (
                    np.pad(a, ((0, short), (0, 0))) for a in (chunk_ids, chunk_mask)
                )
            out = self.graphs.run(
                "encode", encoder_token_ids=chunk_ids, encoder_padding_mask=chunk_mask
            )
            parts.append({k: v[: step - short] for k, v in out.items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def step(self, tokens: np.ndarray, state: dict):
        out = self.graphs.run(
            "decode",
            token_ids=tokens.astype(np.int32),
            past_h=state["h"],
            past_c=state["c"],
            encoded=state["encoded"],
            encoder_padding_mask=state["source_mask"],
        )
        return out["logits"], {**state, "h": out["h"], "c": out["c"]}

    def select(self, state: dict, rows: np.ndarray) -> dict:
        return _take(state, rows)
