"""Layer groups: freezing, gradual unfreezing, discriminative learning rates, schedules.

Taught in notebook 06. A model is split into groups from the bottom up —
``[embedding, lstm layer 0, ..., lstm layer L-1, head]`` — after fastai's parameter-group
splitters, so each fine-tuning trick is one call:

    freeze_to(model, -1)                          # feature extraction: only the head trains
    torch.optim.AdamW(discriminative_groups(model, lr=1e-3))   # lower layers get lr / 2.6**k
    slanted_triangular(optimizer, total_steps)    # ULMFiT's learning-rate schedule
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import ArgumentError
from .model import Classifier, LanguageModel

ULMFIT_DECAY = 2.6


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameters by depth: embedding, each LSTM layer, then the head (or LM output bias)."""
    if not isinstance(model, Classifier | LanguageModel):
        raise TypeError(f"layer_groups expects a Classifier or LanguageModel, got {type(model)}")
    enc = model.encoder
    groups = [list(enc.embedding.parameters())]
    groups += [list(layer.parameters()) for layer in enc.layers]
    if isinstance(model, Classifier):
        groups.append(list(model.head.parameters()))
    else:
        top = [model.decoder_bias]
        if model.projection is not None:
            top += list(model.projection.parameters())
        groups.append(top)
    return groups


def freeze_to(model: nn.Module, n: int) -> None:
    """Freeze every group below index ``n`` and unfreeze the rest (``n=-1``: head only;
    ``n=0``: everything trains). Frozen parameters get ``requires_grad=False``."""
    groups = layer_groups(model)
    start = n % len(groups) if n < 0 else min(n, len(groups))
    for i, group in enumerate(groups):
        for p in group:
            p.requires_grad_(i >= start)


def unfreeze(model: nn.Module) -> None:
    """Make every parameter trainable again."""
    freeze_to(model, 0)


def discriminative_groups(
    model: nn.Module, lr: float, decay: float = ULMFIT_DECAY, weight_decay: float = 0.0
) -> list[dict]:
    """Optimizer parameter groups where the head gets ``lr`` and each group below it gets the
    rate of the one above divided by ``decay`` (2.6 in ULMFiT). ``decay=1`` gives one rate."""
    if lr <= 0:
        raise ArgumentError(f"learning rate must be > 0, got {lr}")
    if decay < 1:
        raise ArgumentError(f"decay must be >= 1 (1 = same rate everywhere), got {decay}")
    groups = layer_groups(model)
    top = len(groups) - 1
    return [
        {"params": g, "lr": lr / decay ** (top - i), "weight_decay": weight_decay,
         "name": f"group{i}"}
        for i, g in enumerate(groups)
    ]


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


def gradual_unfreezing(model: nn.Module, keep_embedding: bool = False):
    """An epoch-start callback for ``fit``: epoch 0 trains the head, each later epoch unfreezes
    one more group from the top (ULMFiT), until everything trains. ``keep_embedding=True``
    lets the embedding (group 0) train from the first epoch on."""
    groups = layer_groups(model)

    def on_epoch_start(epoch: int) -> None:
        freeze_to(model, max(0, len(groups) - 1 - epoch))
        if keep_embedding:
            for p in groups[0]:
                p.requires_grad_(True)

    return on_epoch_start
