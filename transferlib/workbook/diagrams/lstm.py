"""Diagrams of notebook 03 (the LSTM classifier from scratch), drawn by code with matplotlib:
the LSTM cell (its four gates and the cell-state line) and concat pooling over the valid
positions of right-padded sentences. Each function returns the Figure; the notebook shows it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

GATE_COLOURS = {"i": "#4c72b0", "f": "#c44e52", "g": "#55a868", "o": "#8172b2"}
CELL_LINE = "#dd8452"


def _arrow(ax, start, end, colour="black", width=1.4, style="-|>") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12,
                                 color=colour, linewidth=width, shrinkA=0, shrinkB=0))


def _node(ax, xy, text, colour="white", radius=0.28) -> None:
    """A pointwise operation (⊗, ⊕, tanh) drawn as a circle on the lines."""
    ax.add_patch(Circle(xy, radius, facecolor=colour, edgecolor="black", zorder=3))
    ax.text(*xy, text, ha="center", va="center", fontsize=11 if len(text) < 3 else 8,
            zorder=4)


def _gate(ax, x, name, act, colour) -> None:
    """A gate: a box holding its activation, with its name under it."""
    ax.add_patch(FancyBboxPatch((x - 0.42, 1.55), 0.84, 0.7, boxstyle="round,pad=0.04",
                                facecolor=colour, edgecolor="black", alpha=0.9, zorder=3))
    ax.text(x, 1.9, act, ha="center", va="center", color="white", fontsize=11, zorder=4)
    ax.text(x, 1.3, name, ha="center", va="top", fontsize=9)


def lstm_cell_diagram() -> Figure:
    """One LSTM step: ``x_t`` and ``h_{t-1}`` feed four gates (input i, forget f, candidate g,
    output o); the cell-state line runs along the top from ``c_{t-1}`` to ``c_t``, scaled by f
    (⊗) and topped up by i ⊙ g (⊕); ``h_t = o ⊙ tanh(c_t)`` leaves on the right."""
    fig, ax = plt.subplots(figsize=(9, 4.6))
    ax.add_patch(Rectangle((0.6, 0.55), 8.0, 4.1, facecolor="#f4f4f4", edgecolor="grey",
                           linestyle="--"))
    # the cell-state line along the top
    top = 4.0
    _arrow(ax, (0.0, top), (9.4, top), CELL_LINE, width=3)
    ax.text(0.0, top + 0.2, r"$c_{t-1}$", fontsize=12, ha="left")
    ax.text(9.4, top + 0.2, r"$c_t$", fontsize=12, ha="right")
    ax.text(4.6, top + 0.38, "cell state: the long-term memory line", color=CELL_LINE,
            ha="center", fontsize=10)
    xs = {"f": 2.0, "i": 3.6, "g": 4.8, "o": 6.6}
    _node(ax, (xs["f"], top), "×")
    _node(ax, (4.2, top), "+")
    _node(ax, (4.2, 3.0), "×")
    # the input line: h_{t-1} and x_t join and feed every gate
    ax.text(0.05, 0.85, r"$h_{t-1}$", fontsize=12, ha="left", va="center")
    ax.text(1.05, 0.05, r"$x_t$", fontsize=12, ha="center", va="bottom")
    _arrow(ax, (0.6, 0.85), (7.0, 0.85), style="-")
    _arrow(ax, (1.2, 0.35), (1.2, 0.85), style="-")
    gates = (("f", "forget gate", r"$\sigma$"), ("i", "input gate", r"$\sigma$"),
             ("g", "candidate", "tanh"), ("o", "output gate", r"$\sigma$"))
    for key, name, act in gates:
        _arrow(ax, (xs[key], 0.85), (xs[key], 1.5))
        _gate(ax, xs[key], name, act, GATE_COLOURS[key])
    # f scales the old cell state; i ⊙ g is added to it
    _arrow(ax, (xs["f"], 2.3), (xs["f"], top - 0.3), GATE_COLOURS["f"])
    ax.text(xs["f"] + 0.1, 3.1, r"$f_t$", color=GATE_COLOURS["f"], fontsize=11)
    _arrow(ax, (xs["i"], 2.3), (4.0, 2.85), GATE_COLOURS["i"])
    _arrow(ax, (xs["g"], 2.3), (4.4, 2.85), GATE_COLOURS["g"])
    _arrow(ax, (4.2, 3.28), (4.2, top - 0.3), "black")
    ax.text(3.25, 2.95, r"$i_t \odot g_t$", fontsize=10, ha="right")
    # the output: h_t = o ⊙ tanh(c_t)
    _node(ax, (7.8, 3.0), "tanh", colour="#fff3e0")
    _arrow(ax, (7.8, top), (7.8, 3.3), CELL_LINE, width=2)
    _node(ax, (7.8, 1.9), "×")
    _arrow(ax, (7.8, 2.7), (7.8, 2.2))
    _arrow(ax, (xs["o"] + 0.45, 1.9), (7.5, 1.9), GATE_COLOURS["o"])
    _arrow(ax, (8.1, 1.9), (9.4, 1.9))
    ax.text(9.4, 2.05, r"$h_t$", fontsize=12, ha="right", va="bottom")
    _arrow(ax, (8.5, 1.9), (8.5, 0.2))
    ax.text(8.6, 0.25, r"$h_t$ to the next step and to the pooling", fontsize=9, va="bottom")
    ax.set_xlim(-0.2, 9.6)
    ax.set_ylim(0, 4.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("One LSTM step: four gates and the cell-state line")
    fig.tight_layout()
    return fig


def concat_pooling_diagram(lengths: Sequence[int] = (6, 3), width: int | None = None) -> Figure:
    """Right-padded sentences as rows of LSTM outputs ``h_1 … h_T``: the valid positions are
    coloured, the pads hatched grey. Pooling reads the last valid state, the max and the mean
    over the valid positions only, and concatenates them: ``[last; max; mean]``."""
    width = width or max(lengths)
    fig, ax = plt.subplots(figsize=(9, 1.3 + 1.1 * len(lengths)))
    for row, n in enumerate(lengths):
        y = (len(lengths) - 1 - row) * 1.2
        ax.text(-0.3, y + 0.4, f"sentence {row + 1}\n(length {n})", ha="right", va="center",
                fontsize=9)
        for t in range(width):
            valid = t < n
            ax.add_patch(Rectangle((t, y), 0.9, 0.8, facecolor="#4c72b0" if valid else "#dddddd",
                                   edgecolor="black", hatch=None if valid else "//",
                                   alpha=0.85 if valid else 1.0, linewidth=2.5 if t == n - 1
                                   else 0.8))
            ax.text(t + 0.45, y + 0.4, f"$h_{{{t + 1}}}$" if valid else "pad", ha="center",
                    va="center", color="white" if valid else "black", fontsize=9,
                    bbox=None if valid else {"facecolor": "white", "edgecolor": "none",
                                             "pad": 1})
        _arrow(ax, (width + 0.1, y + 0.4), (width + 1.0, y + 0.4))
        ax.text(width + 1.1, y + 0.4,
                f"[ last = $h_{{{n}}}$ ;  max over $h_1…h_{{{n}}}$ ;  mean over $h_1…h_{{{n}}}$ ]",
                va="center", fontsize=9)
    ax.text(width / 2, -0.45, "pads (hatched) never enter the pooling: the result is the same "
            "alone or in any batch", ha="center", fontsize=9, style="italic")
    ax.text(width / 2, len(lengths) * 1.2 + 0.05, "time step →", ha="center", fontsize=9)
    ax.set_xlim(-2.2, width + 9.5)
    ax.set_ylim(-0.8, len(lengths) * 1.2 + 0.4)
    ax.axis("off")
    ax.set_title("Concat pooling over the valid positions: 3 × H numbers per sentence")
    fig.tight_layout()
    return fig
