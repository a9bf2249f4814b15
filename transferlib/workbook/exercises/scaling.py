"""Checker of notebook 09 (scaling out): the global batch of a data-parallel run, by hand.

The learner writes ``per_rank_batch(global_batch, world_size, accumulate)`` (the micro-batch
of one process) with its errors, and does the arithmetic of one multi-machine run. The right
values come from ``parallel.per_rank_batch``, the function the fine-tuning path calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from transferlib.workbook.exercises._common import Unanswered, answerable, call, verdict

# The run of the arithmetic part: machines × GPUs per machine, micro-batch, accumulation, data.
RUN = {"machines": 4, "gpus_per_machine": 8, "micro_batch": 12, "accumulate": 2,
       "examples": 10_000}
# (global batch, world size, accumulate) the learner's function must split exactly.
SPLITS = ((256, 1, 1), (256, 2, 1), (256, 2, 4), (512, 8, 4), (96, 3, 2), (48, 1, 3))
# ... and ones it must refuse with a ValueError.
REFUSE = ((100, 3, 1), (64, 2, 0), (64, 0, 1), (30, 4, 2))


def _library(global_batch: int, world: int, accumulate: int) -> int:
    from transferlib.parallel import DistContext, per_rank_batch

    ctx = DistContext(0, world, 0, torch.device("cpu"), "gloo")
    return per_rank_batch(global_batch, ctx, accumulate)


def _split_problem(fn: Callable) -> str:
    """What the learner's function gets wrong on SPLITS, or ''."""
    for g, w, k in SPLITS:
        got, want = call(fn, g, w, k), _library(g, w, k)
        if isinstance(got, bool) or not isinstance(got, int):
            return (f"per_rank_batch({g}, {w}, {k}) returned {got!r}: a batch size is an int "
                    "(use //, after checking that the division is exact)")
        if got == want:
            continue
        if got == g // w and k > 1:
            return (f"per_rank_batch({g}, {w}, {k}) = {got}: you forgot the accumulation; "
                    "each process runs k micro-batches per optimizer step")
        if got == g // k and w > 1:
            return (f"per_rank_batch({g}, {w}, {k}) = {got}: you forgot the processes; "
                    "W of them share each step")
        if got in (g // (w * w * k), g // (w * k * k)):
            return (f"per_rank_batch({g}, {w}, {k}) = {got}: you divided twice by the same "
                    "factor; the global batch splits into W × k parts, once")
        return f"per_rank_batch({g}, {w}, {k}) returned {got}; want {want}"
    return ""


def _refuse_problem(fn: Callable) -> str:
    """Which impossible split the learner's function accepts, or ''."""
    for g, w, k in REFUSE:
        try:
            got = fn(g, w, k)
        except ValueError:
            continue
        except Exception as error:  # any other error is a wrong kind of refusal
            return (f"per_rank_batch({g}, {w}, {k}) raised {type(error).__name__}; "
                    "raise ValueError with a message that says what to change")
        if got is ... or got is None:
            raise Unanswered
        why = "accumulate" if k < 1 else "world_size" if w < 1 else "the division"
        return (f"per_rank_batch({g}, {w}, {k}) returned {got!r}; it must raise ValueError "
                f"({why} is impossible: training would silently use another global batch)")
    return ""


def _arithmetic_problem(answer: dict) -> str:
    """What is wrong with the global batch and the steps per epoch, or ''."""
    r = RUN
    world = r["machines"] * r["gpus_per_machine"]
    want = r["micro_batch"] * world * r["accumulate"]
    given = answer["global_batch"]
    if given == r["micro_batch"] * world:
        return "global_batch: you forgot the accumulation steps"
    if given == r["micro_batch"] * r["gpus_per_machine"] * r["accumulate"]:
        return "global_batch: count the processes on every machine, not on one"
    if given != want:
        return "global_batch: one optimizer step sees micro-batch × processes × accumulation"
    steps = math.ceil(r["examples"] / want)
    if answer["steps"] == steps - 1:
        return "steps: the last, smaller step counts too (round up)"
    if answer["steps"] != steps:
        return "steps: one epoch is the examples divided by the global batch, rounded up"
    return ""


@answerable
def check_scaling(answer: dict) -> bool:
    """Notebook 09: ``answer["per_rank_batch"]`` is the learner's function; ``global_batch``
    and ``steps`` are the arithmetic of ``RUN``."""
    if not isinstance(answer, dict) or {"per_rank_batch", "global_batch", "steps"} - set(answer):
        return verdict(False, "", "keep the dict's keys: per_rank_batch, global_batch, steps")
    fn = answer["per_rank_batch"]
    problem = _split_problem(fn) or _refuse_problem(fn) or _arithmetic_problem(answer)
    if problem:
        return verdict(False, "", problem)
    return verdict(True, f"your per_rank_batch agrees with parallel.per_rank_batch on "
                   f"{len(SPLITS)} splits and refuses the {len(REFUSE)} impossible ones; "
                   f"{answer['global_batch']} examples per step, {answer['steps']} steps per "
                   "epoch.", "")
