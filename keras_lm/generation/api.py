"""Generate and translate text from a trained run in one call.

Example (a run directory from `keras-lm train`):
>>> gen = Generator.from_run("runs/shakespeare-baby")  # doctest: +SKIP
>>> gen.generate("ROMEO:", strategy="top_p", top_p=0.9, seed=1)  # doctest: +SKIP
' What say you, sir? ...'
>>> Generator.from_run("runs/spa-eng-transformer").translate(["I am hungry."])  # doctest: +SKIP
['Tengo hambre.']
>>> Generator.from_run("runs/sst2-classifier").classify("a gorgeous film")["label"]  # doctest: +SKIP
'1'
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from keras_lm.errors import InputError
from keras_lm.generation.decoding import generate_lm
from keras_lm.generation.decoding import right_pad
from keras_lm.generation.decoding import translate_ids
from keras_lm.generation.sampling import SamplingConfig
from keras_lm.generation.sampling import softmax

log = logging.getLogger(__name__)

LM_FAMILIES = ("transformer_lm", "lstm_lm")
SEQ2SEQ_FAMILIES = ("transformer_seq2seq", "lstm_seq2seq")


class TextModel:
    """Text in, text out: `generate` for LMs, `translate` for seq2seq, `classify` for classifiers.

    The base of `Generator` (Keras in-process) and of the TensorFlow-free runtime's
    bundle models; pure Python over the stepper and the tokenizer.
    """

    # A classifier's class names, token limit and overflow rule (`data.max_length`, `data.overflow`).
    labels: list[str] | None = None
    max_length: int | None = None
    overflow: str = "truncate"

    def __init__(self, stepper, tokenizer, family: str, max_source_length: int | None = None):
        self.stepper, self.tokenizer, self.family = stepper, tokenizer, family
        self.max_source_length = max_source_length

    def generate(
        self, prompts: str | list[str], sampling: SamplingConfig | None = None, **overrides
    ) -> str | list[str]:
        """The continuation of each prompt (without the prompt); one string in, one string out.

        `overrides` are `SamplingConfig` fields: `strategy`, `max_new_tokens`, `top_k`, ...
        """
        self._require(LM_FAMILIES, "generate")
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        ids = [self.tokenizer.encode(t) for t in texts]
        for i, row in enumerate(ids):
            if not row:
                raise InputError("prompt", f"prompt {i} ({texts[i]!r}) encodes to no tokens")
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
        self._require(SEQ2SEQ_FAMILIES, "translate")
        texts = [sources] if isinstance(sources, str) else list(sources)
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

        A text longer than the classifier's `data.max_length` tokens is an error naming it
        when the model was trained with `data.overflow: error`; otherwise it is cut to the
        limit, with a warning that counts the cut texts (training cut or dropped such rows).
        """
        self._require(("encoder_classifier",), "classify")
        batch = [texts] if isinstance(texts, str) else list(texts)
        limit = self.max_length or 64
        unk = self.tokenizer.specials.unk_id
        encoded = [self.tokenizer.encode(t) for t in batch]
        too_long = [i for i, row in enumerate(encoded) if len(row) > limit]
        if too_long and self.overflow == "error":
            i = too_long[0]
            raise InputError(
                "text",
                f"text {i} ({batch[i][:40]!r}...) is {len(encoded[i])} tokens; the classifier "
                f"takes at most {limit} (data.max_length, trained with data.overflow: error)",
            )
        if too_long:
            log.warning(
                "classify: cut %d of %d texts to %d tokens (data.max_length)",
                len(too_long),
                len(batch),
                limit,
            )
        ids, mask = right_pad([row[:limit] or [unk] for row in encoded])
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

    def _require(self, families: tuple[str, ...], verb: str) -> None:
        if self.family not in families:
            raise InputError(
                "model", f"a {self.family} model cannot {verb}; expected one of {list(families)}"
            )

    def _check_lengths(self, texts: list[str], ids: list[list[int]]) -> None:
        limit = self.max_source_length
        if limit is None or self.family != "transformer_seq2seq":
            return
        for i, row in enumerate(ids):
            if len(row) > limit:
                raise InputError(
                    "source",
                    f"source {i} ({texts[i][:40]!r}...) is {len(row)} tokens; the model takes at most "
                    f"{limit} (data.max_source_length): split it into sentences",
                )


class Generator(TextModel):
    """A trained Keras model with its tokenizer and cached stepper.

    Args:
    model: a trained keras_lm model (its family is its name).
    tokenizer: the run's tokenizer.
    max_source_length / max_target_length: seq2seq limits from the run's data config.
    cached: False runs the naive full recompute (LMs only): for benchmarks and checks.
    jit_compile: XLA-compile the one-token step.
    labels / max_length / overflow: a classifier's class names, token limit and overflow rule
        (`from_run` reads all three from the run's config).
    """

    def __init__(
        self,
        model,
        tokenizer,
        max_source_length: int | None = None,
        max_target_length: int = 128,
        cached: bool = True,
        jit_compile: bool = True,
        labels: list[str] | None = None,
        max_length: int | None = None,
        overflow: str = "truncate",
    ):
        from keras_lm.generation.keras_graphs import RecomputeLMStepper
        from keras_lm.generation.keras_graphs import keras_stepper

        if model.name == "encoder_classifier":
            stepper = None
        elif not cached and model.name in LM_FAMILIES:
            stepper = RecomputeLMStepper(model)
        else:
            stepper = keras_stepper(model, jit_compile, max_target_length)
        super().__init__(stepper, tokenizer, model.name, max_source_length)
        self.model, self.labels, self.max_length = model, labels, max_length
        self.overflow = overflow

    def _class_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from keras_lm.features import PADDING_MASK
        from keras_lm.features import TOKEN_IDS

        return softmax(self.model.predict_on_batch({TOKEN_IDS: ids, PADDING_MASK: mask}))

    @classmethod
    def from_run(
        cls, run_dir: str | Path, checkpoint: str = "best", cached: bool = True
    ) -> Generator:
        """Load `run_dir`'s checkpoint (`best` or `final`) and tokenizer."""
        from keras_lm.training.runs import open_run

        run = open_run(run_dir)
        data = run.config.data
        return cls(
            run.model(checkpoint),
            run.tokenizer,
            data.max_source_length,
            data.max_target_length,
            cached,
            labels=run.labels(),
            max_length=data.max_length,
            overflow=data.overflow,
        )


def _sampling(sampling: SamplingConfig | None, overrides: dict) -> SamplingConfig:
    base = sampling or SamplingConfig()
    return dataclasses.replace(base, **overrides) if overrides else base


def _banned(specials, config: SamplingConfig) -> tuple[int, ...]:
    """The special ids a decoder must not produce: pad, unk, start and mask (not end)."""
    if config.special_tokens:
        return ()
    return (specials.pad_id, specials.unk_id, specials.start_id, specials.mask_id)
