"""The all-reduce diagram of notebook 09 draws the numbers it is given."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from transferlib.errors import ArgumentError
from transferlib.workbook.diagrams.allreduce import allreduce_figure


def test_each_rank_gets_its_gradient_and_the_average():
    grads = torch.tensor([[0.3, -0.2, 0.5], [0.1, 0.4, -0.3]])
    fig = allreduce_figure(grads, names=["a", "b", "c"])
    assert isinstance(fig, Figure)
    bars = [ax for ax in fig.axes if ax.patches and ax.get_ylabel()]
    assert len(bars) == 4  # 2 ranks x (before, after)
    heights = [[round(p.get_height(), 6) for p in ax.patches] for ax in bars]
    mean = [round(v, 6) for v in grads.double().mean(0).tolist()]
    assert heights[0] == [round(v, 6) for v in grads[0].double().tolist()]
    assert heights[2] == mean and heights[3] == mean
    assert all(ax.get_ylabel() for ax in bars)


@pytest.mark.parametrize("bad", [[], [[]], [[1.0, 2.0], [3.0]]])
def test_empty_or_ragged_gradients_are_refused(bad):
    with pytest.raises(ArgumentError):
        allreduce_figure(bad)
