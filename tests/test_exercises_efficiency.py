"""Notebook 08's checker: a length-bucketing batch sampler written by hand."""

from __future__ import annotations

import random

import pytest

from transferlib.batching import BucketBatchSampler
from transferlib.workbook.exercises.efficiency import (
    check_bucket_sampler,
    check_distillation_loss,
    padding_fraction,
    random_batches,
)

RNG = random.Random(0)
LENGTHS = [RNG.randint(1, 60) for _ in range(1000)]
BATCH = 16


def check(fn):
    return check_bucket_sampler(fn, LENGTHS, BATCH)


def pooled(lengths, batch_size, seed=0):
    """The right answer: shuffle, sort inside pools, cut, shuffle the batches."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 20
    batches = []
    for start in range(0, len(order), pool):
        part = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def test_the_placeholder_is_not_answered_yet(capsys):
    def placeholder(lengths, batch_size, seed=0):
        return ...
    assert check(placeholder) is None
    assert check(...) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_right_sampler_and_the_library_pass(capsys):
    assert check(pooled) is True
    assert check(lambda lengths, b, seed=0: list(BucketBatchSampler(lengths, b, seed=seed)))
    assert "✅ Right" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda lengths, b, seed=0: random_batches(len(lengths), b, seed), "Too much padding"),
    (lambda lengths, b, seed=0: [x for x in pooled(lengths, b, seed) if len(x) == b],
     "do not drop it"),
    (lambda lengths, b, seed=0: pooled(lengths, 1, seed), "smaller than"),
    (lambda lengths, b, seed=0: pooled(lengths, b, seed) + [[0]], "more than once"),
    (lambda lengths, b, seed=0: (lambda s: [s[i:i + b] for i in range(0, len(s), b)])(
        sorted(range(len(lengths)), key=lengths.__getitem__)), "another seed"),
    (lambda lengths, b, seed=0: sorted(pooled(lengths, b, seed),
                                       key=lambda x: sum(lengths[i] for i in x)),
     "shortest first"),
    (lambda lengths, b, seed=0: pooled(lengths, b, random.random()), "same seed"),
])
def test_common_wrong_samplers_are_rejected(wrong, hint, capsys):
    assert check(wrong) is False
    assert hint in capsys.readouterr().out


def test_a_sampler_that_raises_is_a_hint_not_a_crash(capsys):
    def broken(lengths, batch_size, seed=0):
        raise IndexError("list index out of range")
    assert check(broken) is False
    assert "IndexError" in capsys.readouterr().out


def test_padding_fraction_counts_pads_over_all_computed_tokens():
    assert padding_fraction([[0, 1]], [2, 4]) == pytest.approx(2 / 8)
    assert padding_fraction([[0], [1]], [2, 4]) == 0


# ------------------------------------------------------------------ the distillation loss
def _kd(student, teacher, labels, T, alpha, *, squared=True, masked=True, per_batch=True,
        reverse=False, student_only=False, hard_at_t=False):
    import torch.nn.functional as F

    if hard_at_t:  # the cross-entropy on the softened logits too
        soft = _kd(student, teacher, labels, T, 1.0)
        rows = labels >= 0
        hard = F.cross_entropy(student[rows] / T, labels[rows], reduction="sum") / len(labels)
        return alpha * soft + (1 - alpha) * hard

    t_teacher = 1.0 if student_only else T
    p, q = F.log_softmax(student / T, -1), F.log_softmax(teacher / t_teacher, -1)
    if reverse:
        p, q = q, p
    soft = F.kl_div(p, q, log_target=True, reduction="batchmean") * (T * T if squared else 1)
    rows = labels >= 0 if masked else labels == labels
    if per_batch:
        hard = F.cross_entropy(student[rows], labels[rows].clamp(min=0), reduction="sum")
        return alpha * soft + (1 - alpha) * hard / len(labels)
    return alpha * soft + (1 - alpha) * F.cross_entropy(student[rows], labels[rows].clamp(min=0))


def test_the_right_distillation_loss_passes(capsys):
    assert check_distillation_loss(_kd) is True
    assert "✅ Right" in capsys.readouterr().out
    assert check_distillation_loss(...) is None


@pytest.mark.parametrize("wrong, hint", [
    (lambda *a: _kd(*a, squared=False), "T²"),
    (lambda *a: _kd(*a, masked=False, per_batch=False), "unlabelled rows"),
    (lambda *a: _kd(*a, per_batch=False), "divide by the batch size B"),
    (lambda s, t, y, T, alpha: _kd(s, t, y, T, 1 - alpha), "alpha = 0"),
    (lambda *a: _kd(*a, reverse=True), "KL(teacher ‖ student)"),
    (lambda *a: _kd(*a, student_only=True), "divide both models' logits by T"),
    (lambda *a: _kd(*a, hard_at_t=True), "ordinary logits (T = 1)"),
])
def test_each_wrong_distillation_loss_gets_its_hint(wrong, hint, capsys):
    assert check_distillation_loss(wrong) is False
    assert hint in capsys.readouterr().out
