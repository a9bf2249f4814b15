"""Every worked solution in solutions/ passes its exercise's checker (fast mode).

A solution file is the code a student would put in the exercise cell, made self-contained: it
builds what it needs from the shipped data and ends by calling the checker. Running it must print
"✅ Right" and never "❌ Not yet"."""

from __future__ import annotations

import contextlib
import io
import runpy
from pathlib import Path

import pytest

SOLUTIONS = sorted((Path(__file__).resolve().parents[1] / "solutions").glob("*.py"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_the_worked_solution_passes_its_checker(path, monkeypatch):
    monkeypatch.setenv("TRANSFERLIB_FAST", "1")
    monkeypatch.chdir(path.parent)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(path), run_name="__main__")
    text = out.getvalue()
    assert "✅ Right" in text, text[-2000:]
    assert "❌" not in text and "Not answered yet" not in text, text[-2000:]
