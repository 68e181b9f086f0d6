"""Pictures of evaluation results: the confusion matrix of a classifier, as a PNG.

Drawn with matplotlib's object API (`Figure` + the Agg canvas), never pyplot, so no
global figure state and no display is touched; the file is written atomically.

Example:
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "confusion.png"
>>> plot_confusion([[5, 1], [2, 7]], ["neg", "pos"], path, "valid").read_bytes()[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_lm.io import atomic_write


def plot_confusion(
    matrix: Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Write the confusion `matrix` (rows true, columns predicted) as a PNG at `path`; return it.

    Each cell shows its count; its colour is the count over its row's total (the recall
    of that true class spread over the predictions), so rare classes stay readable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.int64)
    if counts.ndim != 2 or counts.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix of shape {counts.shape} does not fit {len(labels)} labels")
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    side = 2.0 + 0.6 * len(labels)
    fig = Figure(figsize=(side + 1.0, side), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class")
    for (i, j), count in np.ndenumerate(counts):
        colour = "white" if share[i, j] > 0.5 else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=colour)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    return Path(path)
