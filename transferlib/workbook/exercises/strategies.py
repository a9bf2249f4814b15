"""Checker of notebook 07's exercise (fine-tuning strategies): write ULMFiT's slanted
triangular learning rate (STLR) as the factor function of ``torch.optim.lr_scheduler.LambdaLR``
and match the trace of ``transferlib.schedules.slanted_triangular`` step for step.

The learner writes ``stlr_factor(step, total_steps, cut_frac=0.1, ratio=32)``, the number
``LambdaLR`` multiplies the base rate by at optimizer step ``step``. The checker runs it inside a
real ``LambdaLR`` for several schedules (one whose length is not a multiple of 1 / cut_frac, one
with other ``cut_frac`` and ``ratio``) and compares the rates with the library's, computed here,
never stored. It names the usual mistakes: a symmetric triangle, no ``1/ratio`` floor, the peak
at the wrong step, a ``p`` left unclamped (a negative rate at the end), hard-coded settings.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from transferlib.schedules import slanted_triangular
from transferlib.workbook.exercises._common import answerable, call, verdict

# (total_steps, cut_frac, ratio): the notebook's schedule, one whose decay would overshoot
# without the clamp (55 is no multiple of 10), and one with other settings.
CASES: tuple[tuple[int, float, float], ...] = ((200, 0.1, 32.0), (55, 0.1, 32.0),
                                              (1000, 0.2, 10.0))
BASE_LR = 0.01


def _trace(make_scheduler: Callable[[torch.optim.Optimizer], object], total: int) -> list[float]:
    """The learning rate before each of ``total`` optimizer steps under a scheduler."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=BASE_LR)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(total):
        rates.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    return rates


def library_trace(total: int, cut_frac: float = 0.1, ratio: float = 32.0) -> list[float]:
    """The rates of ``transferlib.schedules.slanted_triangular`` at base rate ``BASE_LR``."""
    return _trace(lambda opt: slanted_triangular(opt, total, cut_frac, ratio), total)


def learner_trace(fn: Callable, total: int, cut_frac: float = 0.1, ratio: float = 32.0
                  ) -> list[float]:
    """The rates of ``LambdaLR`` driven by the learner's factor function ``fn``."""
    def factor(step: int) -> float:
        return float(call(fn, step, total, cut_frac, ratio))

    return _trace(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, factor), total)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * BASE_LR + 1e-6 * abs(b)


def _diagnose(mine: list[float], truth: list[float], total: int, cut_frac: float,
              ratio: float) -> str | None:
    """The hint for the first mistake in ``mine``, or None when it equals ``truth``."""
    where = f"with total_steps={total}, cut_frac={cut_frac}, ratio={ratio:g}: "
    floor, peak = truth[0], truth.index(max(truth))
    if min(mine) < 0:
        return (where + f"your rate goes negative (step {mine.index(min(mine))}); p runs below 0 "
                "at the end when total_steps is no multiple of 1/cut_frac: clamp p to [0, 1]")
    if _same(mine[0], 0.0):
        return (where + "your schedule starts at 0: STLR has a floor, it runs from lr/ratio up "
                "to lr and back, factor = (1 + p·(ratio − 1)) / ratio, never p alone")
    if max(mine) > BASE_LR * (1 + 1e-6):
        return (where + "your factor exceeds 1: LambdaLR multiplies the base rate by it, so "
                "return a factor between 1/ratio and 1, not a learning rate")
    mine_peak = mine.index(max(mine))
    if mine_peak != peak:
        if abs(mine_peak - total // 2) <= 1:
            return (where + f"your triangle is symmetric (peak at step {mine_peak}): STLR rises "
                    f"only for cut = ⌊total_steps·cut_frac⌋ = {peak} steps, then decays slowly")
        return (where + f"your peak is at step {mine_peak}, the library's at step "
                f"cut = ⌊total_steps·cut_frac⌋ = {peak} (floor, counting steps from 0)")
    if not _same(mine[0], floor):
        return (where + f"the first step's rate should be lr/ratio = {floor:.6g}, yours "
                f"{mine[0]:.6g}")
    if min(mine) < floor * (1 - 1e-6):
        return (where + "your rate falls below lr/ratio at the end: the decay overshoots when "
                "total_steps is no multiple of 1/cut_frac; clamp p to [0, 1]")
    for step, (a, b) in enumerate(zip(mine, truth, strict=True)):
        if not _same(a, b):
            part = "warm-up (p = step / cut)" if step < peak else \
                "decay (p = 1 − (step − cut) / (cut·(1/cut_frac − 1)))"
            return (where + f"step {step} is in the {part}: the library's rate is {b:.6g}, yours "
                    f"{a:.6g}; use the cut_frac and ratio arguments, not fixed numbers")
    return None


@answerable
def check_stlr(fn: Callable) -> bool:
    """Notebook 07: ``fn(step, total_steps, cut_frac, ratio)`` is STLR's LambdaLR factor when
    ``LambdaLR`` driven by it reproduces ``schedules.slanted_triangular``'s rates exactly, for
    every schedule of ``CASES``."""
    if not callable(fn):
        return verdict(False, "", "give a function: def stlr_factor(step, total_steps, "
                       "cut_frac=0.1, ratio=32): ... return the factor")
    for total, cut_frac, ratio in CASES:
        hint = _diagnose(learner_trace(fn, total, cut_frac, ratio),
                         library_trace(total, cut_frac, ratio), total, cut_frac, ratio)
        if hint:
            if (cut_frac, ratio) != CASES[0][1:]:
                hint += (f" (it matched with cut_frac={CASES[0][1]}, ratio={CASES[0][2]:g}: does "
                         "it use its cut_frac and ratio arguments?)")
            return verdict(False, "", hint)
    total, cut_frac, ratio = CASES[0]
    truth = library_trace(total, cut_frac, ratio)
    return verdict(True, f"your LambdaLR gives the library's rates at every step of "
                   f"{len(CASES)} schedules: over {total} steps it rises from lr/{ratio:g} to lr "
                   f"by step {truth.index(max(truth))} and decays back over the rest.", "")
