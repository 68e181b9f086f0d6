"""The inference benchmark as people read it: Markdown tables, the ratios that matter, PNG plots.

Input is what `keras_lm.bench.runtime_speed.bench_bundles` returns (also written as
`bench.json`). The ratios compare rows of the same run: the exported runtimes
against Keras in-process and PyTorch eager (batch 1, same thread count), cached
decoding against naive recompute, int8 against float32 (size and speed).

Example:
>>> rows = [{"engine": "onnx", "quantization": "float32", "mode": "cached", "threads": 1,
...          "rows": [{"batch": 1, "tokens_per_s": 900.0}]},
...         {"engine": "keras", "quantization": "float32", "mode": "cached", "threads": 1,
...          "rows": [{"batch": 1, "tokens_per_s": 300.0}]}]
>>> tokens_per_s(rows, "onnx", threads=1) / tokens_per_s(rows, "keras", threads=1)
3.0
"""

from __future__ import annotations

from pathlib import Path


def find(rows: list[dict], engine: str, quantization="float32", mode="cached", threads=1):
    for row in rows:
        if (row.get("engine"), row.get("quantization"), row.get("mode"), row.get("threads")) == (
            engine,
            quantization,
            mode,
            threads,
        ) and "error" not in row:
            return row
    return None


def tokens_per_s(rows, engine, quantization="float32", mode="cached", threads=1, batch=1):
    row = find(rows, engine, quantization, mode, threads)
    cell = next((c for c in (row or {}).get("rows", []) if c["batch"] == batch), None)
    return cell and (cell.get("tokens_per_s") or cell.get("examples_per_s"))


def _torch(torch_rows: list[dict], threads: int, cache: bool):
    for row in torch_rows:
        if row["threads"] == threads and row["kv_cache"] == cache:
            return row["tokens_per_s"]
    return None


# Which anchor engine a format is held against (`keras_lm.bench.anchors`).
ANCHOR_FORMAT = {
    "optimum ONNX + ORT": "onnx",
    "onnxruntime-genai": "onnx",
    "litert-torch TFLite": "tflite",
}


def _anchor(anchors: list[dict], threads: int, fmt: str | None = None, engine: str | None = None):
    """The fastest anchor row of `fmt` (or the one named `engine`) at `threads`."""
    rows = [
        a
        for a in anchors
        if a.get("threads") == threads
        and a.get("tokens_per_s")
        and (fmt is None or ANCHOR_FORMAT.get(a["engine"]) == fmt)
        and (engine is None or a["engine"] == engine)
    ]
    return max(rows, key=lambda a: a["tokens_per_s"], default=None)


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _quality(row: dict) -> str:
    q = row.get("quality")
    if not q:
        return "-"
    return f"{q['metric']} {q['export']:.4g} (Keras {q['keras']:.4g}, {100 * q['relative_delta']:+.2f}%)"


def variant_table(entry: dict) -> str:
    """Every measured cell of one bundle."""
    speed = "examples/s" if entry.get("task") == "classify" else "tokens/s"
    lines = [
        f"| engine | threads | batch | size KB | load s | cold start s | first token ms | {speed} "
        "| p50 / p90 / p99 ms | peak RSS MB | TF imported | quality kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in entry["rows"]:
        label = row.get("label") or f"{row['engine']} {row['quantization']} {row['mode']}"
        if "error" in row:
            lines.append(f"| {label} | {row['threads']} | - | failed: {row['error'][:120]} |")
            continue
        size = f"{row['bytes'] / 1024:,.0f}" if row.get("bytes") else "-"
        for cell in row["rows"]:
            rate = cell.get("tokens_per_s") or cell.get("examples_per_s")
            lines.append(
                f"| {label} | {row['threads']} | {cell['batch']} | {size} | {row['load_s']} "
                f"| {row['cold_start_s']} | {cell.get('first_token_ms', '-')} | {rate:,.1f} "
                f"| {cell['p50_ms']} / {cell['p90_ms']} / {cell['p99_ms']} | {row['peak_rss_mb']} "
                f"| {'yes' if row['imported_tensorflow'] else 'no'} | {_quality(row)} |"
            )
    return "\n".join(lines)


def ratio_table(entry: dict) -> str:
    """Batch-1 speed ratios of the runtimes against the baselines, per thread count."""
    rows, torch = entry["rows"], entry.get("torch", [])
    lm = any(r.get("mode") == "recompute" for r in rows)  # a naive-recompute baseline ran
    threads = sorted({r["threads"] for r in rows})
    bound = entry.get("bound", {}).get("tokens_per_s", {})
    anchors = entry.get("anchors", [])
    lines = [
        "| engine | threads | tokens/s | vs Keras in-process | vs PyTorch eager + KV cache "
        "| vs naive recompute (same engine) | vs best anchor (same format) | of GEMM bound |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in threads:
        keras = tokens_per_s(rows, "keras", threads=t)
        limit = bound.get(str(t))

        def share(rate, limit=limit):
            return f"{100 * rate / limit:.1f}%" if rate and limit else "-"

        for row in rows:
            if row["threads"] != t or row["engine"] == "keras" or row["mode"] != "cached":
                continue
            rate = tokens_per_s(rows, row["engine"], row["quantization"], threads=t)
            naive = tokens_per_s(rows, row["engine"], mode="recompute", threads=t) if lm else None
            best = _anchor(anchors, t, fmt=row["engine"])
            versus = f"{_ratio(rate, best['tokens_per_s'])} ({best['engine']})" if best else "-"
            lines.append(
                f"| {row['engine']} {row['quantization']} | {t} | {rate or 0:,.1f} "
                f"| {_ratio(rate, keras)} | {_ratio(rate, _torch(torch, t, True))} "
                f"| {_ratio(rate, naive) if row['quantization'] == 'float32' else '-'} "
                f"| {versus} | {share(rate)} |"
            )
        if keras:
            naive = tokens_per_s(rows, "keras", mode="recompute", threads=t) if lm else None
            lines.append(
                f"| keras in-process (XLA step) | {t} | {keras:,.1f} | 1.00x "
                f"| {_ratio(keras, _torch(torch, t, True))} | {_ratio(keras, naive)} | - "
                f"| {share(keras)} |"
            )
        for cache in (True, False):
            rate = _torch(torch, t, cache)
            if rate:
                name = "pytorch eager, KV cache" if cache else "pytorch eager, no cache"
                lines.append(
                    f"| {name} | {t} | {rate:,.1f} | {_ratio(rate, keras)} | - | - | - "
                    f"| {share(rate)} |"
                )
        for anchor in (a for a in anchors if a.get("threads") == t):
            rate = anchor.get("tokens_per_s")
            if not rate:
                lines.append(
                    f"| {anchor['engine']} (anchor) | {t} | skipped: "
                    f"{(anchor.get('skipped') or '')[:100]} | | | | | |"
                )
                continue
            lines.append(
                f"| {anchor['engine']} (anchor) | {t} | {rate:,.1f} | {_ratio(rate, keras)} "
                f"| {_ratio(rate, _torch(torch, t, True))} | - | - | {share(rate)} |"
            )
        if limit:
            lines.append(
                f"| GEMM bound (FLOPs/token at numpy GEMM speed) | {t} | {limit:,.0f} "
                "| - | - | - | - | 100% |"
            )
    return "\n".join(lines)


def size_table(entry: dict) -> str:
    """File size of each quantized variant as a share of its float32 file, and its quality kept."""
    sizes = {}
    for row in entry["rows"]:
        if row.get("bytes") and row["engine"] != "keras":
            sizes[(row["engine"], row["quantization"])] = row
    lines = [
        "| format | quantization | size KB | of float32 | quality kept |",
        "|---|---|---|---|---|",
    ]
    for (engine, quant), row in sorted(sizes.items()):
        base = sizes.get((engine, "float32"))
        share = f"{100 * row['bytes'] / base['bytes']:.1f}%" if base else "-"
        lines.append(
            f"| {engine} | {quant} | {row['bytes'] / 1024:,.0f} | {share} | {_quality(row)} |"
        )
    return "\n".join(lines)


def format_markdown(result: dict, plots: dict[str, list[str]] | None = None) -> str:
    """The whole report: per bundle the ratios, the sizes and every cell; the command first."""
    config = result["config"]
    parts = [
        "# Inference benchmark\n",
        f"Command: `{result['command']}`\n" if result.get("command") else "",
        f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}. Greedy, "
        f"prompt {config['prompt_length']} + {config['new_tokens']} new tokens, "
        f"{config['repeats']} timed repeats after a warm-up; every row is a fresh process.\n",
    ]
    for entry in result["bundles"]:
        parts += [
            f"## {entry['name']} ({entry['family']}, {entry.get('params') or 0:,} parameters)\n",
            "Batch 1, tokens/s (higher is better):\n",
            ratio_table(entry) + "\n",
            "Size and quality kept (from the bundle's verification):\n",
            size_table(entry) + "\n",
            "Every cell:\n",
            variant_table(entry) + "\n",
        ]
        parts += [
            f"![{Path(p).stem}]({Path(p).name})\n" for p in (plots or {}).get(entry["name"], [])
        ]
    return "\n".join(p for p in parts if p)


def write_plots(result: dict, folder: str | Path) -> dict[str, list[str]]:
    """Per bundle: tokens/s by engine and threads, latency against position, size against quality."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    for entry in result["bundles"]:
        rows = [r for r in entry["rows"] if "error" not in r]
        paths = []
        for name, draw in (
            ("speed", _plot_speed),
            ("latency", _plot_latency),
            ("size", _plot_size),
        ):
            fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
            if draw(ax, rows, entry):
                fig.tight_layout()
                path = folder / f"{entry['name']}.{name}.png"
                fig.savefig(path)
                paths.append(str(path))
            plt.close(fig)
        written[entry["name"]] = paths
    return written


def _plot_speed(ax, rows: list[dict], entry: dict) -> bool:
    labels = sorted({r["label"] for r in rows}, key=lambda s: (s.startswith("keras"), s))
    threads = sorted({r["threads"] for r in rows})
    width = 0.8 / max(len(threads), 1)
    for i, t in enumerate(threads):
        values = [tokens_per_s(rows, *_split_label(label), threads=t) or 0 for label in labels]
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=f"{t} thread(s)")
    for t in threads:
        rate = _torch(entry.get("torch", []), t, True)
        if rate:
            ax.axhline(
                rate, linestyle="--", linewidth=1, label=f"PyTorch + KV cache, {t} thread(s)"
            )
    ax.set_xticks([x + width * (len(threads) - 1) / 2 for x in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    unit = "examples/s" if entry.get("task") == "classify" else "tokens/s"
    ax.set_ylabel(f"{unit}, batch 1")
    ax.set_title(f"{entry['name']}: speed by engine and threads")
    ax.legend(fontsize=7)
    return bool(labels)


def _split_label(label: str) -> tuple[str, str, str]:
    parts = label.split()
    return parts[0], parts[1], "recompute" if len(parts) > 2 else "cached"


def _plot_latency(ax, rows: list[dict], entry: dict) -> bool:
    drawn = False
    for row in rows:
        cell = next((c for c in row["rows"] if c["batch"] == 1 and c.get("step_ms")), None)
        if cell and row["threads"] == max(r["threads"] for r in rows):
            prompt = row["prompt_length"]
            xs = range(prompt + 2, prompt + 2 + len(cell["step_ms"]))
            ax.plot(xs, cell["step_ms"], label=row["label"], linewidth=1)
            drawn = True
    ax.set_xlabel("sequence length (prompt + generated)")
    ax.set_ylabel("ms per token")
    ax.set_yscale("log")
    ax.set_title(f"{entry['name']}: per-token latency, batch 1")
    ax.legend(fontsize=7)
    return drawn


def _plot_size(ax, rows: list[dict], entry: dict) -> bool:
    points = {
        (r["engine"], r["quantization"]): r for r in rows if r.get("bytes") and r.get("quality")
    }
    for (engine, quant), row in points.items():
        delta = 100 * row["quality"]["relative_delta"]
        ax.scatter(row["bytes"] / 1024, delta, marker="o" if engine == "onnx" else "s")
        ax.annotate(f"{engine} {quant}", (row["bytes"] / 1024, delta), fontsize=7)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("file size, KB")
    metric = next(iter(points.values()))["quality"]["metric"] if points else "quality"
    ax.set_ylabel(f"{metric} change vs Keras, %")
    ax.set_title(f"{entry['name']}: size against quality kept")
    return bool(points)
