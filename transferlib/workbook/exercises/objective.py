"""Checker of notebook 04 (the regularized objective): ``l2sp_penalty(model, w0, beta)``, the
L2-SP term R(w) = Σ_pretrained ‖w − w₀‖² + β Σ_new ‖w‖², compared with
``transferlib.regularizers.L2SP`` on a small classifier whose weights have moved from w₀."""

from __future__ import annotations

from collections.abc import Callable

import torch

from transferlib.model import Classifier, ModelConfig
from transferlib.regularizers import L2SP
from transferlib.workbook.exercises._common import answerable, call, close, verdict


def _is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("bias")


def _moved_model(seed: int) -> tuple[Classifier, dict[str, torch.Tensor], dict[float, float]]:
    """A small classifier, its anchors w₀ (the encoder's weight matrices, as the notebook builds
    them), and L2SP's value for β = 0.1 and 0.5 after every weight (biases and head too) moved."""
    torch.manual_seed(seed)
    model = Classifier(ModelConfig(vocab_size=12, emb_dim=4, hidden_dim=5, num_layers=2,
                                   n_classes=2, head_hidden=3))
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()
          if n.startswith("encoder.") and not _is_bias(n)}
    regs = {beta: L2SP(model, lam=1.0, beta=beta) for beta in (0.1, 0.5)}
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model, w0, {beta: float(reg().detach()) for beta, reg in regs.items()}


@torch.no_grad()
def _wrong_answers(model: Classifier, w0: dict[str, torch.Tensor], beta: float) -> dict[str, float]:
    """The values of the common wrong answers, each with the hint that names it."""
    named = dict(model.named_parameters())
    head = sum(float((p ** 2).sum()) for n, p in named.items() if n not in w0 and not _is_bias(n))
    diff = {n: (named[n] - w0[n]).detach() for n in w0}
    drift = sum(float((d ** 2).sum()) for d in diff.values())
    return {
        "that is plain L2 around 0 (Σ‖w‖²): L2-SP measures the distance to w₀, w − w0[name]":
            sum(float((named[n] ** 2).sum()) for n in w0) + beta * head,
        "the square is missing: sum the *squared* differences (w − w₀)²":
            sum(float(d.abs().sum()) for d in diff.values()) + beta * head,
        "no square root: R is the squared distance ‖w − w₀‖², not ‖w − w₀‖":
            drift ** 0.5 + beta * head,
        "your penalty reads only w₀, so it is a constant that no training step can change: "
        "subtract w₀ from the model's current weights":
            sum(float((t ** 2).sum()) for t in w0.values()) + beta * head,
        "the head term is missing: add beta × Σ‖w‖² over the weight matrices that are not in w0":
            drift,
        "beta multiplies the head term only, not the distance to w₀": beta * (drift + head),
        "sum over all entries (.sum()), not the mean":
            sum(float((d ** 2).mean()) for d in diff.values())
            + beta * sum(float((p ** 2).mean()) for n, p in named.items()
                         if n not in w0 and not _is_bias(n)),
    }


@answerable
def check_l2sp_penalty(fn: Callable) -> bool:
    """Notebook 04: ``fn(model, w0, beta)`` must return R(w) = Σ_{n in w0} ‖w_n − w0[n]‖² + β ·
    Σ ‖w‖² over the model's other weight matrices (biases excluded), as a tensor that
    back-propagates. Compared with ``regularizers.L2SP`` at β = 0.1 and 0.5; plain L2, a missing
    square, a square root, a penalty over w₀ only, a missing head term and a mean are named."""
    if not callable(fn):
        return verdict(False, "", "define a function: def l2sp_penalty(model, w0, beta=0.1): ...")
    for seed in (0, 1):
        model, w0, expected = _moved_model(seed)
        for beta, want in expected.items():
            got = call(fn, model, {n: t.clone() for n, t in w0.items()}, beta)
            if not isinstance(got, torch.Tensor) or got.numel() != 1:
                return verdict(False, "", "return one number as a tensor (a sum of tensors), "
                               f"got {type(got).__name__}")
            value = float(got.detach())
            if close(value, want):
                if not got.requires_grad:
                    return verdict(False, "", "right value, but it carries no gradient: do not "
                                   "call .item(), float() or .detach(), or the loop's backward() "
                                   "cannot pull the weights toward w₀")
                continue
            hint = next((h for h, v in _wrong_answers(model, w0, beta).items()
                         if close(value, v)), None)
            return verdict(False, "", hint or f"with beta = {beta} expected {want:.4f}, got "
                           f"{value:.4f}: check each of the two sums, and which weights each one "
                           "covers, against the formula above the cell")
    return verdict(True, "your penalty equals transferlib.regularizers.L2SP for both β: zero at "
                   "w₀, growing with the square of the distance, and differentiable, so the loop "
                   "can use it.", "")
