"""One training loop for the language model and the classifier.

Taught in notebook 05. ``fit`` runs epochs of a *task* (``ClassificationTask`` or
``LanguageModelTask``: how a batch becomes a loss) with: device chosen by capability, optional
autocast (bf16 on CPU, fp16 + GradScaler on CUDA), gradient clipping, any
``torch.optim.lr_scheduler`` stepped per batch, a regularizer ``λ R(w)`` added to the loss, early
stopping on the validation metric (best weights restored), NaN/inf detection, tqdm progress bars,
and a per-epoch history as a pandas DataFrame.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .errors import TrainingError


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(prefer: str = "auto") -> torch.device:
    """``'auto'``: CUDA if available, else Apple MPS, else CPU. ``'cuda'``/``'mps'`` that are
    not available raise a clear error instead of silently falling back."""
    if prefer == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if prefer.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("CUDA was requested but is not available on this machine; "
                            "use --device cpu (or auto)")
    if prefer == "mps" and not (getattr(torch.backends, "mps", None)
                                and torch.backends.mps.is_available()):
        raise TrainingError("MPS was requested but is not available; use --device cpu (or auto)")
    if prefer != "cpu" and not prefer.startswith(("cuda", "mps")):
        raise ValueError(f"unknown device {prefer!r}; allowed: auto, cpu, cuda, cuda:N, mps")
    return torch.device(prefer)


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype this device supports: bf16 on CPU, fp16 on CUDA, None elsewhere."""
    if device.type == "cpu":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float16
    return None


def autocast(device: torch.device, enabled: bool):
    """``torch.autocast`` with the right dtype for ``device`` (a no-op when disabled)."""
    dtype = amp_dtype(device)
    return torch.autocast(device.type, dtype=dtype or torch.float32,
                          enabled=bool(enabled and dtype is not None))


class ClassificationTask:
    """Batches ``(ids, lengths, labels)`` → cross-entropy loss and accuracy."""

    monitor = "accuracy"  # larger is better

    def __init__(self, packed: bool = False):
        self.packed = packed

    def start_epoch(self, train: bool) -> None:
        pass

    def step(self, model: nn.Module, batch, device: torch.device):
        ids, lengths, labels = batch
        ids, labels = ids.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        logits = model(ids, lengths.to(device), packed=self.packed)
        loss = F.cross_entropy(logits.float(), labels)
        correct = (logits.argmax(dim=1) == labels).sum()
        return loss, labels.numel(), correct, int(lengths.sum())

    @staticmethod
    def metrics(loss_sum: float, n: int, correct: float) -> dict[str, float]:
        return {"loss": loss_sum / n, "accuracy": correct / n}


class LanguageModelTask:
    """Windows ``(inputs, targets)`` of a token stream → next-word loss; carries the LSTM state
    across windows (truncated BPTT) and detaches it so gradients stop at the window edge."""

    monitor = "perplexity"  # smaller is better

    def __init__(self):
        self.state = None

    def start_epoch(self, train: bool) -> None:
        self.state = None

    def step(self, model: nn.Module, batch, device: torch.device):
        inputs, targets = batch[0].to(device), batch[1].to(device)
        logits, state = model(inputs, self.state)
        self.state = [(h.detach(), c.detach()) for h, c in state]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))
        correct = (logits.argmax(dim=-1) == targets).sum()
        return loss, targets.numel(), correct, targets.numel()

    @staticmethod
    def metrics(loss_sum: float, n: int, correct: float) -> dict[str, float]:
        loss = loss_sum / n
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "accuracy": correct / n}


def _set_epoch(data: Iterable, epoch: int) -> None:
    for obj in (data, getattr(data, "batch_sampler", None), getattr(data, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, task, device: torch.device | None = None,
             amp: bool = False) -> dict[str, float]:
    """Average loss and metrics of ``model`` on ``data`` in eval mode (no dropout, no grads)."""
    device = device or next(model.parameters()).device
    model.eval()
    task.start_epoch(train=False)
    loss_sum, n, correct = 0.0, 0, 0.0
    for batch in data:
        with autocast(device, amp):
            loss, count, right, _ = task.step(model, batch, device)
        loss_sum += float(loss) * count
        n += count
        correct += float(right)
    if n == 0:
        raise ValueError("evaluate got no batches")
    return task.metrics(loss_sum, n, correct)


def _optimizer_step(optimizer, scaler, params, clip: float | None) -> float:
    """Unscale, clip (returning the gradient norm before clipping), step and zero the grads."""
    norm = float("nan")
    if clip:
        scaler.unscale_(optimizer)
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return norm


def fit(
    model: nn.Module,
    train_data: Iterable,
    valid_data: Iterable | None,
    task,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: torch.device | None = None,
    amp: bool = False,
    clip: float | None = 1.0,
    regularizer: Callable[[], torch.Tensor] | None = None,
    patience: int | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[int, pd.DataFrame], None] | None = None,
    progress: bool = True,
    max_steps_per_epoch: int | None = None,
    accumulate: int = 1,
) -> pd.DataFrame:
    """Train ``model`` for ``epochs`` and return the history, one row per epoch.

    ``regularizer`` is a callable with a ``lam`` attribute (see ``regularizers``); the loss
    minimised is ``L + lam * R(w)``. With ``patience``, training stops after that many epochs
    without a better validation metric and the best weights are restored. ``scheduler`` is
    stepped after every optimizer step. ``accumulate=k`` sums the gradients of k batches before
    each optimizer step (each batch's loss is divided by k): the same update as one k-times
    larger batch of equal-sized batches, with the memory of one.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if accumulate < 1:
        raise ValueError(f"accumulate must be >= 1, got {accumulate}")
    device = device or next(model.parameters()).device
    model.to(device)
    use_scaler = amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    higher_better = task.monitor == "accuracy"
    best, best_state, bad_epochs = None, None, 0
    rows: list[dict] = []
    for epoch in range(epochs):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        _set_epoch(train_data, epoch)
        model.train()
        task.start_epoch(train=True)
        trainable = [p for p in model.parameters() if p.requires_grad]
        loss_sum, n, correct, tokens, norms = 0.0, 0, 0.0, 0, []
        start = time.perf_counter()
        bar = tqdm(train_data, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not progress)
        optimizer.zero_grad(set_to_none=True)
        pending = 0
        for i, batch in enumerate(bar):
            if max_steps_per_epoch is not None and i >= max_steps_per_epoch:
                break
            with autocast(device, amp):
                loss, count, right, ntok = task.step(model, batch, device)
            total = loss if regularizer is None else loss + regularizer.lam * regularizer()
            if not torch.isfinite(total):
                lrs = ", ".join(f"{g['lr']:.2e}" for g in optimizer.param_groups)
                raise TrainingError(
                    f"loss became {float(total)} at epoch {epoch + 1}, step {i + 1} "
                    f"(learning rates: {lrs}); the learning rate is likely too high — lower it, "
                    "or keep gradient clipping on")
            scaler.scale(total / accumulate).backward()
            pending += 1
            if pending == accumulate:
                norms.append(_optimizer_step(optimizer, scaler, trainable, clip))
                pending = 0
                if scheduler is not None:
                    scheduler.step()
            loss_sum += float(loss.detach()) * count
            n += count
            correct += float(right)
            tokens += ntok
            bar.set_postfix(loss=f"{loss_sum / n:.3f}")
        if pending:  # a last, incomplete accumulation group still updates the weights
            norms.append(_optimizer_step(optimizer, scaler, trainable, clip))
            if scheduler is not None:
                scheduler.step()
        seconds = time.perf_counter() - start
        row = {"epoch": epoch + 1}
        row.update({f"train_{k}": v for k, v in task.metrics(loss_sum, max(n, 1), correct).items()})
        if valid_data is not None:
            row.update({f"valid_{k}": v for k, v in
                        evaluate(model, valid_data, task, device, amp).items()})
        row.update({"lr": optimizer.param_groups[-1]["lr"], "seconds": seconds,
                    "tokens_per_s": tokens / seconds if seconds > 0 else float("nan"),
                    "grad_norm": float(np.nanmedian(norms)) if norms else float("nan"),
                    "trainable_params": sum(p.numel() for p in trainable)})
        rows.append(row)
        history = pd.DataFrame(rows)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if valid_data is not None and patience is not None:
            value = row[f"valid_{task.monitor}"]
            improved = best is None or (value > best if higher_better else value < best)
            if improved:
                best, bad_epochs = value, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in
                                            model.state_dict().items()})
            else:
                bad_epochs += 1
                if bad_epochs >= patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    return pd.DataFrame(rows)
