"""The exercise of notebook 00 (start here): the majority-class floor, written as a function.

The floor of a split is the accuracy of the laziest classifier: always answer the most frequent
label of the *training* labels, scored on the split you evaluate on. The checker calls the
learner's ``majority_floor(train_labels, eval_labels)`` on the shipped Rotten Tomatoes splits and
on small made-up label lists whose majority differs between the two lists, so that a function
that peeks at the evaluated labels, returns the training share, the minority share or a
percentage is told apart from the right one. The right values come from
``transferlib.baselines.majority_accuracy``, never stored.
"""

from __future__ import annotations

from collections.abc import Callable

from transferlib.workbook.exercises._common import answerable, call, close, fraction, verdict

# Made-up label lists: (training labels, evaluated labels). In each, the evaluated list's own
# majority is not the training list's, and the label names are not the shipped ones.
_TOY_CASES = (
    (["fresh"] * 6 + ["rotten"] * 4, ["fresh"] * 3 + ["rotten"] * 7),
    (["b"] * 2 + ["a"] * 5, ["a"] * 1 + ["b"] * 3),
)


def _share_of_own_majority(labels: list[str]) -> float:
    return max(labels.count(c) for c in set(labels)) / len(labels)


def _check_real(fn: Callable, train: list[str], test: list[str]) -> str | None:
    """The hint for the learner's answer on the shipped train → test splits, or None if right."""
    from transferlib.baselines import majority_accuracy

    floor = majority_accuracy(train, test)
    value, problem = fraction(call(fn, train, test))
    if close(value, 100 * floor, rel=0, abs_=0.5):
        return "give a fraction between 0 and 1, not a percentage"
    if problem:
        return problem
    if close(value, _share_of_own_majority(train), rel=0, abs_=1e-3):
        return ("that is the majority's share among the training labels; the floor is scored "
                "on the labels of the split you evaluate on (the second argument)")
    if close(value, 1 - floor, rel=0, abs_=1e-3):
        return ("that is the share of the other label (the minority); count the evaluated "
                "labels that equal the training majority")
    if not close(value, floor, rel=0, abs_=1e-6):
        return ("on the shipped train and test splits your function returns "
                f"{value:.4f}; find the most frequent training label, then the share of the "
                "evaluated labels equal to it")
    return None


def _check_toys(fn: Callable) -> str | None:
    """The hint for the learner's answer on the made-up label lists, or None if right."""
    from transferlib.baselines import majority_accuracy

    for train, evaluated in _TOY_CASES:
        value, problem = fraction(call(fn, list(train), list(evaluated)))
        if problem:
            return problem
        if close(value, majority_accuracy(train, evaluated), rel=0, abs_=1e-9):
            continue
        case = f"train_labels={train}, eval_labels={evaluated}"
        if close(value, _share_of_own_majority(list(evaluated)), rel=0, abs_=1e-9):
            return (f"for {case} you answer with the evaluated labels' own majority: that "
                    "peeks at the labels the floor is scored on; the constant answer must "
                    "come from the training labels alone")
        return (f"for {case} your function returns {value:.4f}; the labels can be any "
                "strings, and the majority is found among train_labels only")
    return None


@answerable
def check_majority_floor(fn: Callable) -> bool:
    """Notebook 00: ``fn(train_labels, eval_labels)`` must return the accuracy, as a fraction,
    of always answering the most frequent label of ``train_labels``, scored on
    ``eval_labels`` (two lists of label strings)."""
    from transferlib.baselines import majority_accuracy
    from transferlib.datasets import load_rotten_tomatoes

    if not callable(fn):
        return verdict(False, "", "define a function: def majority_floor(train_labels, "
                       "eval_labels): ... and pass the function itself")
    train = list(load_rotten_tomatoes("train")["label"])
    valid = list(load_rotten_tomatoes("valid")["label"])
    test = list(load_rotten_tomatoes("test")["label"])
    hint = _check_real(fn, train, test) or _check_toys(fn)
    if hint is None and not close(call(fn, train, valid), majority_accuracy(train, valid),
                                  rel=0, abs_=1e-6):
        hint = "right on the test split but not on the validation split; look for a constant"
    if hint:
        return verdict(False, "", hint)
    return verdict(True, f"the floor is {majority_accuracy(train, test):.3f} on the test split "
                   f"and {majority_accuracy(train, valid):.3f} on the validation split (the "
                   f"training majority's own share is {_share_of_own_majority(train):.3f}, "
                   "which no model is scored on). Every accuracy in this course is printed "
                   "beside the floor of the same reviews.", "")
