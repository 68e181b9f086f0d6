"""`keras-lm train --config NAME_OR_FILE [--set key=value ...]`: train (or resume) a run."""

from __future__ import annotations

import json
import os
import sys

from keras_lm.cli.argtypes import comma_list
from keras_lm.cli.console import out_console


def register(commands) -> None:
    train = commands.add_parser("train", help="train a model from a config; run again to resume")
    train.add_argument("--config", required=True, help="a shipped config name or a YAML/JSON file")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set model.num_layers=4 (type-checked)",
    )
    train.add_argument(
        "--from",
        dest="from_run",
        metavar="RUN",
        help="fine-tune: start from RUN's weights (a trained or `keras-lm import`ed run); its "
        "family, model and tokenizer replace the config's",
    )
    train.add_argument(
        "--lora-rank",
        type=int,
        metavar="R",
        help="with --from: train only rank-R LoRA adapters on attention query and value",
    )
    train.add_argument("--run-dir", help="where the run is written (default runs/<name>)")
    train.add_argument("--data-dir", help="data directory (else $KERAS_LM_DATA)")
    train.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _distribute_arguments(train)
    train.set_defaults(run=run_train)


def _distribute_arguments(train) -> None:
    group = train.add_argument_group("distribution (README: Training past one machine)")
    group.add_argument(
        "--distribute",
        choices=["none", "mirrored", "multiworker", "tpu"],
        default="none",
        help="tf.distribute strategy; loop.batch_size stays the global batch",
    )
    group.add_argument(
        "--workers",
        type=comma_list,
        default=(),
        metavar="HOST:PORT,...",
        help="multiworker: every worker's address, the chief first (else TF_CONFIG is read)",
    )
    group.add_argument(
        "--task-index", type=int, metavar="I", help="multiworker: this worker's place in --workers"
    )
    group.add_argument(
        "--cpu-replicas",
        type=int,
        metavar="N",
        help="mirrored without GPUs: N logical CPU devices, one replica each",
    )
    group.add_argument("--tpu", metavar="NAME", help="tpu: the TPU name or grpc:// address")
    group.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="multiworker: how long to wait for every worker to join, and for a collective",
    )


def distribute_config(args):
    """The `DistributeConfig` of the parsed arguments."""
    from keras_lm.training.distribute import DistributeConfig

    return DistributeConfig(
        strategy=args.distribute,
        workers=args.workers,
        task_index=args.task_index,
        cpu_replicas=args.cpu_replicas,
        tpu=args.tpu,
        timeout_s=args.timeout,
    )


def run_train(args) -> int:
    from keras_lm.training.presets import load_config

    overrides = list(args.set) + ([f"data.data_dir={args.data_dir}"] if args.data_dir else [])
    if args.from_run:
        overrides.append(f"finetune.from_run={args.from_run}")
    if args.lora_rank is not None:
        overrides.append(f"finetune.lora_rank={args.lora_rank}")
    config = load_config(args.config, overrides)
    distribute = distribute_config(args)  # checked before anything is trained
    if args.print_config:
        from keras_lm.training.finetune import with_source

        config = with_source(config)
        out_console().print(config.to_yaml(), markup=False)
        return 0
    from keras_lm.training.distribute import DistributeError
    from keras_lm.training.fit import train

    try:
        result = train(
            config,
            args.run_dir or f"runs/{config.name}",
            verbose=0 if args.quiet else "auto",
            distribute=distribute,
        )
    except DistributeError as err:
        # TensorFlow's threads still wait on the missing peers and would hold the exit.
        print(f"error: {err}", file=sys.stderr, flush=True)
        os._exit(2)
    out_console().print(json.dumps(result.metrics, indent=2), markup=False)
    out_console().print(f"run written to {result.run_dir}")
    return 0
