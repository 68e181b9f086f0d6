"""Combine repeated speed measurements taken in rounds into one row per measurement.

On a shared 2-core machine the speed of every process drifts by tens of percent
within minutes, so a single torch_ref-then-Keras pass can report a ratio that
is mostly drift. `keras-lm bench train --repeats N` measures every row once per
round, in the same order each round, so each Keras row is paired with the
torch_ref row measured a minute before it. Each combined row reports the median
tokens/s and its range over the rounds, and the ratio is the median of the
per-round ratios (the pairing cancels the drift that is common to both).

Example:
>>> rounds = [
...     [{"impl": "torch_ref", "tokens_per_s": 100.0}, {"impl": "keras_lm", "tokens_per_s": 90.0}],
...     [{"impl": "torch_ref", "tokens_per_s": 60.0}, {"impl": "keras_lm", "tokens_per_s": 66.0}],
...     [{"impl": "torch_ref", "tokens_per_s": 80.0}, {"impl": "keras_lm", "tokens_per_s": 84.0}],
... ]
>>> torch, keras = combine_rounds(rounds, partner=[None, 0])
>>> keras["tokens_per_s"], keras["tokens_per_s_range"], keras["ratio"], keras["ratios"]
(84.0, [66.0, 90.0], 1.05, [0.9, 1.1, 1.05])
"""

from __future__ import annotations

import statistics

# Per-round fields that are summarised by their median over the rounds.
MEDIAN_FIELDS = ("tokens_per_s", "step_ms_median", "step_ms_mean", "peak_rss_mb")


def combine_rounds(rounds: list[list[dict]], partner: list[int | None]) -> list[dict]:
    """One row per position in a round: medians over the rounds, and paired ratios.

    `rounds[r][i]` is measurement i of round r (every round measures the same
    rows in the same order). `partner[i]` is the index of the torch_ref row that
    row i is compared with, or None for a row with no ratio.
    """
    if not rounds:
        return []
    width = len(rounds[0])
    if any(len(r) != width for r in rounds) or len(partner) != width:
        raise ValueError("every round must measure the same rows")
    rows = []
    for i in range(width):
        samples = [r[i] for r in rounds]
        row = {**samples[-1], "repeats": len(samples)}
        for field in MEDIAN_FIELDS:
            values = [s[field] for s in samples if s.get(field) is not None]
            if values:
                row[field] = round(statistics.median(values), 2)
        speeds = [s["tokens_per_s"] for s in samples]
        row["tokens_per_s_range"] = [min(speeds), max(speeds)]
        j = partner[i]
        if j is not None:
            ratios = [round(r[i]["tokens_per_s"] / r[j]["tokens_per_s"], 3) for r in rounds]
            row["ratios"] = ratios
            row["ratio"] = round(statistics.median(ratios), 3)
        rows.append(row)
    return rows
