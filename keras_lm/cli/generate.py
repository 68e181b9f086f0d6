"""`keras-lm generate RUN "prompt"` and `keras-lm translate RUN "sentence"`: decode from a trained run.

Options go before or after the texts (`translate RUN --strategy beam "text"`); an empty or
blank text, an unreadable `--input` file and a sampling option out of range are refused
with one line naming them, before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from keras_lm.cli.argtypes import option_error
from keras_lm.cli.console import out_console
from keras_lm.errors import FieldError
from keras_lm.errors import InputError
from keras_lm.training.config import CHECKPOINTS


def register(commands) -> None:
    generate = commands.add_parser("generate", help="continue prompts with a trained LM run")
    _common(generate, "prompt", "prompts to continue")
    generate.set_defaults(run=run_generate, default_new_tokens=200, noun="prompt")

    translate = commands.add_parser("translate", help="translate sentences with a seq2seq run")
    _common(translate, "sentence", "sentences to translate")
    translate.set_defaults(run=run_translate, default_new_tokens=128, noun="sentence")


def _common(parser, noun: str, help_text: str) -> None:
    from keras_lm.inference.sampling import STRATEGIES

    parser.add_argument("run_dir", metavar="RUN", help="a run directory from `keras-lm train`")
    parser.add_argument("texts", metavar=noun.upper(), nargs="*", help=help_text)
    parser.add_argument("--input", metavar="FILE", help=f"also read one {noun} per line from FILE")
    parser.add_argument("--strategy", choices=STRATEGIES, default="greedy")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="top_k strategy: k; top_p: a cap")
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--num-beams", type=int, default=4)
    parser.add_argument("--length-penalty", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--special-tokens",
        action="store_true",
        help="let the decoder choose pad/unk/start/mask (by default it never does)",
    )
    parser.add_argument("--checkpoint", choices=list(CHECKPOINTS), default="best")
    parser.add_argument(
        "--no-cache", action="store_true", help="recompute the whole sequence per token (LMs)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")


def _texts(args) -> list[str]:
    """The texts given, then the non-blank lines of `--input`; a blank text is refused."""
    from keras_lm.inference.text_model import check_texts

    texts = list(args.texts)
    check_texts(texts, args.noun)
    if args.input:
        texts += [line for line in read_input(Path(args.input)) if line.strip()]
    if not texts:
        raise InputError("arguments", "give at least one text, or --input FILE")
    return texts


def read_input(path: Path) -> list[str]:
    """The lines of a UTF-8 text file; `InputError` naming the file (and the line and byte of
    bytes that are not UTF-8) for anything else.

    >>> read_input(Path("/nonexistent.txt"))
    Traceback (most recent call last):
    ...
    keras_lm.errors.InputError: /nonexistent.txt: cannot read --input: No such file or directory
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read --input: {err.strerror or err}") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff").splitlines()
    except UnicodeDecodeError as err:
        raise InputError(
            path,
            f"not valid UTF-8 (bytes {data[err.start : err.start + 4].hex(' ')}: {err.reason}); "
            "--input takes a UTF-8 text file, one text per line",
            line=data.count(b"\n", 0, err.start) + 1,
            offset=err.start,
        ) from None


def _sampling(args):
    """The sampling options as a `SamplingConfig`; an option out of range is named as typed."""
    from keras_lm.inference.sampling import SamplingConfig

    try:
        return SamplingConfig(
            strategy=args.strategy,
            max_new_tokens=args.default_new_tokens
            if args.max_new_tokens is None
            else args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            num_beams=args.num_beams,
            length_penalty=args.length_penalty,
            seed=args.seed,
            special_tokens=args.special_tokens,
        )
    except FieldError as err:
        raise option_error(err) from None


def _generator(args):
    from keras_lm.generation import Generator

    return Generator.from_run(args.run_dir, args.checkpoint, cached=not args.no_cache)


def run_generate(args) -> int:
    texts, sampling = _texts(args), _sampling(args)  # both checked before the model loads
    outputs = _generator(args).generate(texts, sampling)
    _print([t + o for t, o in zip(texts, outputs, strict=True)], args.json, sampling)
    return 0


def run_translate(args) -> int:
    texts, sampling = _texts(args), _sampling(args)
    _print(_generator(args).translate(texts, sampling), args.json, sampling)
    return 0


def _print(outputs: list[str], as_json: bool, sampling) -> None:
    console = out_console()
    if as_json:
        console.print(
            json.dumps(
                {"sampling": dataclasses.asdict(sampling), "outputs": outputs}, ensure_ascii=False
            ),
            markup=False,
        )
        return
    for text in outputs:
        console.print(text, markup=False, highlight=False)
