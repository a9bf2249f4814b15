"""The committed notebooks as a student opens them: a clean full-mode run, a course's apparatus
(goals, widget, exercise, questionnaire, links, summary), exercises whose answers are nowhere in
the notebook, and prose that neither types measured numbers nor tells the project's history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = REPO / "solutions"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text("utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _markdown(path: Path) -> str:
    return "\n".join(_source(c) for c in _cells(path) if c["cell_type"] == "markdown")


def _output_text(cell: dict) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append("".join(o.get("text", "")))
        for kind in ("text/plain", "text/markdown", "text/html"):
            parts.append("".join(o.get("data", {}).get(kind, "")))
    return "\n".join(parts)


def test_there_are_eleven_notebooks_in_order():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(11)]


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
def test_each_notebook_has_a_courses_apparatus(path):
    cells = _cells(path)
    markdown = _markdown(path)
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    assert "goals" in markdown.lower()
    assert "ipywidgets" in code, "a widget that recomputes something real"
    assert "## Summary" in markdown
    assert "## Questionnaire" in markdown
    questionnaire = markdown.split("## Questionnaire", 1)[1].split("\n## ", 1)[0]
    questions = re.findall(r"^\s*\d+\.\s", questionnaire, flags=re.M)
    assert len(questions) >= 10, f"the questionnaire has {len(questions)} questions, want ≥ 10"
    assert "further research" in markdown.lower()
    assert "pytorch.org/docs" in markdown, "link the PyTorch docs of the APIs introduced"
    number = int(path.name[:2])
    for other in (number - 1, number + 1):
        if 0 <= other < len(NOTEBOOKS):
            neighbour = NOTEBOOKS[other].name
            assert f"]({neighbour})" in markdown, f"link to the neighbouring {neighbour}"


def _exercise_cells(cells: list[dict]) -> list[dict]:
    return [c for c in cells if c["cell_type"] == "code" and re.search(
        r"from transferlib\.workbook\.exercises\.\w+ import .*\bcheck_", _source(c))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_exercise_is_unsolved_and_its_answer_is_nowhere_in_the_notebook(path):
    cells = _cells(path)
    exercises = _exercise_cells(cells)
    assert exercises, "an exercise cell imports its checker from workbook.exercises.<topic>"
    for cell in exercises:
        assert "Not answered yet" in _output_text(cell), "the committed exercise is unanswered"
    for i, cell in enumerate(cells):
        assert "source_hidden" not in cell["metadata"].get("jupyter", {}), \
            f"cell {i} hides its source: solutions live in solutions/, not in the notebook"
        assert "✅ Right" not in _output_text(cell), f"cell {i} shows a solved exercise"
    linked = set(re.findall(r"solutions/([\w.-]+\.py)", _markdown(path)))
    assert linked, "the exercise names its worked solution in solutions/"
    for name in linked:
        assert (SOLUTIONS / name).is_file(), f"solutions/{name} is missing"


def test_every_solution_belongs_to_a_notebook():
    named = {n for p in NOTEBOOKS for n in re.findall(r"solutions/([\w.-]+\.py)", _markdown(p))}
    files = {p.name for p in SOLUTIONS.glob("*.py")}
    assert files == named, f"unlinked: {sorted(files - named)}, missing: {sorted(named - files)}"


def test_at_least_six_exercises_ask_for_code():
    coding = [p.stem for p in NOTEBOOKS for c in _exercise_cells(_cells(p))
              if re.search(r"^\s*(def|class) \w+", _source(c), flags=re.M)]
    assert len(coding) >= 6, f"coding exercises: {coding}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_full_mode_time_is_stated_at_the_top(path):
    top = _source(_cells(path)[0])
    assert "full mode" in top.lower() and ("min" in top or " s " in top or " s)" in top)


# Percentages that are settings or conventions, never measurements: the 95 % interval, STLR's
# 10 % warm-up, a 100 % share as a definition, the 80/10/10 split.
ALLOWED_PERCENT = {"95 %", "95%", "10 %", "100 %", "50 %", "80 %"}
TYPED_PERCENT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%")
TYPED_RATIO = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?×(?!\s?\d)")
HISTORY = re.compile(
    r"\bround[- ]?\d\b|(?<![/\w-])v[12]\b|\bissues?\b|\blent\b|/work/|previous round|"
    r"this project's machine|\bnot met\b|\btargets? (?:met|of)\b|build machine", re.I)


def _prose(path: Path) -> str:
    """Markdown without code spans and fenced blocks (code may print anything)."""
    text = re.sub(r"```.*?```", "", _markdown(path), flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"\$[^$]*\$", "", text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_types_no_measured_percentage_or_ratio(path):
    prose = _prose(path)
    percents = [m for m in TYPED_PERCENT.findall(prose) if m.replace("%", " %").replace(
        "  ", " ") not in ALLOWED_PERCENT and m not in ALLOWED_PERCENT]
    assert not percents, f"typed percentages (print them from the run): {percents}"
    ratios = TYPED_RATIO.findall(prose)
    assert not ratios, f"typed ratios (print them from the run): {ratios}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_project_history_in_the_lessons(path):
    text = _markdown(path) + "\n".join(_output_text(c) for c in _cells(path))
    hits = sorted({m.group(0) for m in HISTORY.finditer(text)})
    assert not hits, f"words of the project's history, not of the course: {hits}"
