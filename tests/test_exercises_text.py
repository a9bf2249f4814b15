"""The checker of notebook 02's exercise (``last_state``): the placeholder reads as unanswered,
the common wrong answers are rejected with a hint, right answers (indexing, a loop, ``gather``)
pass, and a half-written function is rejected without raising."""

from __future__ import annotations

import torch

from transferlib.workbook.exercises.text import check_last_state


def placeholder(output, lengths):
    return ...


def last_column(output, lengths):  # the seed's bug
    return output[:, -1]


def off_by_one(output, lengths):
    return output[torch.arange(output.shape[0]), lengths.clamp(max=output.shape[1] - 1)]


def first_column(output, lengths):
    return output[:, 0]


def whole_rows(output, lengths):  # [B, B, H]: indexes columns, not (row, column) pairs
    return output[:, lengths - 1]


def by_indexing(output, lengths):
    return output[torch.arange(output.shape[0]), lengths - 1]


def by_loop(output, lengths):
    return torch.stack([output[b, int(n) - 1] for b, n in enumerate(lengths)])


def by_gather(output, lengths):
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, output.shape[2])
    return output.gather(1, index).squeeze(1)


def half_written(output, lengths):
    return output[torch.arange(output.shape[0]), lenghts - 1]  # noqa: F821 (a typo)


def test_the_placeholder_is_not_answered_yet(capsys):
    assert check_last_state(placeholder) is None
    assert check_last_state(...) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_common_wrong_answers_are_named(capsys):
    for fn, words in ((last_column, "last *column*"), (off_by_one, "off by one"),
                      (first_column, "first"), (whole_rows, "shape")):
        assert check_last_state(fn) is False
        assert words in capsys.readouterr().out, fn.__name__


def test_right_answers_pass(capsys):
    for fn in (by_indexing, by_loop, by_gather):
        assert check_last_state(fn) is True, fn.__name__
    assert "✅ Right" in capsys.readouterr().out


def test_a_half_written_answer_is_rejected_without_raising(capsys):
    assert check_last_state(half_written) is False
    assert check_last_state("output[-1]") is False
    assert "❌ Not yet" in capsys.readouterr().out


def test_calling_the_library_version_does_not_count(capsys):
    from transferlib.model import pool_valid

    assert check_last_state(lambda o, n: pool_valid(o, n)[:, :o.shape[2]]) is False
    assert "pool_valid" in capsys.readouterr().out
