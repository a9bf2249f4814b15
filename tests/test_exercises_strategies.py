"""Notebook 07's checker: STLR as a LambdaLR factor function, matched against the library."""

from __future__ import annotations

import math

import pytest

from transferlib.workbook.exercises.strategies import (
    CASES,
    check_stlr,
    learner_trace,
    library_trace,
)


def right(step, total_steps, cut_frac=0.1, ratio=32):
    cut = max(1, math.floor(total_steps * cut_frac))
    p = step / cut if step < cut else 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    p = min(max(p, 0.0), 1.0)
    return (1 + p * (ratio - 1)) / ratio


def placeholder(step, total_steps, cut_frac=0.1, ratio=32):
    return ...


def symmetric(step, total_steps, cut_frac=0.1, ratio=32):
    half = total_steps // 2
    p = step / half if step < half else 1 - (step - half) / half
    return (1 + max(p, 0.0) * (ratio - 1)) / ratio


def no_floor(step, total_steps, cut_frac=0.1, ratio=32):
    cut = math.floor(total_steps * cut_frac)
    p = step / cut if step < cut else 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    return min(max(p, 0.0), 1.0)


def rounded_cut(step, total_steps, cut_frac=0.1, ratio=32):  # round(5.5) = 6: peak one late
    cut = round(total_steps * cut_frac)
    p = step / cut if step < cut else 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    return (1 + min(max(p, 0.0), 1.0) * (ratio - 1)) / ratio


def unclamped(step, total_steps, cut_frac=0.1, ratio=32):
    cut = math.floor(total_steps * cut_frac)
    p = step / cut if step < cut else 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    return (1 + p * (ratio - 1)) / ratio


def hard_coded(step, total_steps, cut_frac=0.1, ratio=32):
    return right(step, total_steps)  # ignores cut_frac and ratio


def learning_rate_not_factor(step, total_steps, cut_frac=0.1, ratio=32):
    return 0.01 * right(step, total_steps, cut_frac, ratio) * 200


def raises(step, total_steps, cut_frac=0.1, ratio=32):
    raise NameError("cut is not defined")


def test_the_right_factor_reproduces_the_library_trace():
    for total, cut_frac, ratio in CASES:
        assert learner_trace(right, total, cut_frac, ratio) == pytest.approx(
            library_trace(total, cut_frac, ratio), rel=1e-9)


def test_placeholder_is_not_answered(capsys):
    assert check_stlr(...) is None
    assert check_stlr(placeholder) is None
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (symmetric, "symmetric"), (no_floor, "floor"), (rounded_cut, "peak"),
    (unclamped, "clamp"), (hard_coded, "cut_frac and ratio"),
    (learning_rate_not_factor, "factor"),
])
def test_wrong_answers_are_rejected_with_their_hint(wrong, words, capsys):
    assert check_stlr(wrong) is False
    assert words in capsys.readouterr().out


def test_a_half_written_answer_is_wrong_without_raising(capsys):
    assert check_stlr(raises) is False
    assert check_stlr(42) is False
    assert "Not yet" in capsys.readouterr().out


def test_the_right_answer_passes(capsys):
    assert check_stlr(right) is True
    assert "✅ Right" in capsys.readouterr().out
