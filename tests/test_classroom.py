"""The teacher's round trip on notebook 00: release student and instructor copies, then grade
three returned notebooks (right, wrong, untouched) into a CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat

from transferlib.workbook.__main__ import main
from transferlib.workbook.classroom import exercise_cells, solution_code

REPO = Path(__file__).resolve().parents[1]
WRONG = '''from collections import Counter

from transferlib.workbook.exercises.start import check_majority_floor


def majority_floor(train_labels, eval_labels):
    majority, _ = Counter(train_labels).most_common(1)[0]
    return sum(label == majority for label in train_labels) / len(train_labels)


check_majority_floor(majority_floor)
'''


def test_release_then_grade_three_submissions(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLIB_FAST", "1")
    course = tmp_path / "course"
    course.mkdir()
    (course / "00_start_here.ipynb").write_bytes((REPO / "notebooks/00_start_here.ipynb")
                                                  .read_bytes())
    assert main(["release", "--out", str(tmp_path / "kit"), "--notebooks", str(course)]) == 0
    student = nbformat.read(tmp_path / "kit/student/00_start_here.ipynb", as_version=4)
    instructor = nbformat.read(tmp_path / "kit/instructor/00_start_here.ipynb", as_version=4)
    [(i, checker)] = exercise_cells(student)
    assert checker == "check_majority_floor"
    assert student.cells[i].outputs == [] and "return ..." in student.cells[i].source
    assert instructor.cells[i].source == solution_code(REPO / "solutions/00_majority_floor.py")

    submissions = tmp_path / "returned"
    tricky = 'print("✅ Right, trust me")\n' + WRONG  # a learner's own ✅ line cannot win
    for name, source in (("ada", instructor.cells[i].source), ("bob", tricky), ("cy", None)):
        nb = nbformat.read(tmp_path / "kit/student/00_start_here.ipynb", as_version=4)
        if source is not None:
            nb.cells[i].source = source
        (submissions / name).mkdir(parents=True)
        nbformat.write(nb, submissions / name / "00_start_here.ipynb")
    out = tmp_path / "grades.csv"
    assert main(["grade", str(submissions), "--out", str(out), "--timeout", "90"]) == 0
    with out.open(encoding="utf-8") as f:
        rows = [(r["student"], r["notebook"], r["exercise"], r["verdict"])
                for r in csv.DictReader(f)]
    assert rows == [("ada", "00_start_here", "check_majority_floor", "right"),
                    ("bob", "00_start_here", "check_majority_floor", "wrong"),
                    ("cy", "00_start_here", "check_majority_floor", "unanswered")]


def test_grade_refuses_a_missing_folder(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_release_gives_every_notebook_its_own_solution(tmp_path):
    from transferlib.workbook.classroom import release

    written = release(REPO / "notebooks", REPO / "solutions", tmp_path)
    assert len(written["instructor"]) == len(written["student"]) == 11
    used = set()
    for student_path, path in zip(written["student"], written["instructor"], strict=True):
        student, nb = (nbformat.read(p, as_version=4) for p in (student_path, path))
        for i, _ in exercise_cells(nb):
            assert nb.cells[i].source != student.cells[i].source, path.name
            used.add(nb.cells[i].source)
    assert len(used) == len(list((REPO / "solutions").glob("*.py")))
