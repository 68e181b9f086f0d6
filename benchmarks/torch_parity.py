"""Same start, same batches: keras_lm's `transformer_lm` and torch_ref's train loop, step by step.

The loss goal compares two runs that differ in everything random (initial weights, batch
order, dropout masks). This benchmark takes the randomness out: torch_ref's own `model.py`
and training loop (its `get_batch`, `lr_at`, AdamW groups, `clip_grad_norm_`) run for N
steps in the torch venv and save their initial weights, every batch and every loss. Then
keras_lm builds the config's model, loads those weights, compiles it with `compile_model`
(as `keras-lm train` does) and trains on the same batches. Without dropout the two loss
curves should agree to float rounding; with dropout only the masks differ. The final loss
of both on torch_ref's whole valid split (non-overlapping windows) is reported.

One seed gives one draw of the dropout masks on each side, so a small difference at the
end cannot be told from the spread between seeds; `seeds_summary` sets the per-seed
differences beside the spread of each side's own final losses.

`run_parity(ParityConfig(...))` is the whole benchmark (`keras-lm bench parity`): one
torch_ref run and one keras_lm run per seed, the report of each, and the summary.

Example:
>>> import numpy as np
>>> state = {"blocks.0.attn.qkv.weight": np.arange(6 * 2).reshape(6, 2)}
>>> [a.shape for a in qkv_kernels(state, "blocks.0.", num_heads=1)]
[(2, 1, 2), (2, 1, 2), (2, 1, 2)]
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.processes import torch_ref_folder
from keras_lm.bench.torch_decode import TORCH_REF_FAMILY
from keras_lm.config import Config
from keras_lm.data.datasets import find_local
from keras_lm.data.registry import get_spec
from keras_lm.errors import InputError
from keras_lm.io import write_text_atomic
from keras_lm.training.config import TrainConfig
from keras_lm.training.presets import load_config

# Run by the torch venv's python: argv = torch_ref dir, data dir, settings JSON, output .npz.
_TORCH_SIDE = """
import argparse, json, sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
from model import GPT, GPTConfig
from train import full_val_loss, get_batch, load_text, lr_at
s = json.loads(sys.argv[3])
torch.set_num_threads(2)
torch.manual_seed(s["seed"])
chars, train, val = load_text(sys.argv[2])
cfg = GPTConfig(vocab_size=len(chars), block_size=s["context"], n_layer=s["layers"],
                n_head=s["heads"], n_embd=s["width"], dropout=s["dropout"], bias=True)
model = GPT(cfg)
init = {"w:" + k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
a = argparse.Namespace(lr=s["lr"], min_lr=s["min_lr"], warmup_iters=s["warmup"],
                       lr_decay_iters=0, max_iters=s["steps"])
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": s["weight_decay"]},
                         {"params": no_decay, "weight_decay": 0.0}],
                        lr=s["lr"], betas=(s["beta_1"], s["beta_2"]), fused=False)
gen = torch.Generator().manual_seed(s["seed"])
init_loss = full_val_loss(model, val, s["sequence_length"])  # eval mode, no random draws
xs, ys, losses = [], [], []
model.train()
for it in range(s["steps"]):
    for g in opt.param_groups:
        g["lr"] = lr_at(it, a)
    x, y = get_batch(train, s["sequence_length"], s["batch_size"], gen)
    _, loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if s["clipnorm"]:
        torch.nn.utils.clip_grad_norm_(model.parameters(), s["clipnorm"])
    opt.step()
    losses.append(loss.item())
    xs.append(x.numpy().astype(np.int32))
    ys.append(y.numpy().astype(np.int32))
np.savez(sys.argv[4], x=np.stack(xs), y=np.stack(ys), losses=np.array(losses),
         val=val.numpy().astype(np.int32), final_val_loss=full_val_loss(model, val, s["sequence_length"]),
         vocab_size=len(chars), init_loss=init_loss, **init)
"""


def torch_settings(config: TrainConfig, steps: int, seed: int) -> dict:
    """What the torch side needs from a keras_lm config (architecture, optimizer, batch)."""
    model, opt, loop = config.model, config.optimizer, config.loop
    return {
        "context": model["context"],
        "layers": model["num_layers"],
        "heads": model["num_heads"],
        "width": model["hidden_dim"],
        "dropout": model["dropout"],
        "lr": opt.learning_rate,
        "min_lr": opt.min_learning_rate,
        "warmup": min(opt.warmup_steps, max(steps - 1, 0)),  # as learning_rate_schedule clamps it
        "weight_decay": opt.weight_decay,
        "beta_1": opt.beta_1,
        "beta_2": opt.beta_2,
        "clipnorm": opt.clipnorm,
        "batch_size": loop.batch_size,
        "sequence_length": loop.sequence_length,
        "steps": steps,
        "seed": seed,
    }


def qkv_kernels(state: dict, prefix: str, num_heads: int) -> list[np.ndarray]:
    """torch's fused `(3D, D)` qkv weight as Keras' query, key, value kernels `(D, heads, D/heads)`."""
    weight = state[prefix + "attn.qkv.weight"]
    width = weight.shape[1]
    return [
        part.T.reshape(width, num_heads, width // num_heads) for part in np.split(weight, 3, axis=0)
    ]


def keras_weights(state: dict, num_layers: int, num_heads: int) -> dict[str, np.ndarray]:
    """torch_ref's state dict as `{keras variable path: value}` for `build_transformer_lm`."""
    out = {
        "token_embedding/embeddings": state["tok_emb.weight"],
        "position_embedding/embeddings": state["pos_emb.weight"],
        "final_layer_norm/gamma": state["ln_f.weight"],
        "final_layer_norm/beta": state["ln_f.bias"],
    }
    for i in range(num_layers):
        k, p = f"blocks.{i}.", f"transformer_layer_{i}/"
        biases = np.split(state[k + "attn.qkv.bias"], 3)
        for name, kernel, bias in zip(
            ("query", "key", "value"), qkv_kernels(state, k, num_heads), biases, strict=True
        ):
            out[p + f"self_attention/{name}/kernel"] = kernel
            out[p + f"self_attention/{name}/bias"] = bias.reshape(kernel.shape[1:])
        proj = state[k + "attn.proj.weight"]  # (D out, D in)
        out[p + "self_attention/attention_output/kernel"] = proj.T.reshape(
            num_heads, proj.shape[1] // num_heads, proj.shape[0]
        )
        out[p + "self_attention/attention_output/bias"] = state[k + "attn.proj.bias"]
        for keras_name, torch_name in (
            ("self_attention_layer_norm", "ln1"),
            ("feedforward_layer_norm", "ln2"),
        ):
            out[p + f"{keras_name}/gamma"] = state[k + f"{torch_name}.weight"]
            out[p + f"{keras_name}/beta"] = state[k + f"{torch_name}.bias"]
        for keras_name, torch_name in (
            ("feedforward_intermediate_dense", "mlp.fc"),
            ("feedforward_output_dense", "mlp.out"),
        ):
            out[p + f"{keras_name}/kernel"] = state[k + f"{torch_name}.weight"].T
            out[p + f"{keras_name}/bias"] = state[k + f"{torch_name}.bias"]
    return out


def load_torch_weights(model, state: dict, num_layers: int, num_heads: int) -> None:
    """Assign torch_ref's weights to a keras_lm `transformer_lm`; every variable must be covered."""
    values = keras_weights(state, num_layers, num_heads)
    paths = {v.path for v in model.weights}
    if paths != set(values):
        raise ValueError(
            f"torch_ref and keras_lm weights differ: only in keras {sorted(paths - set(values))}, "
            f"only in torch {sorted(set(values) - paths)}"
        )
    for variable in model.weights:
        value = np.asarray(values[variable.path], "float32")
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"{variable.path}: torch_ref gives {value.shape}, keras {variable.shape}"
            )
        variable.assign(value)


def run_torch_side(
    config: TrainConfig, steps: int, seed: int, python: str, torch_ref: Path, data: Path, out: Path
) -> Path:
    """torch_ref's loop for `steps` steps in the torch venv; the .npz it writes."""
    settings = json.dumps(torch_settings(config, steps, seed))
    subprocess.run(
        [python, "-c", _TORCH_SIDE, str(torch_ref), str(data), settings, str(out)], check=True
    )
    return out


def _valid_loss(model, val: np.ndarray, window: int) -> float:
    """Mean token loss on non-overlapping windows of `val`: the windows of torch_ref's `full_val_loss`."""
    from keras_lm.data.pipelines import lm_dataset
    from keras_lm.evaluation.evaluate import token_metrics

    windows = lm_dataset(val, window, 64, shuffle=False, drop_remainder=False)
    return token_metrics(model, windows)["loss"]


def run_keras_side(config: TrainConfig, record) -> dict:
    """Train keras_lm's model from torch_ref's start on its batches; losses and final valid loss."""
    from keras_lm.features import PADDING_MASK
    from keras_lm.features import TOKEN_IDS
    from keras_lm.models.registry import build_model
    from keras_lm.training.compile import compile_model

    steps = len(record["losses"])
    config = config.with_overrides(  # one train_on_batch call per torch_ref step
        {"loop.max_steps": steps, "loop.steps_per_epoch": steps, "loop.steps_per_execution": 1}
    )
    model = build_model(config.family, config.model_config(vocab_size=int(record["vocab_size"])))
    state = {k[2:]: record[k] for k in record if k.startswith("w:")}
    load_torch_weights(model, state, config.model["num_layers"], config.model["num_heads"])
    window = config.loop.sequence_length
    init_loss = _valid_loss(model, record["val"], window)
    if abs(init_loss - float(record["init_loss"])) > 1e-4:
        raise ValueError(
            f"the same weights give different losses: keras_lm {init_loss:.6f}, "
            f"torch_ref {float(record['init_loss']):.6f} (the layers do not match)"
        )
    compile_model(model, config)
    losses = []
    for x, y in zip(record["x"], record["y"], strict=True):
        out = model.train_on_batch(
            {TOKEN_IDS: x, PADDING_MASK: np.ones_like(x)}, y, return_dict=True
        )
        losses.append(float(out["loss"]))
    return {
        "init_loss": init_loss,
        "losses": losses,
        "final_val_loss": _valid_loss(model, record["val"], window),
    }


def parity_report(
    name: str, record, keras_side: dict, points: int = 8, seed: int | None = None
) -> dict:
    """Both loss curves at `points` steps, the mean difference per stretch, both final valid losses."""
    torch_losses = np.asarray(record["losses"])
    keras_losses = np.asarray(keras_side["losses"])
    steps = len(torch_losses)
    at = sorted({0, steps - 1, *np.linspace(0, steps - 1, points).astype(int).tolist()})
    stretches = np.array_split(np.arange(steps), min(4, steps))
    return {
        "config": name,
        "seed": seed,
        "steps": steps,
        "init_loss": {"torch_ref": float(record["init_loss"]), "keras_lm": keras_side["init_loss"]},
        "curve": [
            {
                "step": int(i),
                "torch_ref": float(torch_losses[i]),
                "keras_lm": float(keras_losses[i]),
            }
            for i in at
        ],
        "mean_difference": [
            {
                "steps": f"{int(s[0])}-{int(s[-1])}",
                "keras_minus_torch": float(np.mean(keras_losses[s] - torch_losses[s])),
            }
            for s in stretches
        ],
        "final_val_loss": {
            "torch_ref": float(record["final_val_loss"]),
            "keras_lm": keras_side["final_val_loss"],
        },
    }


def format_parity(report: dict) -> str:
    """Markdown: the final valid losses, the mean difference per stretch, the two curves."""
    final = report["final_val_loss"]
    seed = "" if report.get("seed") is None else f", seed {report['seed']}"
    lines = [
        f"{report['config']}{seed}, {report['steps']} steps from torch_ref's initial weights "
        "on its batches.",
        "",
        f"Valid loss of the initial weights: torch_ref {report['init_loss']['torch_ref']:.6f}, "
        f"keras_lm {report['init_loss']['keras_lm']:.6f}.",
        "",
        f"Final loss on torch_ref's whole valid split: torch_ref {final['torch_ref']:.4f}, "
        f"keras_lm {final['keras_lm']:.4f} (keras - torch {final['keras_lm'] - final['torch_ref']:+.4f}).",
        "",
        "| steps | mean train loss difference (keras - torch) |",
        "|---|---|",
        *(f"| {d['steps']} | {d['keras_minus_torch']:+.4f} |" for d in report["mean_difference"]),
        "",
        "| step | torch_ref train loss | keras_lm train loss |",
        "|---|---|---|",
        *(f"| {c['step']} | {c['torch_ref']:.4f} | {c['keras_lm']:.4f} |" for c in report["curve"]),
    ]
    return "\n".join(lines)


def seeds_summary(reports: list[dict]) -> dict:
    """Per seed, both final valid losses and their difference; the mean and spread over seeds."""
    rows = [
        {
            "seed": r["seed"],
            "torch_ref": r["final_val_loss"]["torch_ref"],
            "keras_lm": r["final_val_loss"]["keras_lm"],
            "keras_minus_torch": r["final_val_loss"]["keras_lm"] - r["final_val_loss"]["torch_ref"],
        }
        for r in reports
    ]

    def stats(key: str) -> dict:
        values = [row[key] for row in rows]
        return {"mean": float(np.mean(values)), "min": min(values), "max": max(values)}

    return {
        "seeds": rows,
        **{key: stats(key) for key in ("torch_ref", "keras_lm", "keras_minus_torch")},
    }


def format_seeds(summary: dict) -> str:
    """Markdown: one row per seed, then the mean (min to max) of each column."""

    def cell(stat: dict, sign: str = "") -> str:
        return f"{stat['mean']:{sign}.4f} ({stat['min']:{sign}.4f} to {stat['max']:{sign}.4f})"

    return "\n".join(
        [
            "| seed | torch_ref valid loss | keras_lm valid loss | keras - torch |",
            "|---|---|---|---|",
            *(
                f"| {r['seed']} | {r['torch_ref']:.4f} | {r['keras_lm']:.4f} "
                f"| {r['keras_minus_torch']:+.4f} |"
                for r in summary["seeds"]
            ),
            f"| mean (min to max) | {cell(summary['torch_ref'])} | {cell(summary['keras_lm'])} "
            f"| {cell(summary['keras_minus_torch'], '+')} |",
        ]
    )


@dataclasses.dataclass(frozen=True)
class ParityConfig(Config):
    """What `run_parity` runs; the fields of `keras-lm bench parity`'s options.

    config: a shipped `transformer_lm` config (name or file).
    steps: training steps on both sides.
    seeds: one run each: torch_ref's seed (weights, batches, dropout) and keras_lm's
        loop.seed (its dropout).
    overrides: "KEY=VALUE" config overrides, both sides (after the seed: an explicit
        loop.seed wins).
    data_dir: where tinyshakespeare is (None: $KERAS_LM_DATA and the usual places).
    torch_python / torch_ref: the torch venv's python and the torch_ref folder (required).
    out: folder for parity.json and parity.md.
    """

    config: str = "shakespeare-small"
    steps: int = 120
    seeds: tuple[int, ...] = (1337,)
    overrides: tuple[str, ...] = ()
    data_dir: str | None = None
    torch_python: str | None = None
    torch_ref: str | None = None
    out: str = "reports/bench"


def run_parity(
    config: ParityConfig, command: str = "", progress: Callable[[str], None] | None = None
) -> str:
    """Both sides at every seed; write `parity.json` and `parity.md` under `config.out`; the Markdown.

    >>> config = ParityConfig(config="shakespeare-baby", steps=5, seeds=(1337, 1),
    ...                       torch_python=".venv-torchref/bin/python",
    ...                       torch_ref="../shared/anchors/torch_ref")
    >>> print(run_parity(config, "keras-lm bench parity"))  # doctest: +SKIP
    """
    configs = {
        s: load_config(config.config, [f"loop.seed={s}", *config.overrides]) for s in config.seeds
    }
    family = next(iter(configs.values())).family
    if family != TORCH_REF_FAMILY:
        raise InputError("config", f"expected a {TORCH_REF_FAMILY} config, got {family}")
    folder = find_local(get_spec("tinyshakespeare"), config.data_dir)
    if folder is None:
        raise InputError(
            "data_dir", "tinyshakespeare not found (pass --data-dir or set KERAS_LM_DATA)"
        )
    torch_ref = torch_ref_folder(config.torch_ref)
    if torch_ref is None:
        raise InputError("torch_ref", "no torch_ref folder given (--torch-ref)")
    if not config.torch_python or not Path(config.torch_python).is_file():
        raise InputError(
            "torch_python", f"{config.torch_python} is absent (make torchref creates it)"
        )
    reports = [
        _one_seed(config, train_config, seed, torch_ref, folder, progress)
        for seed, train_config in configs.items()
    ]
    parts = [f"Command: `{command}`"]
    summary = seeds_summary(reports) if len(reports) > 1 else None
    if summary:
        parts.append(format_seeds(summary))
    parts += [format_parity(report) for report in reports]
    text = "\n\n".join(parts)
    out = Path(config.out)
    result = {"command": command, "summary": summary, "runs": reports}
    write_text_atomic(out / "parity.md", text + "\n")
    write_text_atomic(out / "parity.json", json.dumps(result, indent=2) + "\n")
    return text


def _one_seed(
    config: ParityConfig,
    train_config: TrainConfig,
    seed: int,
    torch_ref: Path,
    folder: Path,
    progress: Callable[[str], None] | None,
) -> dict:
    """torch_ref's run at `seed`, then keras_lm's on its weights and batches: the parity report."""
    with tempfile.TemporaryDirectory(prefix="keras_lm_parity_") as tmp:
        if progress:
            progress(f"torch_ref, seed {seed}: {config.steps} steps")
        path = run_torch_side(
            train_config,
            config.steps,
            seed,
            config.torch_python,
            torch_ref,
            folder,
            Path(tmp) / "torch.npz",
        )
        record = dict(np.load(path))
    if progress:
        progress(f"keras_lm, seed {seed}: {config.steps} steps on the same batches")
    return parity_report(config.config, record, run_keras_side(train_config, record), seed=seed)
