"""A teacher's kit: hand out student and instructor copies, then grade returned notebooks.

Taught in notebook 00 (how exercises and solutions work). The course keeps one source: the
notebooks, whose exercise cells hold only a placeholder, and ``solutions/``, one file per
exercise. ``release`` writes from them

* ``student/``: the notebooks as a student gets them, every exercise cell's output cleared;
* ``instructor/``: the same notebooks with each exercise cell replaced by its worked solution.

``grade`` runs every returned notebook (``SUBMISSIONS/<student>/<notebook>.ipynb``) top to bottom
with a time limit per cell and reads each exercise checker's verdict from the cell's output:
"right" (✅), "wrong" (❌), "unanswered" (⏳), or "error" when the notebook failed before the
checker printed anything. One CSV row per student, notebook and exercise.
"""

from __future__ import annotations

import ast
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from transferlib.config import REPO_ROOT

EXERCISE = re.compile(r"from transferlib\.workbook\.exercises\.(\w+) import .*?\b(check_\w+)")
SOLUTION_LINK = re.compile(r"solutions/([\w.-]+\.py)")
VERDICTS = (("✅", "right"), ("❌", "wrong"), ("⏳", "unanswered"))


@dataclass(frozen=True)
class Grade:
    student: str
    notebook: str
    exercise: str
    verdict: str
    detail: str


def exercise_cells(nb) -> list[tuple[int, str]]:
    """``(cell index, checker name)`` of every exercise cell of a notebook."""
    found = []
    for i, cell in enumerate(nb.cells):
        match = EXERCISE.search(cell.source) if cell.cell_type == "code" else None
        if match:
            found.append((i, match.group(2)))
    return found


def solution_code(path: Path) -> str:
    """A solution file's code without its module docstring (what the exercise cell becomes)."""
    source = path.read_text("utf-8")
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        source = "\n".join(source.splitlines()[body[0].end_lineno:])
    return source.strip() + "\n"


def release(notebooks: Path, solutions: Path, out: Path) -> dict[str, list[Path]]:
    """Write ``out/student`` and ``out/instructor`` copies of every notebook in ``notebooks``
    (solutions read from ``solutions``) → the paths written per copy."""
    written: dict[str, list[Path]] = {"student": [], "instructor": []}
    for path in sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb")):
        student, instructor = (nbformat.read(path, as_version=4) for _ in range(2))
        for i, _ in exercise_cells(student):
            student.cells[i].outputs, student.cells[i].execution_count = [], None
            instructor.cells[i].outputs, instructor.cells[i].execution_count = [], None
            instructor.cells[i].source = solution_code(Path(solutions) /
                                                       _solution_of(student, i, path))
        for kind, nb in (("student", student), ("instructor", instructor)):
            target = Path(out) / kind / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
            written[kind].append(target)
    return written


def _solution_of(nb, index: int, path: Path) -> str:
    """The solution file linked by the nearest markdown cell above exercise cell ``index``."""
    for cell in reversed(nb.cells[:index]):
        links = SOLUTION_LINK.findall(cell.source) if cell.cell_type == "markdown" else []
        if links:
            return links[-1]
    raise ValueError(f"{path.name}: exercise cell {index} has no solutions/… link above it")


def _verdict(cell) -> tuple[str, str]:
    """The checker's verdict: the **last** verdict line of the cell (the checker call ends the
    cell, so a line the learner printed earlier, even one starting with ✅, cannot win)."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", []))
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    marks = dict(VERDICTS)
    lines = [ln for ln in text.splitlines() if ln[:1] in marks]
    if lines and not errors:
        return marks[lines[-1][:1]], lines[-1][:200]
    if errors:
        return "error", f"{errors[0].get('ename')}: {errors[0].get('evalue', '')[:160]}"
    return "error", "the checker printed no verdict (the notebook stopped before it)"


def grade_notebook(path: Path, student: str, timeout: int = 600,
                   cwd: Path | None = None) -> list[Grade]:
    """Run one returned notebook top to bottom (each cell at most ``timeout`` s, errors do not
    stop the run) and read every exercise checker's verdict; a run that stopped before a
    checker printed (a timeout, a dead kernel) is run once more before it is graded."""
    from nbclient import NotebookClient

    for _attempt in range(2):  # a kernel reply lost in transit stalls one run: run it once more
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd or path.parent)}})
        try:
            client.execute()
        except Exception as error:  # a timeout or a dead kernel: grade what ran
            failure = f"{type(error).__name__}: {str(error)[:160]}"
        else:
            failure = ""
        if not failure or all(_verdict(nb.cells[i])[0] != "error"
                              for i, _ in exercise_cells(nb)):
            break
    grades = []
    for i, checker in exercise_cells(nb):
        verdict, detail = _verdict(nb.cells[i])
        if verdict == "error" and failure:
            detail = failure
        grades.append(Grade(student, path.stem, checker, verdict, detail))
    return grades


def grade(submissions: Path, out_csv: Path, timeout: int = 600,
          notebooks: Path | None = None) -> list[Grade]:
    """Grade every ``submissions/<student>/*.ipynb`` into ``out_csv``; returns the rows. The
    notebooks run with ``notebooks`` (default: the course's) as their working folder, so their
    relative paths resolve as in the course."""
    cwd = Path(notebooks or REPO_ROOT / "notebooks")
    rows: list[Grade] = []
    for folder in sorted(p for p in Path(submissions).iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.ipynb")):
            rows += grade_notebook(path, folder.name, timeout, cwd)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "exercise", "verdict", "detail"])
        writer.writerows([g.student, g.notebook, g.exercise, g.verdict, g.detail] for g in rows)
    return rows
