"""ULMFiT's three stages drawn as a picture (notebook 06).

Each stage is a column: what it trains on, the layer stack it trains (embedding → LSTM 1 →
LSTM 2 → a head), and which head it ends in (a softmax over the next word, or the classes).
Arrows between the columns are the transfers: the encoder's weights move right, the head is
replaced. ``highlight`` picks the stages a notebook runs; the others are drawn pale.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

STAGES: dict[str, tuple[str, str, str]] = {
    "a": ("(a) general-domain LM pretraining",
          "general text, unlabelled\n(Brown + State of the Union,\non GloVe vectors)",
          "softmax over\nthe next word"),
    "b": ("(b) target-domain LM fine-tuning",
          "target-domain text, unlabelled\n(movie reviews +\nplot synopses)",
          "softmax over\nthe next word"),
    "c": ("(c) target-task classifier fine-tuning",
          "target-task text, labelled\n(reviews with\npositive / negative)",
          "pooling + classifier\nhead (new, random)"),
}
LAYERS = ("embedding", "LSTM 1", "LSTM 2")
COLOURS = {"embedding": "#9ecae1", "LSTM 1": "#6baed6", "LSTM 2": "#4292c6", "head": "#fdae6b"}


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str, alpha: float,
         size: float = 8.5, weight: str = "normal") -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.01,rounding_size=0.015",
                                facecolor=colour, edgecolor="black", linewidth=0.8, alpha=alpha))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
            weight=weight, alpha=max(alpha, 0.45))


def _column(ax, x: float, key: str, on: bool) -> None:
    title, data, head = STAGES[key]
    alpha = 1.0 if on else 0.3
    ax.text(x + 0.14, 0.95, title, ha="center", va="center", fontsize=9.5, weight="bold",
            alpha=max(alpha, 0.45))
    _box(ax, x, 0.08, 0.28, 0.15, data, "#f0f0f0", alpha, size=8)
    ax.add_patch(FancyArrowPatch((x + 0.14, 0.23), (x + 0.14, 0.29), arrowstyle="-|>",
                                 mutation_scale=10, alpha=alpha))
    for i, layer in enumerate(LAYERS):  # bottom-up: the text enters at the embedding
        _box(ax, x + 0.03, 0.3 + 0.1 * i, 0.22, 0.08, layer, COLOURS[layer], alpha)
    _box(ax, x + 0.03, 0.62, 0.22, 0.22, head, COLOURS["head"], alpha)


def ulmfit_stages(highlight: Sequence[str] = ("a", "b", "c")) -> Figure:
    """The three stages side by side; the stages in ``highlight`` ('a', 'b', 'c') in full
    colour, the others pale. Returns the Figure (display it; nothing is shown here)."""
    unknown = sorted(set(highlight) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; allowed: {sorted(STAGES)}")
    fig = Figure(figsize=(10.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, 1.1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    xs = {"a": 0.02, "b": 0.41, "c": 0.80}
    for key, x in xs.items():
        _column(ax, x, key, key in highlight)
    for left, right in (("a", "b"), ("b", "c")):
        start, end = xs[left] + 0.28, xs[right] - 0.01
        on = left in highlight or right in highlight
        ax.add_patch(FancyArrowPatch((start, 0.44), (end, 0.44), arrowstyle="-|>",
                                     mutation_scale=14, linewidth=1.4, alpha=1 if on else 0.4))
        ax.text((start + end) / 2, 0.54, "copy the\nencoder's\nweights", ha="center",
                va="center", fontsize=7.5)
    ax.text(0.55, 0.0, "the text enters at the bottom; each arrow keeps embedding + LSTMs and "
            "replaces the head (stage (c): with a new vocabulary's rows too)", ha="center",
            va="bottom", fontsize=8, style="italic")
    return fig
