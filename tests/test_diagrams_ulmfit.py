"""Notebook 06's diagram of ULMFiT's three stages: a matplotlib Figure, drawn without pyplot."""

from __future__ import annotations

import io

import pytest
from matplotlib.figure import Figure

from transferlib.workbook.diagrams.ulmfit import STAGES, ulmfit_stages


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_the_three_stages_are_drawn_with_their_layers():
    fig = ulmfit_stages()
    assert isinstance(fig, Figure)
    texts = _texts(fig)
    for title, _, _ in STAGES.values():
        assert title in texts
    assert texts.count("embedding") == 3 and texts.count("LSTM 2") == 3
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_stages_outside_highlight_are_pale():
    fig = ulmfit_stages(highlight=("c",))
    titles = {t.get_text(): t.get_alpha() for t in fig.axes[0].texts}
    assert titles[STAGES["c"][0]] == 1.0
    assert titles[STAGES["a"][0]] < 1.0


def test_an_unknown_stage_is_an_error():
    with pytest.raises(ValueError, match="unknown stage"):
        ulmfit_stages(highlight=("d",))
