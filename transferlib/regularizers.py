"""Regularizers R(w) for the objective  min_w 1/n Σ L(y_i, f(x_i; w)) + λ R(w).

Taught in notebook 04. ``L2`` pulls every weight toward zero; ``L2SP`` (Li, Grandvalet & Davoine
2018, "Explicit inductive bias for transfer learning") pulls the pretrained part toward its
starting point w₀ and applies plain L2 only to the new head. Both are callables returning R(w);
the training loop adds ``lam * R(w)`` to the loss.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from transferlib.errors import ArgumentError


class Regularizer(Protocol):
    """What ``training.fit`` adds to the loss: ``lam * R(w)``, with ``R`` computed on call."""

    lam: float

    def __call__(self) -> torch.Tensor:
        """``R(w)`` of the model's current weights (a 0-dimensional tensor in its graph)."""


def _is_bias(name: str) -> bool:
    """``head.1.bias`` and the LSTM's ``bias_ih_l0``/``bias_hh_l0`` are biases."""
    return name.rsplit(".", 1)[-1].startswith("bias")


def _check_lambda(lam: float) -> float:
    if lam < 0:
        raise ArgumentError(f"λ (lam) must be >= 0, got {lam}")
    return float(lam)


class L2:
    """R(w) = Σ ‖w‖² over the trainable weight matrices (biases excluded)."""

    def __init__(self, model: nn.Module, lam: float):
        self.lam = _check_lambda(lam)
        self.params = [p for n, p in model.named_parameters() if not _is_bias(n)]

    def __call__(self) -> torch.Tensor:
        return sum((p.float() ** 2).sum() for p in self.params if p.requires_grad)


class L2SP:
    """R(w) = Σ_pretrained ‖w − w₀‖² + β Σ_new ‖w‖².

    ``w₀`` is a frozen copy of the encoder taken when the regularizer is built (so build it right
    after loading the pretrained weights). ``beta`` weights the plain L2 on the head.
    """

    def __init__(self, model: nn.Module, lam: float, beta: float = 0.1, prefix: str = "encoder."):
        self.lam = _check_lambda(lam)
        self.beta = float(beta)
        named = [(n, p) for n, p in model.named_parameters() if not _is_bias(n)]
        self.anchored = [(p, p.detach().clone()) for n, p in named if n.startswith(prefix)]
        self.free = [p for n, p in named if not n.startswith(prefix)]

    def __call__(self) -> torch.Tensor:
        drift = sum(((p.float() - p0.float()) ** 2).sum()
                    for p, p0 in self.anchored if p.requires_grad)
        head = sum((p.float() ** 2).sum() for p in self.free if p.requires_grad)
        return drift + self.beta * head


def weight_drift(model: nn.Module, reference: dict[str, torch.Tensor],
                 prefix: str = "encoder.") -> float:
    """‖w − w₀‖ over the parameters under ``prefix``: how far fine-tuning moved the encoder."""
    total = 0.0
    for n, p in model.named_parameters():
        if n.startswith(prefix) and n in reference:
            total += float(((p.detach().float() - reference[n].float()) ** 2).sum())
    return total ** 0.5


def make_regularizer(kind: str, model: nn.Module, lam: float) -> L2 | L2SP | None:
    """``kind`` in {'none', 'l2', 'l2sp'}; returns the regularizer (or None for 'none')."""
    if kind == "none":
        return None
    if kind == "l2":
        return L2(model, lam)
    if kind == "l2sp":
        return L2SP(model, lam)
    raise ArgumentError(f"unknown regularizer {kind!r}; allowed: 'none', 'l2', 'l2sp'")
