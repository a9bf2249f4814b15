"""Checker of notebook 08 (efficiency): a length-bucketing batch sampler written by hand.

The learner writes ``bucket_batches(lengths, batch_size, seed)``, a list of batches (lists of
indices) that a ``DataLoader`` can take as its ``batch_sampler``. The checker measures the
share of padding its batches compute on the given lengths, next to random batches and
``batching.BucketBatchSampler`` on the same lengths, and checks what a sampler owes the
training loop: every index exactly once, full batches, a different shuffle for another seed
and the same one for the same seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from transferlib.workbook.exercises._common import answerable, call, close, verdict

# A bucketed epoch must compute at most this share of random batches' padding.
MAX_SHARE_OF_RANDOM = 0.25


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Padding tokens / all tokens computed when each batch is padded to its longest member."""
    pads = total = 0
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        total += longest * len(batch)
        pads += sum(longest - lengths[i] for i in batch)
    return pads / max(total, 1)


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """Shuffled indices cut into batches: what ``DataLoader(shuffle=True)`` computes."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def default_lengths() -> list[int]:
    """Token counts of the Rotten Tomatoes training reviews (the notebook's ``lengths``)."""
    from transferlib import datasets
    from transferlib.text import tokenize

    return [len(tokenize(t)) for t in datasets.load_rotten_tomatoes("train")["text"]]


def _as_batches(value) -> list[list[int]]:
    """The learner's batches as lists of ints (any iterable of iterables, e.g. a Sampler)."""
    return [[int(i) for i in batch] for batch in value]


def _coverage_problem(batches: list[list[int]], n: int, batch_size: int) -> str:
    """What is wrong with the batches as an epoch (missing, repeated, oversized), or ''."""
    if not batches or any(len(b) == 0 for b in batches):
        return "return a non-empty list of non-empty batches (lists of indices)"
    seen = [i for b in batches for i in b]
    missing = n - len(set(seen) & set(range(n)))
    if missing:
        return (f"{missing} review(s) are in no batch: every index must appear once per epoch "
                "(keep the last, smaller batch; do not drop it)")
    if len(seen) != n:
        return f"{len(seen) - n} index(es) appear more than once: each must appear exactly once"
    if max(len(b) for b in batches) > batch_size:
        return f"a batch holds more than batch_size = {batch_size} indices"
    partial = sum(len(b) < batch_size for b in batches)
    if partial > 1:
        return (f"{partial} batches are smaller than batch_size: fill every batch but one "
                "(cut the sorted indices into consecutive runs of batch_size)")
    return ""


def _order_problem(fn: Callable, lengths: list[int], batch_size: int,
                   batches: list[list[int]]) -> str:
    """Whether the epoch is shuffled and reproducible, or ''."""
    if _as_batches(call(fn, lengths, batch_size, 0)) != batches:
        return "the same seed gave different batches: use random.Random(seed), not the global RNG"
    if _as_batches(call(fn, lengths, batch_size, 1)) == batches:
        return ("another seed gives the very same batches: sorting everything once makes every "
                "epoch identical; shuffle first, then sort inside pools of a few batches")
    means = [sum(lengths[i] for i in b) / len(b) for b in batches]
    rising = sum(b > a for a, b in zip(means, means[1:])) / max(1, len(means) - 1)
    if len(means) > 2 and not 0.1 <= rising <= 0.9:
        return ("the batches come shortest first (or longest first): the model would see a "
                "length curriculum; shuffle the order of the batches too")
    return ""


@answerable
def check_bucket_sampler(fn: Callable, lengths: Sequence[int] | None = None,
                         batch_size: int = 64) -> bool:
    """Notebook 08: ``fn(lengths, batch_size, seed)`` returns length-bucketed batches: every
    index once, full batches but one, seeded, and at most ``MAX_SHARE_OF_RANDOM`` of the
    padding random batches compute on the same lengths."""
    from transferlib.batching import BucketBatchSampler

    lengths = list(default_lengths() if lengths is None else lengths)
    batches = _as_batches(call(fn, lengths, batch_size, 0))
    problem = _coverage_problem(batches, len(lengths), batch_size)
    if problem:
        return verdict(False, "", problem)
    mine = padding_fraction(batches, lengths)
    rand = sum(padding_fraction(random_batches(len(lengths), batch_size, s), lengths)
               for s in range(3)) / 3
    library = padding_fraction(list(BucketBatchSampler(lengths, batch_size, seed=0)), lengths)
    summary = (f"padding: yours {mine:.1%}, random batches {rand:.1%}, "
               f"BucketBatchSampler {library:.1%} of the computed tokens")
    if mine > MAX_SHARE_OF_RANDOM * rand:
        return verdict(False, "", f"{summary}. Too much padding left: sort by length inside "
                       "pools large enough (dozens of batches) before cutting them into batches")
    problem = _order_problem(fn, lengths, batch_size, batches)
    if problem:
        return verdict(False, "", problem)
    steps = math.ceil(len(lengths) / batch_size)
    return verdict(True, f"{summary}; {len(batches)} batches ({steps} needed), every review "
                   "once, reshuffled by the seed.", "")


# --------------------------------------------------------------- the distillation loss
def _kd_cases():
    """Logits of a student and a teacher (3 classes) and labels, some rows unlabelled (-1)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    student = torch.randn(8, 3, generator=gen) * 2
    teacher = torch.randn(8, 3, generator=gen) * 3
    labels = torch.tensor([0, 2, -1, 1, -1, 0, 2, -1])
    return student, teacher, labels


def _kd_hint(fn, student, teacher, labels) -> str:
    """Which part of a wrong distillation loss is off, or '' when it is right."""
    import torch

    from transferlib.distill import SoftTargetTask

    def expected(t, alpha, lab=labels):
        task = SoftTargetTask(t, alpha)
        loss, _, _, _ = task.step(lambda ids, lengths: student, (
            torch.ones(8, 1, dtype=torch.long), torch.ones(8, dtype=torch.long), lab, teacher),
            torch.device("cpu"))
        return float(loss)

    def mine(t, alpha, lab=labels):
        return float(call(fn, student.clone(), teacher.clone(), lab.clone(), t, alpha))

    if not close(mine(1.0, 0.0), expected(1.0, 0.0), rel=1e-4):
        ce = torch.nn.functional.cross_entropy
        if close(mine(1.0, 0.0), float(ce(student, labels.clamp(min=0))), rel=1e-4):
            return ("with alpha = 0 your loss counts the unlabelled rows (label -1) too: take the "
                    "cross-entropy over the rows whose label is >= 0 only")
        if close(mine(1.0, 0.0), float(ce(student[labels >= 0], labels[labels >= 0])),
                 rel=1e-4):
            return ("you average the cross-entropy over the labelled rows; sum it over them and "
                    "divide by the batch size B, as the soft term is, so that every row weighs "
                    "the same")
        return ("with alpha = 0 the loss must be the labelled rows' cross-entropy, summed and "
                "divided by the batch size")
    if not close(mine(1.0, 1.0), expected(1.0, 1.0), rel=1e-4):
        return ("with alpha = 1 and T = 1 the loss must be KL(teacher ‖ student) of the two "
                "softmaxes, averaged over all rows (F.kl_div(log_p_student, log_p_teacher, "
                "log_target=True, reduction='batchmean'))")
    if not close(mine(4.0, 1.0), expected(4.0, 1.0), rel=1e-4):
        if close(mine(4.0, 1.0) * 16, expected(4.0, 1.0), rel=1e-4):
            return "at T = 4 your soft term is 16 times too small: multiply the KL by T²"
        return ("at T = 4 divide both models' logits by T before the softmaxes, and multiply "
                "the KL by T²")
    if not close(mine(2.0, 0.0), expected(2.0, 0.0), rel=1e-4):
        return ("at T = 2 and alpha = 0 the loss changed: the cross-entropy uses the student's "
                "ordinary logits (T = 1); only the soft term divides by T")
    if not close(mine(2.0, 0.3), expected(2.0, 0.3), rel=1e-4):
        return "mix the two terms as alpha · soft + (1 − alpha) · hard"
    none = torch.full_like(labels, -1)
    value = mine(2.0, 0.5, none)
    if not math.isfinite(value) or not close(value, expected(2.0, 0.5, none), rel=1e-4):
        return ("a batch without any label (augmented copies only) must give alpha · soft, not "
                f"{value}: its cross-entropy sum is 0 (a mean over no rows is NaN)")
    return ""


@answerable
def check_distillation_loss(fn: Callable) -> bool:
    """Notebook 08: ``fn(student_logits, teacher_logits, labels, T, alpha)`` is
    ``alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − alpha) · CE`` with the
    cross-entropy summed over the rows whose label is not -1 and divided by the batch size, as
    ``distill.SoftTargetTask``."""
    student, teacher, labels = _kd_cases()
    hint = _kd_hint(fn, student, teacher, labels)
    if hint:
        return verdict(False, "", hint)
    return verdict(True, "your loss equals transferlib.distill.SoftTargetTask's at T = 1, 2 "
                   "and 4, alpha = 0, 0.3, 0.5 and 1, with and without labelled rows.", "")
