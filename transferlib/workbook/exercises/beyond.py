"""Checker of notebook 10 (beyond): the learner writes ``calibrate(scores)``, a calibration of a
zero-shot scorer that removes the label prior **without any label**.

A zero-shot scorer gives every review one score per class (``[N, C]``, larger = more likely);
the prediction is ``argmax``. Raw scores carry a *label prior*: one class's label words or
phrase score higher after almost any text, so nearly every review gets that class. The checker
feeds the learner's function the label-word scores of the Rotten Tomatoes test split (the mean
cosine similarity of each review's GloVe vectors to each class's label words, as
``zeroshot.label_word_scores`` computes them) and asks four things of the result:

* it changes the answers (the uncalibrated scores, or a per-row softmax, do not);
* it removes a prior of *any* size: adding a constant to one class's scores must not change the
  predictions (a fixed offset, such as the content-free prior of ``zeroshot.zero_shot_scores``,
  removes only the prior measured beforehand);
* it reads nothing but ``scores``: it runs on another set of reviews of another size and gives
  each review the same answer when the rows are shuffled (a version that reads the test labels
  fails here);
* the calibrated answers are not collapsed onto one class and beat the majority class.

The right answers are computed here from the shipped data, never stored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from transferlib.workbook.exercises._common import answerable, call, verdict

CLASSES = ("negative", "positive")
MISMATCH = 0.005  # share of reviews whose answer may flip by float rounding alone
SKEWED_SHARE = 0.8  # the positive share of the subset that shows what calibration assumes


@functools.lru_cache(maxsize=1)
def exercise_scores() -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores [N, 2], truth [N])`` on the Rotten Tomatoes test split: per review, the mean
    cosine similarity of its words' GloVe vectors to each class's label-word centroid
    (columns ordered as ``CLASSES``), and the true class index."""
    from transferlib.datasets import load_rotten_tomatoes
    from transferlib.text import tokenize
    from transferlib.vectors import load_word_vectors
    from transferlib.zeroshot import LABEL_WORDS

    vectors = load_word_vectors()
    unit = torch.nn.functional.normalize(vectors.vectors, dim=1)
    centroids = torch.stack([
        torch.nn.functional.normalize(torch.stack(
            [vectors.get(w)[0] for w in LABEL_WORDS[c] if vectors.get(w)[0] is not None]
        ).mean(0), dim=0) for c in CLASSES])
    per_word = unit @ centroids.T  # [words, 2]
    test = load_rotten_tomatoes("test")
    rows = []
    for text in test["text"]:
        ids = [vectors.index[w] for w in tokenize(text) if w in vectors.index]
        rows.append(per_word[ids].mean(0) if ids else torch.zeros(len(CLASSES)))
    truth = torch.tensor([CLASSES.index(c) for c in test["label"]])
    return torch.stack(rows), truth


def _predict(calibrate: Callable, scores: torch.Tensor) -> torch.Tensor:
    """The learner's calibrated predictions on ``scores`` (a copy, so it cannot edit ours)."""
    out = torch.as_tensor(call(calibrate, scores.clone()), dtype=torch.float64)
    if out.shape != scores.shape:
        raise ValueError(f"calibrate returned shape {tuple(out.shape)}; return the scores' "
                         f"shape {tuple(scores.shape)}, one calibrated score per review and class")
    return out.argmax(1)


def _differ(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a != b).double().mean())


def _label_free(calibrate: Callable, scores: torch.Tensor, pred: torch.Tensor) -> str:
    """An empty string when ``calibrate`` behaves as a function of ``scores`` alone, else the
    hint that says what it did."""
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(scores), generator=generator)
    part = order[: len(scores) // 3]
    try:
        _predict(calibrate, scores[part])
    except Exception as error:  # noqa: BLE001 - the learner's code may raise anything
        return (f"on another set of {len(part)} reviews your calibrate raised "
                f"{type(error).__name__}: {error}. It may use only the scores it is given: not "
                "the test labels, not a variable of the notebook's own review set")
    shuffled = _predict(calibrate, scores[order])
    if _differ(shuffled, pred[order]) > MISMATCH:
        return ("with the same reviews in another order, your calibrate gave some of them "
                "other answers: it reads something besides the scores (the labels, or the row "
                "positions). Calibrate from the scores alone")
    return ""


def _skew_note(calibrate: Callable, scores: torch.Tensor, truth: torch.Tensor) -> str:
    """What the learner's calibration does on a subset whose classes are not balanced."""
    generator = torch.Generator().manual_seed(0)
    pos = torch.nonzero(truth == 1).flatten()
    neg = torch.nonzero(truth == 0).flatten()
    n_neg = int(len(pos) * (1 - SKEWED_SHARE) / SKEWED_SHARE)
    neg = neg[torch.randperm(len(neg), generator=generator)[:n_neg]]
    rows = torch.cat([pos, neg])
    sub, sub_truth = scores[rows], truth[rows]
    cal = _predict(calibrate, sub)
    raw = sub.argmax(1)
    return (f"What it assumes shows on a subset that is {SKEWED_SHARE:.0%} positive: there your "
            f"calibration calls {float(cal.double().mean()):.0%} of the reviews positive and "
            f"scores {float((cal == sub_truth).double().mean()):.3f}, the raw scores "
            f"{float((raw == sub_truth).double().mean()):.3f}. A calibration without labels has "
            "to assume the class shares of the set it is given (here: balanced).")


@answerable
def check_calibrate(calibrate: Callable) -> bool:
    """``calibrate(scores)`` → ``[N, C]`` calibrated scores (predict with ``argmax(1)``) that
    remove the label prior of a zero-shot scorer using the scores alone: checked on the GloVe
    label-word scores of the Rotten Tomatoes test split."""
    if not callable(calibrate):
        return verdict(False, "", "define a function calibrate(scores) that returns a tensor")
    scores, truth = exercise_scores()
    raw = scores.argmax(1)
    pred = _predict(calibrate, scores)
    share = float(pred.double().mean())
    if _differ(pred, raw) <= MISMATCH:
        return verdict(False, "", f"your calibrated scores give the same answers as the raw "
                       f"ones ({share:.0%} positive). A change that keeps each row's order "
                       "(a softmax per row, subtracting the row's mean) cannot move a review "
                       "across the boundary: compare each class's scores across reviews")
    spread = float((scores[:, 1] - scores[:, 0]).std())
    for column in range(scores.shape[1]):
        shifted = scores.clone()
        shifted[:, column] += 3 * spread
        if _differ(_predict(calibrate, shifted), pred) > MISMATCH:
            return verdict(False, "", f"adding the same constant to every review's "
                           f"'{CLASSES[column]}' score changed your answers. That constant is "
                           "a label prior, and calibrate must remove it whatever its size; a "
                           "fixed offset (such as the content-free prior zero_shot_scores "
                           "measures) removes only the prior you measured beforehand. Estimate "
                           "it from the scores you are given")
    if hint := _label_free(calibrate, scores, pred):
        return verdict(False, "", hint)
    accuracy = float((pred == truth).double().mean())
    floor = max(float(truth.double().mean()), 1 - float(truth.double().mean()))
    if not 0.25 <= share <= 0.75 or accuracy < floor + 0.05:
        return verdict(False, "", f"your calibration calls {share:.0%} of the test reviews "
                       f"positive and scores {accuracy:.3f} (the majority class: {floor:.3f}). "
                       "Remove each class's typical score, as the unlabelled set shows it, so "
                       "that a review is called positive when it leans positive *for this "
                       "scorer*")
    return verdict(True, f"on the {len(truth):,} test reviews the raw scores call "
                   f"{float(raw.double().mean()):.0%} positive and score "
                   f"{float((raw == truth).double().mean()):.3f}; yours call {share:.0%} "
                   f"positive and score {accuracy:.3f}, with no label read. "
                   + _skew_note(calibrate, scores, truth), "")
