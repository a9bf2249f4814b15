"""Parameter groups: freezing, gradual unfreezing, discriminative learning rates.

Taught in notebook 07. A model is split into groups from the bottom up —
``[embedding, lstm layer 0, ..., lstm layer L-1, head]`` — after fastai's parameter-group
splitters, so each fine-tuning trick is one call:

    freeze_to(model, -1)                          # feature extraction: only the head trains
    torch.optim.AdamW(discriminative_groups(model, lr=1e-3))   # lower layers get lr / 2.6**k

The learning-rate schedules that go with them are in ``schedules``.
"""

from __future__ import annotations

from torch import nn

from transferlib.errors import ArgumentError
from transferlib.model import Classifier, LanguageModel

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
