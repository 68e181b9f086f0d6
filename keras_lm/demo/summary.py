"""The demo report's first screen: what was trained on what, how good against a trivial
baseline, five examples, how fast each engine decodes, how big each bundle is, and one picture.

It reads only what the stages wrote into the demo folder (`runs/<name>/eval/valid.json`,
`export/<name>/manifest.json`, `bench/bench.json`, `stages.json`), so a resumed demo gets the
same summary as a fresh one.

Example (needs a finished demo folder):
>>> lines = summary_lines(DemoConfig(), Path("runs/demo"), {})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from keras_lm.bench.runtime_report import tokens_per_s

PICTURE = "summary.png"
EXAMPLES = 5
ENGINES = ("keras", "onnx", "tflite")  # decode speed, float32, batch 1, one thread


def summary_lines(config, folder: Path, records: dict, data_line: str = "") -> list[str]:
    """The summary section of the demo in `folder`; draws `folder/summary.png` when it can."""
    models = [_model_facts(folder, name, records) for name in config.train]
    models = [m for m in models if m["eval"]]
    lines = ["## Summary\n"]
    if data_line:
        lines.append(data_line + "\n")
    if not models:
        return [*lines, _stage_times(records), ""]
    if draw_summary(models, folder / PICTURE):
        lines.append(f"![summary]({PICTURE})\n")
    lines += _quality_table(models)
    lines += _examples(models)
    lines += _speed_table(models)
    lines += [_stage_times(records), ""]
    return lines


def _model_facts(folder: Path, name: str, records: dict) -> dict:
    run, bundle = folder / "runs" / name, folder / "export" / name
    bench = _read(folder / "bench" / "bench.json") or {}
    entry = next((b for b in bench.get("bundles", []) if b["name"] == name), {})
    manifest = _read(bundle / "manifest.json") or {}
    train = records.get(f"train {name}", {})
    return {
        "name": name,
        "family": manifest.get("family", "?"),
        "params": manifest.get("params"),
        "steps": (manifest.get("train_config") or {}).get("loop", {}).get("max_steps"),
        "train_s": train.get("seconds"),
        "eval": _read(run / "eval" / "valid.json"),
        "variants": manifest.get("variants", []),
        "rows": [r for r in entry.get("rows", []) if "error" not in r],
        "torch": entry.get("torch", []),
    }


def _quality_table(models: list[dict]) -> list[str]:
    first = models[0]["eval"]
    baselines = first.get("baselines", {})
    lines = [
        f"Quality on the held-out valid split ({first['examples']} pairs never seen in training; "
        "greedy decoding; BLEU and chrF, 0-100, higher is better):\n",
        "| model | parameters | training | BLEU | chrF | BLEU over the best trivial baseline |",
        "|---|---|---|---|---|---|",
    ]
    best = max((b["bleu"] for b in baselines.values()), default=0.0)
    if "copy_source" in baselines:
        copy = baselines["copy_source"]
        lines.append(
            f"| trivial: copy the source | - | - | {copy['bleu']:.1f} | {copy['chrf']:.1f} | - |"
        )
    if "most_frequent_target" in baselines:
        frequent = baselines["most_frequent_target"]
        lines.append(
            f"| trivial: always `{frequent['text']}` (the most frequent target) | - | - "
            f"| {frequent['bleu']:.1f} | {frequent['chrf']:.1f} | - |"
        )
    for m in models:
        params = f"{m['params']:,}" if m["params"] else "-"
        trained = f"{m['steps']} steps, {m['train_s']:.0f} s" if m["train_s"] is not None else "-"
        bleu, chrf = m["eval"]["bleu"], m["eval"]["chrf"]
        lines.append(
            f"| {m['name']} ({m['family']}) | {params} | {trained} | **{bleu:.1f}** | {chrf:.1f} "
            f"| {bleu - best:+.1f} |"
        )
    return [*lines, ""]


def _examples(models: list[dict]) -> list[str]:
    samples = [m["eval"].get("samples", [])[:EXAMPLES] for m in models]
    if not samples[0]:
        return []
    names = [m["name"] for m in models]
    lines = [
        f"{len(samples[0])} held-out examples (the first of the valid split, not picked):\n",
        "| source | reference | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for i, sample in enumerate(samples[0]):
        outputs = [
            _cell(s[i]["hypothesis"]) if i < len(s) and s[i]["source"] == sample["source"] else "-"
            for s in samples
        ]
        lines.append(
            f"| {_cell(sample['source'])} | {_cell(sample['reference'])} | "
            + " | ".join(outputs)
            + " |"
        )
    return [*lines, ""]


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(empty)"


def _speed_table(models: list[dict]) -> list[str]:
    if not any(m["rows"] for m in models):
        return []
    lines = [
        "Decode speed, greedy, batch 1, one thread, float32 (tokens/s, higher is better; ratio to "
        "Keras in-process in brackets), and bundle sizes:\n",
        "| model | Keras | ONNX Runtime | LiteRT (TFLite) | PyTorch eager | ONNX KB (int8) "
        "| TFLite KB (int8) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in models:
        keras = _rate(m, "keras")
        cells = [f"{keras:,.0f}" if keras else "-"]
        for engine in ENGINES[1:]:
            rate = _rate(m, engine)
            cells.append(f"{rate:,.0f} ({rate / keras:.1f}x)" if rate and keras else "-")
        torch = _torch_rate(m)
        cells.append(f"{torch:,.0f} (Keras {keras / torch:.1f}x)" if torch and keras else "-")
        cells += [f"{_kb(m, f, 'float32')} ({_kb(m, f, 'int8')})" for f in ("onnx", "tflite")]
        lines.append(f"| {m['name']} | " + " | ".join(cells) + " |")
    if not any(_torch_rate(m) for m in models):
        lines.append(
            "\nPyTorch eager: no rows here. They come from the PyTorch reference "
            "(`make torchref`), a decoder-only LM: `keras-lm bench` shows them for the "
            "`transformer_lm` family; the demo's seq2seq models have no PyTorch twin."
        )
    return [*lines, ""]


def _rate(model: dict, engine: str) -> float | None:
    threads = min((r["threads"] for r in model["rows"]), default=1)
    return tokens_per_s(model["rows"], engine, threads=threads)


def _torch_rate(model: dict) -> float | None:
    rows = [r for r in model["torch"] if r.get("kv_cache") and r.get("tokens_per_s")]
    return min(rows, key=lambda r: r["threads"])["tokens_per_s"] if rows else None


def _kb(model: dict, fmt: str, quantization: str) -> str:
    size = next(
        (
            v.get("bytes")
            for v in model["variants"]
            if v["format"] == fmt and v["quantization"] == quantization
        ),
        None,
    )
    return f"{size / 1024:,.0f}" if size else "-"


def _stage_times(records: dict) -> str:
    """The time of each stage, as recorded when it ran (a reused stage keeps its first time)."""
    records = {name: r for name, r in records.items() if name != "data"}  # reruns: not reused
    if not records:
        return ""
    times = ", ".join(f"{name} {r['seconds']:.0f} s" for name, r in records.items())
    total = sum(r["seconds"] for r in records.values())
    return (
        f"Stage times ({total / 60:.1f} min after the data stage's few seconds; `stages.json`): "
        f"{times}."
    )


def draw_summary(models: list[dict], path: Path) -> bool:
    """Quality against the trivial baselines, and decode speed per engine, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    baselines = models[0]["eval"].get("baselines", {})
    names = ["copy source", "most frequent"] if baselines else []
    bleus = [baselines[k]["bleu"] for k in ("copy_source", "most_frequent_target") if baselines]
    names += [_short(m["name"]) for m in models]
    bleus += [m["eval"]["bleu"] for m in models]
    fig, (quality, speed) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
    colors = ["#bbbbbb"] * (len(names) - len(models)) + ["#1f77b4"] * len(models)
    quality.barh(names, bleus, color=colors)
    for y, value in enumerate(bleus):
        quality.annotate(f"{value:.1f}", (value, y), xytext=(3, -3), textcoords="offset points")
    quality.set_xlabel("BLEU on held-out valid (higher is better)")
    quality.set_xlim(0, max(100.0, max(bleus) * 1.15))
    quality.invert_yaxis()
    quality.set_title("Quality: models vs trivial baselines", fontsize=10)
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        rates = [_rate(m, e) or 0 for e in ENGINES]
        speed.bar(
            [x + i * width for x in range(len(ENGINES))], rates, width, label=_short(m["name"])
        )
    speed.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(ENGINES))])
    speed.set_xticklabels(["Keras", "ONNX Runtime", "LiteRT"])
    speed.set_ylabel("tokens/s, batch 1, 1 thread")
    speed.set_title("Decode speed by engine (float32)", fontsize=10)
    speed.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _short(name: str) -> str:
    return name.removeprefix("demo-").removesuffix("-seq2seq")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
