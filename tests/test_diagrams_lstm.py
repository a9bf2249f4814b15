"""Notebook 03's diagrams draw what they say: the LSTM cell with its four gates and the
cell-state line, and concat pooling with the pads left out; both render to PNG."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from transferlib.workbook.diagrams.lstm import (  # noqa: E402
    concat_pooling_diagram,
    lstm_cell_diagram,
)


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def test_the_cell_diagram_names_every_gate_and_the_cell_state():
    fig = lstm_cell_diagram()
    text = _texts(fig)
    for label in ("forget gate", "input gate", "candidate", "output gate", "cell state",
                  "c_{t-1}", "c_t", "h_{t-1}", "x_t", "h_t"):
        assert label in text, label
    assert _png(fig).startswith(b"\x89PNG")


def test_the_pooling_diagram_marks_pads_and_pools_valid_positions_only():
    fig = concat_pooling_diagram(lengths=(5, 2), width=6)
    text = _texts(fig)
    pads = [t for ax in fig.axes for t in ax.texts if t.get_text() == "pad"]
    assert len(pads) == (6 - 5) + (6 - 2)
    assert "last = $h_{2}$" in text and "mean over $h_1…h_{5}$" in text
    assert _png(fig).startswith(b"\x89PNG")
