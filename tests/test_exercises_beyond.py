"""The checker of notebook 10 (calibrate a zero-shot scorer without labels): the placeholder
reads as unanswered; the uncalibrated scores, a per-row softmax, a fixed prior (the library's
content-free calibration) and versions that read the test labels are rejected with a hint; label-
free calibrations pass; a half-written function is rejected without raising."""

from __future__ import annotations

import pytest
import torch

from transferlib.workbook.exercises.beyond import check_calibrate, exercise_scores


def _column_mean(scores):
    return scores - scores.mean(0, keepdim=True)


def _median_of_difference(scores):
    gap = scores[:, 1] - scores[:, 0]
    return torch.stack([torch.zeros_like(gap), gap - gap.median()], dim=1)


def _column_zscore(scores):
    return (scores - scores.mean(0)) / scores.std(0)


def test_placeholders_read_as_unanswered(capsys):
    assert check_calibrate(...) is None

    def calibrate(scores):
        return ...
    assert check_calibrate(calibrate) is None
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("right", [_column_mean, _median_of_difference, _column_zscore])
def test_label_free_calibrations_pass(right, capsys):
    assert check_calibrate(right) is True
    out = capsys.readouterr().out
    assert "✅ Right" in out and "80% positive" in out


@pytest.mark.parametrize("wrong, hint", [
    (lambda s: s, "same answers as the raw"),
    (lambda s: s.softmax(1), "same answers as the raw"),
    (lambda s: s - s.mean(1, keepdim=True), "same answers as the raw"),
    (lambda s: s - torch.tensor([0.0, 0.05]), "whatever its size"),
    (lambda s: s * torch.tensor([1.0, 0.5]), "Not yet"),
    (lambda s: torch.zeros_like(s), "majority class"),
])
def test_uncalibrated_and_fixed_priors_are_rejected(wrong, hint, capsys):
    assert check_calibrate(wrong) is False
    out = capsys.readouterr().out
    assert "❌ Not yet" in out and hint in out


def test_a_calibration_that_reads_the_test_labels_is_rejected(capsys):
    _, truth = exercise_scores()
    onehot = torch.nn.functional.one_hot(truth, 2).float()

    def cheat(scores):
        return scores - scores.mean(0) + onehot
    assert check_calibrate(cheat) is False
    assert "not the test labels" in capsys.readouterr().out

    def threshold_from_labels(scores):  # a per-class offset chosen with the labels
        gap = scores[:, 1] - scores[:, 0]
        cut = (gap[truth == 1].mean() + gap[truth == 0].mean()) / 2 if len(gap) == len(
            truth) else gap.mean()
        return torch.stack([torch.zeros_like(gap), gap - cut], dim=1)
    assert check_calibrate(threshold_from_labels) is False


def test_a_wrong_shape_and_a_collapsed_answer_are_rejected(capsys):
    assert check_calibrate(lambda s: s[:, 1] - s[:, 0]) is False
    assert "shape" in capsys.readouterr().out

    def inverted(scores):  # label-free and prior-free, but it flips the classes
        return -_column_mean(scores)
    assert check_calibrate(inverted) is False
    assert "majority class" in capsys.readouterr().out


def test_a_half_written_function_is_rejected_without_raising(capsys):
    def calibrate(scores):
        prior = scores.mean(0)  # noqa: F841
        return scores - priors  # noqa: F821 - the typo is the point

    assert check_calibrate(calibrate) is False
    assert "NameError" in capsys.readouterr().out
    assert check_calibrate("calibrate") is False
