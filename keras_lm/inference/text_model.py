"""`TextModel`: text in, text out over a stepper and a tokenizer, for Keras and for bundles alike.

Pure Python and numpy: `keras_lm.generation.Generator` (a Keras model in-process)
and `keras_lm.runtime.bundle.BundleModel` (ONNX Runtime or LiteRT) both subclass it,
so a prompt is encoded, decoded and detokenized by the same code whatever runs the
graphs.

Example, with a fake stepper whose logits always favour token 3:
>>> import numpy as np
>>> from keras_lm.tokenizers.char import CharTokenizer
>>> tok = CharTokenizer.train(["abc"])
>>> class Fake:
...     context = None
...     def prefill(self, ids, mask): return np.eye(tok.vocab_size)[[3] * len(ids)] * 9, None
...     def step(self, tokens, state): return np.eye(tok.vocab_size)[[3] * len(tokens)] * 9, None
...     def select(self, state, rows): return state
...     def full(self, state): return False
>>> TextModel(Fake(), tok, "lm").generate("ab", max_new_tokens=2) == tok.decode([3, 3])
True
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from keras_lm.errors import InputError
from keras_lm.framing import Framing
from keras_lm.inference.decoding import generate_lm
from keras_lm.inference.decoding import right_pad
from keras_lm.inference.decoding import translate_ids
from keras_lm.inference.sampling import SamplingConfig

log = logging.getLogger(__name__)


def check_texts(texts: list[str], noun: str) -> None:
    """Refuse an empty or blank text (`InputError` naming it): a model would make something up.

    `translate` and `classify` refuse them, and `keras-lm generate|translate` before loading a
    model. `TextModel.generate` refuses only a prompt of no tokens: whitespace is text to a
    language model (a code model continues indentation), and export checks decode windows of
    held-out text that may be only that.

    >>> check_texts(["Go.", "  "], "source")
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: source: source 1 ('  ') is empty or blank; give some text
    """
    for i, text in enumerate(texts):
        if not text.strip():
            raise InputError(noun, f"{noun} {i} ({text!r}) is empty or blank; give some text")


class TextModel:
    """Text in, text out: `generate` for LMs, `translate` for seq2seq, `classify` for classifiers.

    The base of `Generator` (Keras in-process) and of the TensorFlow-free runtime's
    bundle models; pure Python over the stepper and the tokenizer.
    """

    # A classifier's class names, token limit and overflow rule (`data.max_length`, `data.overflow`),
    # and how its ids are framed (None: `Framing(max_length)`, the ids as they are).
    labels: list[str] | None = None
    max_length: int | None = None
    overflow: str = "truncate"
    framing: Framing | None = None
    # The ids a language model's prompts start with (`Framing.prompt_head`: Llama's `<s>`).
    prompt_head: tuple[int, ...] = ()

    @property
    def context(self) -> int | None:
        """The most tokens a prompt and its continuation may hold (None: no bound)."""
        return getattr(self.stepper, "context", None)

    def __init__(
        self,
        stepper,
        tokenizer,
        task: str,
        family: str = "",
        max_source_length: int | None = None,
    ):
        self.stepper, self.tokenizer, self.task = stepper, tokenizer, task
        self.family = family or task
        self.max_source_length = max_source_length  # None: the encoder takes any length

    def generate(
        self, prompts: str | list[str], sampling: SamplingConfig | None = None, **overrides
    ) -> str | list[str]:
        """The continuation of each prompt (without the prompt); one string in, one string out.

        `overrides` are `SamplingConfig` fields: `strategy`, `max_new_tokens`, `top_k`, ...
        """
        self._require("lm", "generate")
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        ids = [self.tokenizer.encode(t) for t in texts]
        for i, row in enumerate(ids):
            if not row:
                raise InputError("prompt", f"prompt {i} ({texts[i]!r}) encodes to no tokens")
        ids = [[*self.prompt_head, *row] for row in ids]
        self._check_context(texts, ids)
        config = _sampling(sampling, overrides)
        specials = self.tokenizer.specials
        out = generate_lm(self.stepper, ids, config, specials.end_id, _banned(specials, config))
        decoded = self.tokenizer.decode_batch(out)
        return decoded[0] if isinstance(prompts, str) else decoded

    def translate(
        self,
        sources: str | list[str],
        sampling: SamplingConfig | None = None,
        batch_size: int = 64,
        **overrides,
    ) -> str | list[str]:
        """The target text for each source; one string in, one string out."""
        self._require("seq2seq", "translate")
        texts = [sources] if isinstance(sources, str) else list(sources)
        check_texts(texts, "source")
        ids = [self.tokenizer.encode(t) for t in texts]
        self._check_lengths(texts, ids)
        config = _sampling(sampling, overrides)
        specials = self.tokenizer.specials
        out: list[list[int]] = []
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            out += translate_ids(
                self.stepper,
                batch,
                config,
                specials.start_id,
                specials.end_id,
                _banned(specials, config),
            )
        decoded = self.tokenizer.decode_batch(out)
        return decoded[0] if isinstance(sources, str) else decoded

    def classify(self, texts: str | list[str]) -> list[dict] | dict:
        """`{"label", "probabilities"}` per text; one text in, one dict out.

        A text longer than the classifier's `data.max_length` tokens (framing specials
        included) is an error naming it when the model was trained with `data.overflow:
        error`; otherwise it is cut to the limit, with a warning that counts the cut texts
        (training cut or dropped such rows).
        """
        self._require("classify", "classify")
        batch = [texts] if isinstance(texts, str) else list(texts)
        check_texts(batch, "text")
        framing = self.framing or Framing(self.max_length or 64)
        limit = framing.max_length
        unk = self.tokenizer.specials.unk_id
        encoded = [self.tokenizer.encode(t) for t in batch]
        too_long = [i for i, row in enumerate(encoded) if framing.length(row) > limit]
        if too_long and self.overflow == "error":
            i = too_long[0]
            raise InputError(
                "text",
                f"text {i} ({batch[i][:40]!r}...) is {framing.length(encoded[i])} tokens; the classifier "
                f"takes at most {limit} (data.max_length, trained with data.overflow: error)",
            )
        if too_long:
            log.warning(
                "classify: cut %d of %d texts to %d tokens (data.max_length)",
                len(too_long),
                len(batch),
                limit,
            )
        ids, mask = right_pad([framing(row) or [unk] for row in encoded])
        probs = np.asarray(self._class_probabilities(ids, mask))
        labels = self.labels or [str(i) for i in range(probs.shape[-1])]
        out = [
            {
                "label": labels[int(np.argmax(p))],
                "probabilities": dict(zip(labels, p.round(6).tolist(), strict=True)),
            }
            for p in probs
        ]
        return out[0] if isinstance(texts, str) else out

    def _class_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # given by Generator (Keras) and BundleModel (runtime)

    def _require(self, task: str, verb: str) -> None:
        if self.task != task:
            raise InputError(
                "model",
                f"a {self.family} model cannot {verb} (a {self.task} model); a {task} model can",
            )

    def _check_context(self, texts: list[str], ids: list[list[int]]) -> None:
        """Prompts longer than the model's context, by the run's `data.overflow` rule.

        "error": refused, naming the prompt. "truncate" or "drop" (a prompt is never dropped
        whole): the model sees each prompt's last `context` tokens, as it would have anyway;
        one warning says how many tokens of which prompts were dropped.
        """
        context = self.context
        long = [(i, len(row)) for i, row in enumerate(ids) if context and len(row) > context]
        if not long:
            return
        if self.overflow == "error":
            i, length = long[0]
            raise InputError(
                "prompt",
                f"prompt {i} ({texts[i][:40]!r}...) is {length} tokens; the model takes at most "
                f"{context} (model.context, trained with data.overflow: error)",
            )
        dropped = "; ".join(
            f"dropped the first {length - context} of prompt {i}'s {length} tokens"
            for i, length in long
        )
        log.warning(
            "generate: the model's context is %d tokens: %s (data.overflow: %s)",
            context,
            dropped,
            self.overflow,
        )

    def _check_lengths(self, texts: list[str], ids: list[list[int]]) -> None:
        limit = self.max_source_length
        if limit is None:
            return
        for i, row in enumerate(ids):
            if len(row) > limit:
                raise InputError(
                    "source",
                    f"source {i} ({texts[i][:40]!r}...) is {len(row)} tokens; the model takes at most "
                    f"{limit} (data.max_source_length): split it into sentences",
                )


def _sampling(sampling: SamplingConfig | None, overrides: dict) -> SamplingConfig:
    base = sampling or SamplingConfig()
    return dataclasses.replace(base, **overrides) if overrides else base


def _banned(specials, config: SamplingConfig) -> tuple[int, ...]:
    return banned_ids(specials, config.special_tokens)


def banned_ids(specials, special_tokens: bool = False) -> tuple[int, ...]:
    """The special ids a decoder must not produce: pad, unk, start and mask (not end).

    GPT-2's vocabulary has one special token in every role: it stays allowed, as the end.
    `special_tokens` True (`SamplingConfig.special_tokens`) bans none.
    """
    if special_tokens:
        return ()
    ids = (specials.pad_id, specials.unk_id, specials.start_id, specials.mask_id)
    return tuple(i for i in dict.fromkeys(ids) if i != specials.end_id)
