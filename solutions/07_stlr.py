"""Worked solution of notebook 07's exercise: ULMFiT's slanted triangular learning rate (STLR)
as the factor function of ``torch.optim.lr_scheduler.LambdaLR``.

Howard & Ruder (2018), eq. 3: with ``cut = ⌊T · cut_frac⌋``,
``p = t / cut`` during the warm-up and ``p = 1 − (t − cut) / (cut · (1/cut_frac − 1))`` after it,
and the rate is ``lr · (1 + p · (ratio − 1)) / ratio``. LambdaLR multiplies the base rate by a
factor, so the function returns ``(1 + p · (ratio − 1)) / ratio``. ``p`` is clamped to [0, 1]:
when T is no multiple of 1 / cut_frac the decay would otherwise overshoot into negative rates.
"""

import math

import torch

from transferlib.workbook.exercises.strategies import check_stlr


def stlr_factor(step, total_steps, cut_frac=0.1, ratio=32):
    cut = max(1, math.floor(total_steps * cut_frac))
    if step < cut:
        p = step / cut
    else:
        p = 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    p = min(max(p, 0.0), 1.0)
    return (1 + p * (ratio - 1)) / ratio


if __name__ == "__main__":
    # used as a scheduler, exactly as fine-tuning would use it
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: stlr_factor(s, 200))
    print("rate at step 0:", optimizer.param_groups[0]["lr"])
    check_stlr(stlr_factor)
