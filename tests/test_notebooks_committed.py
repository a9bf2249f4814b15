"""The committed notebooks as a reader on the web sees them: full-mode outputs, counts in
order, no errors, PNG plots, a widget, a checked exercise and a summary in every one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text("utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_ten_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(10)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_a_clean_full_mode_run(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "fast mode: False" in text, "commit the outputs of a full-mode run"
    assert not [o for o in outputs if "image/svg+xml" in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_has_goals_a_widget_a_checked_exercise_and_a_summary(path):
    cells = _cells(path)
    markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    assert "goals" in markdown.lower()
    assert "ipywidgets" in code
    assert "from transferlib.workbook.exercises import" in code and "check_" in code
    assert "## Summary" in markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_starts_unsolved_and_the_hidden_solution_is_checked(path):
    cells = _cells(path)
    checks = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
              and re.search(r"from transferlib\.workbook\.exercises import .*\bcheck_", _source(c))]
    assert checks, "an exercise cell imports its checker"
    first = cells[checks[0]]
    assert "..." in _source(first) or "None" in _source(first), "the exercise starts unsolved"
    assert "source_hidden" not in first["metadata"].get("jupyter", {})
    text = "".join("".join(o.get("text", "")) for o in first["outputs"])
    assert "Not answered yet" in text, "the unsolved cell says so instead of failing"
    hidden = [c for c in cells[checks[0] + 1:] if c["cell_type"] == "code"
              and c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert hidden and "check_" in _source(hidden[0]), "a collapsed worked solution follows"
    solved = "".join("".join(o.get("text", "")) for o in hidden[0]["outputs"])
    assert "Right" in solved, "the worked solution passes its checker"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_full_mode_time_is_stated_at_the_top(path):
    top = _source(_cells(path)[0])
    assert "full mode" in top.lower() and ("min" in top or " s " in top or " s)" in top)
