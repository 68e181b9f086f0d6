"""`keras-lm generate RUN "prompt"` and `keras-lm translate RUN "sentence"`: decode from a trained run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from keras_lm.cli.console import out_console
from keras_lm.errors import InputError


def register(commands) -> None:
    generate = commands.add_parser("generate", help="continue prompts with a trained LM run")
    _common(generate, "prompt", "prompts to continue")
    generate.set_defaults(run=run_generate, default_new_tokens=200)

    translate = commands.add_parser("translate", help="translate sentences with a seq2seq run")
    _common(translate, "sentence", "sentences to translate")
    translate.set_defaults(run=run_translate, default_new_tokens=128)


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
    parser.add_argument("--checkpoint", choices=["best", "final"], default="best")
    parser.add_argument(
        "--no-cache", action="store_true", help="recompute the whole sequence per token (LMs)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")


def _texts(args) -> list[str]:
    texts = list(args.texts)
    if args.input:
        path = Path(args.input)
        if not path.is_file():
            raise InputError(path, "no such file")
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise InputError("arguments", "give at least one text, or --input FILE")
    return texts


def _sampling(args):
    from keras_lm.inference.sampling import SamplingConfig

    return SamplingConfig(
        strategy=args.strategy,
        max_new_tokens=args.max_new_tokens or args.default_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_beams=args.num_beams,
        length_penalty=args.length_penalty,
        seed=args.seed,
        special_tokens=args.special_tokens,
    )


def _generator(args):
    from keras_lm.generation import Generator

    return Generator.from_run(args.run_dir, args.checkpoint, cached=not args.no_cache)


def run_generate(args) -> int:
    texts, sampling = _texts(args), _sampling(args)
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
