"""Notebook 09's checker: per-rank micro-batches and the global batch of a multi-machine run."""

from __future__ import annotations

import math

import pytest

from transferlib.workbook.exercises.scaling import RUN, check_scaling

WORLD = RUN["machines"] * RUN["gpus_per_machine"]
GLOBAL = RUN["micro_batch"] * WORLD * RUN["accumulate"]
STEPS = math.ceil(RUN["examples"] / GLOBAL)


def right(global_batch, world_size, accumulate):
    if world_size < 1 or accumulate < 1:
        raise ValueError("world_size and accumulate must be >= 1")
    if global_batch % (world_size * accumulate):
        raise ValueError(f"{global_batch} does not split into {world_size * accumulate}")
    return global_batch // (world_size * accumulate)


def answer(fn=right, global_batch=GLOBAL, steps=STEPS):
    return {"per_rank_batch": fn, "global_batch": global_batch, "steps": steps}


def test_the_placeholder_is_not_answered_yet(capsys):
    def placeholder(global_batch, world_size, accumulate):
        return ...
    assert check_scaling(answer(global_batch=...)) is None
    assert check_scaling(answer(fn=placeholder)) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_right_answer_passes(capsys):
    assert check_scaling(answer()) is True
    assert "✅ Right" in capsys.readouterr().out


def no_accumulation(g, w, k):
    return right(g, w, 1)


def divided_twice(g, w, k):
    return right(g, w, k) // k


def float_division(g, w, k):
    return g / (w * k)


def never_refuses(g, w, k):
    return g // max(1, w * k)


@pytest.mark.parametrize("wrong, hint", [
    (answer(fn=no_accumulation), "forgot the accumulation"),
    (answer(fn=divided_twice), "divided twice"),
    (answer(fn=float_division), "is an int"),
    (answer(fn=never_refuses), "must raise ValueError"),
    (answer(global_batch=RUN["micro_batch"] * WORLD), "forgot the accumulation steps"),
    (answer(global_batch=RUN["micro_batch"] * RUN["gpus_per_machine"] * RUN["accumulate"]),
     "every machine"),
    (answer(steps=STEPS - 1), "round up"),
    (answer(steps=RUN["examples"] // RUN["micro_batch"]), "divided by the global batch"),
])
def test_common_wrong_answers_are_rejected(wrong, hint, capsys):
    assert check_scaling(wrong) is False
    assert hint in capsys.readouterr().out


def test_a_half_written_function_is_a_hint_not_a_crash(capsys):
    def half(g, w, k):
        return g // (w * acc)  # noqa: F821 - the learner's typo
    assert check_scaling(answer(fn=half)) is False
    assert "NameError" in capsys.readouterr().out
    assert check_scaling({"global_batch": 1}) is False
