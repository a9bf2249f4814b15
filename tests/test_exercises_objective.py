"""The checker of notebook 04's exercise (``l2sp_penalty``): the placeholder reads as unanswered,
plain L2, a missing square, a square root, a penalty over w₀ only, a missing head term, a mean and
a detached value are rejected with a hint, the right answer passes, and a half-written function
is rejected without raising."""

from __future__ import annotations

import pytest

from transferlib.workbook.exercises.objective import check_l2sp_penalty


def _weights(model, w0):
    return [(n, p) for n, p in model.named_parameters() if n in w0]


def _head(model, w0):
    return [p for n, p in model.named_parameters()
            if n not in w0 and not n.rsplit(".", 1)[-1].startswith("bias")]


def placeholder(model, w0, beta=0.1):
    return ...


def right(model, w0, beta=0.1):
    drift = sum(((p - w0[n]) ** 2).sum() for n, p in _weights(model, w0))
    return drift + beta * sum((p ** 2).sum() for p in _head(model, w0))


def plain_l2(model, w0, beta=0.1):
    return sum((p ** 2).sum() for _, p in _weights(model, w0)) + beta * sum(
        (p ** 2).sum() for p in _head(model, w0))


def no_square(model, w0, beta=0.1):
    return sum((p - w0[n]).abs().sum() for n, p in _weights(model, w0)) + beta * sum(
        (p ** 2).sum() for p in _head(model, w0))


def square_root(model, w0, beta=0.1):
    drift = sum(((p - w0[n]) ** 2).sum() for n, p in _weights(model, w0))
    return drift.sqrt() + beta * sum((p ** 2).sum() for p in _head(model, w0))


def w0_only(model, w0, beta=0.1):
    return sum((t ** 2).sum() for t in w0.values()) + beta * sum(
        (p ** 2).sum() for p in _head(model, w0))


def no_head(model, w0, beta=0.1):
    return sum(((p - w0[n]) ** 2).sum() for n, p in _weights(model, w0))


def detached(model, w0, beta=0.1):
    return right(model, w0, beta).detach()


def half_written(model, w0, beta=0.1):
    return sum(((p - w0[name]) ** 2).sum() for n, p in _weights(model, w0))  # noqa: F821


def test_the_placeholder_is_not_answered_yet(capsys):
    assert check_l2sp_penalty(placeholder) is None
    assert check_l2sp_penalty(...) is None
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (plain_l2, "plain L2"), (no_square, "square is missing"), (square_root, "no square root"),
    (w0_only, "reads only w₀"), (no_head, "head term is missing"), (detached, "no gradient")])
def test_the_common_wrong_answers_are_named(fn, words, capsys):
    assert check_l2sp_penalty(fn) is False
    assert words in capsys.readouterr().out


def test_the_right_answer_passes(capsys):
    assert check_l2sp_penalty(right) is True
    assert "✅ Right" in capsys.readouterr().out


def test_a_half_written_answer_is_rejected_without_raising(capsys):
    assert check_l2sp_penalty(half_written) is False
    assert check_l2sp_penalty(42) is False
    assert "❌ Not yet" in capsys.readouterr().out
