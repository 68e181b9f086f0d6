"""`keras-lm evaluate RUN [--split valid|test]`: score a trained run on a held-out split."""

from __future__ import annotations

import json

from keras_lm.cli.argtypes import option_error
from keras_lm.cli.argtypes import positive_int
from keras_lm.cli.console import err_console
from keras_lm.cli.console import out_console
from keras_lm.errors import FieldError
from keras_lm.training.config import CHECKPOINTS

# Report keys shown in the table, in this order, when the run's task has them.
SHOWN = (
    "examples",
    "tokens",
    "loss",
    "perplexity",
    "token_accuracy",
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "roc_auc",
    "bleu",
    "chrf",
)


def register(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score a trained run on its valid or test split; writes RUN/eval/"
    )
    evaluate.add_argument("run_dir", metavar="RUN", help="a run directory from `keras-lm train`")
    evaluate.add_argument(
        "--split",
        default="valid",
        metavar="valid|test",
        help="the held-out split to score (default valid; train is refused)",
    )
    evaluate.add_argument(
        "--checkpoint",
        choices=list(CHECKPOINTS),
        default="best",
        help="best (lowest validation loss), final, or averaged (loop.average_share) model (default best)",
    )
    evaluate.add_argument(
        "--limit", type=positive_int, metavar="N", help="score only the first N examples"
    )
    evaluate.add_argument(
        "--strategy",
        choices=["greedy", "beam"],
        default="greedy",
        help="seq2seq: how translations are decoded for BLEU/chrF (default greedy)",
    )
    evaluate.add_argument("--num-beams", type=positive_int, default=4, help="beam width")
    evaluate.add_argument("--length-penalty", type=float, default=1.0, help="beam length penalty")
    evaluate.add_argument(
        "--json", action="store_true", help="print the whole report as JSON instead of a table"
    )
    evaluate.set_defaults(run=run_evaluate)


def run_evaluate(args) -> int:
    from keras_lm.evaluation.evaluate import eval_path
    from keras_lm.evaluation.evaluate import evaluate_run
    from keras_lm.inference.sampling import SamplingConfig

    try:
        decoding = SamplingConfig(
            strategy=args.strategy, num_beams=args.num_beams, length_penalty=args.length_penalty
        )
    except FieldError as err:
        raise option_error(err) from None
    report = evaluate_run(
        args.run_dir, args.split, args.checkpoint, limit=args.limit, decoding=decoding
    )
    path = eval_path(args.run_dir, args.split)
    if args.json:
        text = json.dumps(report, indent=2, ensure_ascii=False)
        out_console().print(text, markup=False, soft_wrap=True)  # never wrapped: stays valid JSON
        err_console().print(f"report written to {path}", markup=False, soft_wrap=True)
        return 0
    out = out_console()
    out.print(_table(report))
    out.print(f"checkpoint {report['checkpoint']}", markup=False, soft_wrap=True)
    if "bleu_signature" in report:
        out.print(f"BLEU {report['bleu_signature']}\nchrF {report['chrf_signature']}", markup=False)
    if "confusion_plot" in report:
        out.print(f"confusion drawn in {report['confusion_plot']}", markup=False, soft_wrap=True)
    out.print(f"report written to {path}", markup=False, soft_wrap=True)
    return 0


def _table(report: dict):
    from rich.table import Table

    table = Table("metric", "value", title=f"{report['name']}: {report['split']} split")
    for key in SHOWN:
        if key in report:
            table.add_row(key, _format(report[key]))
    return table


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
