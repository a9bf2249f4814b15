"""Learning rates drawn by code for notebook 07 (fine-tuning strategies): discriminative rates as
a staircase over the layer groups, schedules over the optimizer steps, and gradual unfreezing as
an epochs × groups grid. Each function returns a matplotlib Figure and draws nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from transferlib.errors import ArgumentError


def rate_staircase(rates: Sequence[float], names: Sequence[str], decay: float | None = 2.6,
                   extra: Mapping[str, float] | None = None) -> Figure:
    """Each layer group's learning rate, bottom group on the left, as a staircase on a log axis.

    ``rates`` and ``names`` go from the bottom (the embedding) to the top (the head); ``decay``
    labels the steps (``÷ decay``; None for no label). ``extra`` marks other rates of a group
    by name (e.g. the presets' embedding at the head's rate) as hollow markers."""
    if not rates or len(rates) != len(names):
        raise ArgumentError(f"need one rate per group name, got {len(rates)} rates and "
                            f"{len(names)} names")
    if min(rates) <= 0:
        raise ArgumentError("learning rates must be > 0 to draw them on a log axis")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    xs = list(range(len(rates)))
    edges = [x - 0.5 for x in xs] + [xs[-1] + 0.5]
    ax.stairs(rates, edges, baseline=None, linewidth=2, label="discriminative rate")
    for x, rate in zip(xs, rates, strict=True):
        ax.annotate(f"{rate:.2e}", (x, rate), textcoords="offset points", xytext=(0, 5),
                    ha="center", fontsize=8)
    if decay:
        for x in xs[1:]:
            ax.annotate(f"× {decay:g}", (x - 0.5, (rates[x - 1] * rates[x]) ** 0.5),
                        textcoords="offset points", xytext=(4, 0), fontsize=8, color="gray")
    for label, rate in (extra or {}).items():
        group = label.split(":", 1)[0]
        if group not in names:
            raise ArgumentError(f"extra rate {label!r}: no group named {group!r}")
        ax.plot(names.index(group), rate, "o", mfc="none", markersize=9, label=label)
    ax.set_yscale("log")
    ax.set_xticks(xs, names)
    ax.set_xlabel("layer group (bottom of the network → top)")
    ax.set_ylabel("learning rate (log scale)")
    ax.set_ylim(min([*rates, *(extra or {}).values()]) / 2, max(rates) * 3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def schedule_traces(traces: Mapping[str, Sequence[float]]) -> Figure:
    """Learning rate per optimizer step, one line per schedule name."""
    if not traces:
        raise ArgumentError("give at least one schedule trace")
    fig, ax = plt.subplots(figsize=(7, 3))
    for name, rates in traces.items():
        ax.plot(range(len(rates)), list(rates), label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def unfreezing_grid(trains: Sequence[Sequence[bool]], names: Sequence[str]) -> Figure:
    """Which layer group trains (dark) in which epoch (rows) under gradual unfreezing."""
    if not trains or any(len(row) != len(names) for row in trains):
        raise ArgumentError("need one row per epoch with one flag per group name")
    fig, ax = plt.subplots(figsize=(5.5, 0.45 * len(trains) + 1.2))
    ax.imshow([[float(t) for t in row] for row in trains], cmap="Blues", vmin=-0.3, vmax=1.2,
              aspect="auto")
    for r, row in enumerate(trains):
        for c, flag in enumerate(row):
            ax.text(c, r, "trains" if flag else "frozen", ha="center", va="center", fontsize=8,
                    color="white" if flag else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(trains)), [str(e + 1) for e in range(len(trains))])
    ax.set_xlabel("layer group (bottom → top)")
    ax.set_ylabel("epoch")
    fig.tight_layout()
    return fig
