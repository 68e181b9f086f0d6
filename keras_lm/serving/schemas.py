"""The request bodies of the HTTP API, as pydantic models: an unknown field is refused (422).

`/v1/completions` follows OpenAI's completions API (`prompt`, `max_tokens`, `temperature`,
`top_p`, `top_k`, `seed`, `stop`, `stream`); `temperature: 0` is greedy decoding.

Example:
>>> body = CompletionRequest(prompt="ROMEO:", max_tokens=8, temperature=0)
>>> body.sampling(max_tokens=8).strategy
'greedy'
>>> CompletionRequest(prompt="x", top_p=0.9).sampling(max_tokens=4).strategy
'top_p'
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from keras_lm.inference.sampling import SamplingConfig


class Decoding(BaseModel):
    """The decoding fields every generating endpoint takes."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # OpenAI clients send one; any name is the served model
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(1.0, ge=0, le=100)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    seed: int | None = Field(None, ge=0)
    stop: str | list[str] | None = None
    stream: bool = False

    def stops(self) -> tuple[str, ...]:
        """The non-empty stop strings."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return tuple(s for s in stop if s)

    def sampling(self, max_tokens: int) -> SamplingConfig:
        """The `SamplingConfig` of these fields: greedy at temperature 0, else top-p, top-k or random."""
        if self.temperature == 0:
            strategy = "greedy"
        elif self.top_p < 1:
            strategy = "top_p"
        else:
            strategy = "top_k" if self.top_k else "random"
        return SamplingConfig(
            strategy=strategy,
            max_new_tokens=max_tokens,
            temperature=self.temperature or 1.0,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=self.seed,
        )


class CompletionRequest(Decoding):
    """`POST /v1/completions`: continue `prompt`."""

    prompt: str


class TranslateRequest(Decoding):
    """`POST /v1/translate`: translate `text` (temperature 0, greedy, unless told otherwise)."""

    text: str
    temperature: float = Field(0.0, ge=0, le=100)
    max_tokens: int = Field(128, ge=1)


class ClassifyRequest(BaseModel):
    """`POST /v1/classify`: a label and class probabilities per text."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    text: str | list[str] = Field(min_length=1)
