"""The checker of notebook 00's exercise (the majority-class floor): placeholder, wrong answers,
a half-written answer and the right one."""

from __future__ import annotations

from collections import Counter

from transferlib.workbook.exercises.start import check_majority_floor


def _majority(labels):
    return Counter(labels).most_common(1)[0][0]


def right(train_labels, eval_labels):
    majority = _majority(train_labels)
    return sum(y == majority for y in eval_labels) / len(eval_labels)


def test_the_placeholder_is_not_answered(capsys):
    def placeholder(train_labels, eval_labels):
        return ...

    assert check_majority_floor(...) is None
    assert check_majority_floor(placeholder) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_right_function_passes(capsys):
    assert check_majority_floor(right) is True
    assert "✅ Right" in capsys.readouterr().out


def test_the_training_share_is_rejected(capsys):
    def train_share(train_labels, eval_labels):
        return right(train_labels, train_labels)

    assert check_majority_floor(train_share) is False
    assert "training labels" in capsys.readouterr().out


def test_the_minority_share_is_rejected(capsys):
    def minority(train_labels, eval_labels):
        return 1 - right(train_labels, eval_labels)

    assert check_majority_floor(minority) is False
    assert "minority" in capsys.readouterr().out


def test_a_percentage_is_rejected(capsys):
    def percent(train_labels, eval_labels):
        return 100 * right(train_labels, eval_labels)

    assert check_majority_floor(percent) is False
    assert "percentage" in capsys.readouterr().out


def test_peeking_at_the_evaluated_labels_is_rejected(capsys):
    def peeks(train_labels, eval_labels):
        return right(eval_labels, eval_labels)

    assert check_majority_floor(peeks) is False
    assert "peeks" in capsys.readouterr().out


def test_a_hard_coded_label_is_rejected():
    def positive_share(train_labels, eval_labels):
        return sum(y == "positive" for y in eval_labels) / len(eval_labels)

    assert check_majority_floor(positive_share) is False


def test_a_half_written_answer_is_a_wrong_answer_not_an_error(capsys):
    def half(train_labels, eval_labels):
        raise NotImplementedError("not finished")

    assert check_majority_floor(half) is False
    assert check_majority_floor(0.523) is False
    assert "❌ Not yet" in capsys.readouterr().out
