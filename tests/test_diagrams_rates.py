"""Notebook 07's diagrams: discriminative rates as a staircase, schedules, unfreezing grid."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from transferlib.errors import ArgumentError  # noqa: E402
from transferlib.workbook.diagrams.rates import (  # noqa: E402
    rate_staircase,
    schedule_traces,
    unfreezing_grid,
)

NAMES = ["embedding", "lstm 0", "lstm 1", "head"]
RATES = [0.01 / 2.6 ** k for k in (3, 2, 1, 0)]


def test_the_staircase_draws_one_step_per_group_on_a_labelled_log_axis():
    fig = rate_staircase(RATES, NAMES, extra={"embedding: the presets' rate": 0.01})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    steps = ax.patches[0]  # the StepPatch
    assert np.allclose(steps.get_data().values, RATES)
    assert any("2.6" in t.get_text() for t in ax.texts)
    plt.close(fig)


@pytest.mark.parametrize("rates, names, extra", [
    ([], [], None), (RATES, NAMES[:3], None), ([0.0, *RATES[1:]], NAMES, None),
    (RATES, NAMES, {"decoder: x": 0.1}),
])
def test_the_staircase_rejects_what_it_cannot_draw(rates, names, extra):
    with pytest.raises(ArgumentError):
        rate_staircase(rates, names, extra=extra)


def test_schedule_traces_draws_one_line_per_schedule():
    fig = schedule_traces({"constant": [1.0] * 5, "stlr": [0.1, 1.0, 0.7, 0.4, 0.1]})
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ArgumentError):
        schedule_traces({})
    plt.close(fig)


def test_unfreezing_grid_marks_each_group_per_epoch():
    rows = [[False, False, False, True], [False, False, True, True], [True] * 4]
    fig = unfreezing_grid(rows, NAMES)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts].count("trains") == 7
    assert ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ArgumentError):
        unfreezing_grid([[True]], NAMES)
    plt.close(fig)
