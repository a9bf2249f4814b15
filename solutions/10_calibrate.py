"""Worked solution of notebook 10's exercise: calibrate a zero-shot scorer without labels
(open it only after trying).

A zero-shot scorer's raw scores carry a label prior: one class's label words score higher after
almost any review, so argmax answers that class nearly every time. Without labels we cannot see
which reviews are positive, but we can see what each class's score is *typically*, over the
unlabelled set: subtract each class's mean score over the reviews, and a review is called
positive when it leans to "positive" more than the average review does. Adding a constant to one
class's scores changes that class's mean by the same constant, so a prior of any size is removed.

What it assumes: that the average review of the set leans to no class, i.e. the classes are
about balanced in the set being calibrated. On a set that is mostly positive, the mean is pulled
toward "positive" and the calibration calls about half of the reviews negative (the checker
shows this on a subset that is 80 % positive). With a known class share, shift the boundary to
the matching quantile instead; with none, balance is the assumption.
"""

import torch


def calibrate(scores):
    scores = torch.as_tensor(scores, dtype=torch.float64)
    return scores - scores.mean(dim=0, keepdim=True)


if __name__ == "__main__":
    from transferlib.workbook.exercises.beyond import check_calibrate

    check_calibrate(calibrate)
