"""Generate, translate and classify text with a trained run's Keras model, in one call.

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

from pathlib import Path

import numpy as np

from keras_lm.features import PADDING_MASK
from keras_lm.features import TOKEN_IDS
from keras_lm.framing import Framing
from keras_lm.generation.keras_graphs import RecomputeLMStepper
from keras_lm.generation.keras_graphs import keras_stepper
from keras_lm.inference.sampling import softmax
from keras_lm.inference.text_model import TextModel
from keras_lm.models.registry import family_of
from keras_lm.runs import open_run


class Generator(TextModel):
    """A trained Keras model with its tokenizer and cached stepper.

    Args:
    model: a trained keras_lm model (its family is its name).
    tokenizer: the run's tokenizer.
    max_source_length / max_target_length: seq2seq limits from the run's data config.
    cached: False runs the naive full recompute (LMs only): for benchmarks and checks.
    jit_compile: XLA-compile the one-token step.
    labels / max_length / overflow / framing: a classifier's class names, token limit, overflow
        rule and framing of its ids (`from_run` reads all four from the run).
    prompt_head: ids every LM prompt starts with (`from_run`: `Framing.prompt_head`, Llama's `<s>`).
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
        framing: Framing | None = None,
        prompt_head: tuple[int, ...] = (),
    ):
        family = family_of(model)
        if family.stepper is None:
            stepper = None
        elif not cached and family.task == "lm":
            stepper = RecomputeLMStepper(model)
        else:
            stepper = keras_stepper(model, jit_compile, max_target_length)
        limit = max_source_length if family.bounded_source else None
        super().__init__(stepper, tokenizer, family.task, family.name, limit)
        self.model, self.labels, self.max_length = model, labels, max_length
        self.overflow, self.framing = overflow, framing
        self.prompt_head = tuple(prompt_head)

    def _class_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return softmax(self.model.predict_on_batch({TOKEN_IDS: ids, PADDING_MASK: mask}))

    @classmethod
    def from_run(
        cls, run_dir: str | Path, checkpoint: str = "best", cached: bool = True
    ) -> Generator:
        """Load `run_dir`'s checkpoint (`best` or `final`) and tokenizer."""
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
            framing=run.framing() if run.task == "classify" else None,
            prompt_head=tuple(Framing.prompt_head(run.config.model, run.tokenizer.specials)),
        )
