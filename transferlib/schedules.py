"""Learning-rate schedules, per optimizer step (taught in notebook 07).

    scheduler = make_scheduler("stlr", optimizer, total_steps)   # ULMFiT's slanted triangle
    ...; optimizer.step(); scheduler.step()                     # after every batch

``make_scheduler`` is the one place a schedule's name (``strategies.SCHEDULES``) becomes a
``torch.optim.lr_scheduler`` object; ``fit`` steps it after every optimizer step.
"""

from __future__ import annotations

import math

import torch

from transferlib.errors import ArgumentError


def slanted_triangular(
    optimizer: torch.optim.Optimizer, total_steps: int, cut_frac: float = 0.1, ratio: float = 32
) -> torch.optim.lr_scheduler.LambdaLR:
    """ULMFiT's slanted triangular learning rate (Howard & Ruder 2018, eq. 3), per step.

    The rate rises linearly for the first ``cut_frac`` of the steps from ``lr/ratio`` to ``lr``,
    then falls linearly back to ``lr/ratio``. Call ``scheduler.step()`` after every batch.
    """
    if total_steps < 1:
        raise ArgumentError(f"total_steps must be >= 1, got {total_steps}")
    cut = max(1, math.floor(total_steps * cut_frac))

    def factor(step: int) -> float:
        if step < cut:
            p = step / cut
        else:
            p = 1 - (step - cut) / max(1, cut * (1 / cut_frac - 1))
        p = min(max(p, 0.0), 1.0)
        return (1 + p * (ratio - 1)) / ratio

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def one_cycle(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.OneCycleLR:
    """PyTorch's one-cycle schedule with each group's current rate as its peak."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total_steps,
        pct_start=0.25, cycle_momentum=False)


def make_scheduler(kind: str, optimizer: torch.optim.Optimizer, total_steps: int,
                   spare_steps: int = 1) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The schedule ``kind`` ('constant' → None, 'stlr', 'one-cycle') over ``total_steps``.

    ``spare_steps`` matters for 'one-cycle' only: ``OneCycleLR`` raises when stepped past its
    end, so it gets that many steps of slack (``finetune_classifier`` gives one per epoch)."""
    if kind == "constant":
        return None
    if kind == "stlr":
        return slanted_triangular(optimizer, total_steps)
    if kind == "one-cycle":
        return one_cycle(optimizer, total_steps + spare_steps)
    raise ArgumentError(f"unknown schedule {kind!r}; allowed: constant, stlr, one-cycle")
