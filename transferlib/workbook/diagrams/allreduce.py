"""DDP's all-reduce drawn from real numbers (notebook 09): each rank's own gradient on the
left, the element-wise average every rank holds after the all-reduce on the right."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from transferlib.errors import ArgumentError


def _as_matrix(grads) -> torch.Tensor:
    """``grads`` as a float [ranks, parameters] tensor; refuses empty or ragged input."""
    try:
        matrix = torch.as_tensor(grads, dtype=torch.float64) if not isinstance(
            grads, torch.Tensor) else grads.detach().double()
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"one gradient vector per rank, all the same length: {error}") \
            from error
    if matrix.dim() != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise ArgumentError(f"want a [ranks, parameters] table, got shape {tuple(matrix.shape)}")
    return matrix


def _bars(ax, values: torch.Tensor, color: str, limit: float, ylabel: str) -> None:
    ax.bar(range(len(values)), values.tolist(), color=color)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylim(-limit, limit)
    ax.set_xticks(range(len(values)))
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def allreduce_figure(grads: Sequence[Sequence[float]] | torch.Tensor,
                     names: Sequence[str] | None = None) -> Figure:
    """One row per rank: its local gradient (left), the averaged gradient after the
    all-reduce (right, the same on every rank), with arrows through the "sum, then ÷ W" step.
    A pyplot figure: ``plt.show()`` displays it in a notebook.
    ``grads``: [ranks, parameters]; ``names``: the parameters' labels on the x axes."""
    matrix = _as_matrix(grads)
    ranks, size = matrix.shape
    mean = matrix.mean(dim=0)
    limit = float(matrix.abs().max()) * 1.15 or 1.0
    fig = plt.figure(figsize=(8.5, 1.3 * ranks + 1.1))
    grid = fig.add_gridspec(ranks, 3, width_ratios=(1, 0.7, 1), hspace=0.4, wspace=0.1,
                            left=0.09, right=0.91, top=0.86, bottom=0.12)
    left = [fig.add_subplot(grid[r, 0]) for r in range(ranks)]
    right = [fig.add_subplot(grid[r, 2]) for r in range(ranks)]
    for r in range(ranks):
        _bars(left[r], matrix[r], "tab:blue", limit, f"rank {r}\ngradient")
        _bars(right[r], mean, "tab:green", limit, f"rank {r}\naverage")
        right[r].yaxis.set_label_position("right")
        right[r].yaxis.tick_right()
    for ax in left + right:
        if names is not None:
            ax.set_xticks(range(size), list(names), fontsize=7)
    for ax in (left[-1], right[-1]):
        ax.set_xlabel("parameter", fontsize=8)
    left[0].set_title("before: each rank's own batch", fontsize=9)
    right[0].set_title("after all-reduce: identical on every rank", fontsize=9)
    middle = fig.add_subplot(grid[:, 1])
    middle.axis("off")
    middle.text(0.5, 0.5, f"all-reduce\nsum over\n{ranks} rank(s),\nthen ÷ {ranks}",
                ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "lightyellow", "edgecolor": "gray"})
    for r in range(ranks):
        y = 1 - (r + 0.5) / ranks
        for start, end in (((0.0, y), (0.3, 0.5)), ((0.7, 0.5), (1.0, y))):
            middle.add_patch(FancyArrowPatch(start, end, transform=middle.transAxes,
                                             arrowstyle="-|>", mutation_scale=10,
                                             color="gray", lw=0.8))
    fig.suptitle("DDP: every rank ends the backward pass with the same averaged gradient",
                 fontsize=10)
    return fig
