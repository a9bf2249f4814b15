"""One training loop for the language model and the classifier.

Taught in notebooks 03 and 06. ``fit`` runs epochs of a *task* (``tasks``: how a batch becomes
a loss) on any device (``devices``) with: optional autocast (bf16 on CPU, fp16 + GradScaler on
CUDA), gradient clipping, any
``torch.optim.lr_scheduler`` stepped per batch, a regularizer ``λ R(w)`` added to the loss, early
stopping on the validation metric (best weights restored), NaN/inf detection (loss and gradient
norm), out-of-memory errors that suggest a smaller batch, tqdm progress bars, a per-epoch history
as a pandas DataFrame, and per-epoch training checkpoints to resume an interrupted run exactly.
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from transferlib.chunked import chunk_kwargs
from transferlib.devices import autocast
from transferlib.errors import ArgumentError, TrainingError
from transferlib.regularizers import Regularizer
from transferlib.resume import TrainingState
from transferlib.tasks import Task


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


Mode = Literal["max", "min"]

# Which way each validation metric improves: ``TrainConfig(patience=...)`` keeps the epoch with the
# largest ("max") or smallest ("min") ``valid_<task.monitor>``. A task monitoring a metric that
# is not listed here needs ``TrainConfig(mode=...)``.
METRIC_MODES: dict[str, Mode] = {
    "accuracy": "max", "f1": "max", "macro_f1": "max", "auc": "max", "precision": "max",
    "recall": "max", "loss": "min", "perplexity": "min", "error": "min",
}


def monitor_mode(monitor: str, mode: Mode | None = None) -> Mode:
    """``mode`` if given, else ``METRIC_MODES[monitor]``; names the fix when neither is known
    (notebook 06: early stopping)."""
    if mode is None:
        if monitor not in METRIC_MODES:
            raise ArgumentError(f"fit cannot tell whether a higher or lower {monitor!r} is "
                                f"better: pass mode='max' or mode='min' (known: "
                                f"{', '.join(f'{k}={v}' for k, v in METRIC_MODES.items())})")
        mode = METRIC_MODES[monitor]
    if mode not in ("max", "min"):
        raise ArgumentError(f"mode must be 'max' or 'min', got {mode!r}")
    return mode


def _set_epoch(data: Iterable, epoch: int) -> None:
    for obj in (data, getattr(data, "batch_sampler", None), getattr(data, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


def _batch_count(data: Iterable) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def _out_of_memory(where: str, batch, device: torch.device) -> TrainingError:
    """The error for a batch that did not fit in memory, suggesting a smaller batch."""
    first = batch[0] if isinstance(batch, tuple | list) and batch else batch
    shape = list(first.shape) if isinstance(first, torch.Tensor) else "?"
    half = f" (e.g. {max(1, first.shape[0] // 2)})" if isinstance(first, torch.Tensor) and \
        first.dim() else ""
    return TrainingError(f"out of memory on {device} at {where} (batch shape {shape}); use a "
                         f"smaller --batch-size{half}, shorter texts/windows (max_len, --bptt) "
                         "or --device cpu")


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, task: Task, device: torch.device | None = None,
             amp: bool = False) -> dict[str, float]:
    """Average loss and metrics of ``model`` on ``data`` in eval mode (no dropout, no grads)."""
    device = device or next(model.parameters()).device
    model.eval()
    task.start_epoch(train=False)
    loss_sum, n, correct = 0.0, 0, 0.0
    for i, batch in enumerate(data):
        try:
            with autocast(device, amp):
                loss, count, right, _ = task.step(model, batch, device)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if _is_out_of_memory(exc):
                raise _out_of_memory(f"evaluation batch {i + 1}", batch, device) from exc
            raise
        loss_sum += float(loss) * count
        n += count
        correct += float(right)
    if n == 0:
        raise ArgumentError("evaluate got no batches")
    return task.metrics(loss_sum, n, correct)


@torch.no_grad()
def predictions(model: nn.Module, data: Iterable, device: torch.device | None = None,
                amp: bool = False, chunk_len: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted class, true label)`` of every example of a classification loader, in the
    loader's order (a bucketing loader reorders the examples by length); ``chunk_len > 0``
    reads long texts in chunks (``chunked``)."""
    device = device or next(model.parameters()).device
    model.eval()
    preds, truth = [], []
    for ids, lengths, labels in data:
        with autocast(device, amp):
            logits = model(ids.to(device), lengths.to(device), **chunk_kwargs(chunk_len))
            preds.append(logits.argmax(dim=-1).cpu())
        truth.append(labels.cpu())
    if not preds:
        raise ArgumentError("predictions got no batches")
    return torch.cat(preds), torch.cat(truth)


def _rates(optimizer: torch.optim.Optimizer) -> str:
    return ", ".join(f"{g['lr']:.2e}" for g in optimizer.param_groups)


def _optimizer_step(optimizer, scaler, params, clip: float | None, where: str) -> float:
    """Unscale, clip, step and zero the grads; returns the gradient norm before clipping.

    A non-finite norm without a GradScaler (which skips such steps by design) raises a
    ``TrainingError`` *before* the step, so the weights stay finite.
    """
    scaler.unscale_(optimizer)
    if clip:
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
    else:
        grads = [p.grad for p in params if p.grad is not None]
        norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
    if not math.isfinite(norm) and not scaler.is_enabled():
        raise TrainingError(f"gradient norm became {norm} at {where} (learning rates: "
                            f"{_rates(optimizer)}) although the loss was finite; lower the "
                            "learning rate or keep gradient clipping on")
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return norm


@dataclass(frozen=True)
class TrainConfig:
    """How ``fit`` trains (notebooks 03 and 06), nanoGPT's config style: one frozen object,
    every default here. ``device`` None trains where the model's weights are."""

    epochs: int = 1
    device: torch.device | str | None = None
    amp: bool = False  # autocast: bf16 on CPU, fp16 + GradScaler on CUDA
    clip: float | None = 1.0  # gradient-norm clipping (None: off)
    accumulate: int = 1  # batches whose gradients add up to one optimizer step
    patience: int | None = None  # early stopping after this many epochs without progress
    mode: Mode | None = None  # is a larger monitored metric better? (None: METRIC_MODES)
    max_steps_per_epoch: int | None = None
    progress: bool = True  # tqdm bars
    checkpoint_dir: str | Path | None = None  # save the full training state every epoch
    resume: bool = False  # continue from checkpoint_dir's last epoch

    def __post_init__(self):
        at_least_one = {"epochs": (self.epochs, ""), "accumulate": (self.accumulate, ""),
                        "patience": (self.patience, " (or None: no early stopping)"),
                        "max_steps_per_epoch": (self.max_steps_per_epoch, " (or None)")}
        for name, (value, otherwise) in at_least_one.items():
            if value is not None and value < 1:
                raise ArgumentError(f"{name} must be >= 1{otherwise}, got {value}")
        if self.clip is not None and self.clip <= 0:
            raise ArgumentError(f"clip must be > 0 (or None: no clipping), got {self.clip}")
        if self.resume and self.checkpoint_dir is None:
            raise ArgumentError("resume=True needs checkpoint_dir (where the checkpoints are)")


@dataclass
class _Steps:
    """What one epoch's training steps add up to: the task's sums, tokens, gradient norms."""

    loss_sum: float = 0.0
    n: int = 0
    correct: float = 0.0
    tokens: int = 0
    norms: list[float] = field(default_factory=list)


@dataclass
class _Loop:
    """Everything a training step needs that stays the same for the whole run."""

    model: nn.Module
    task: Task
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: bool
    clip: float | None
    regularizer: Regularizer | None
    accumulate: int
    saved: str = ""  # names the last good checkpoint in error messages, once there is one


def _backward(loop: _Loop, batch, where: str) -> tuple[torch.Tensor, int, float, int]:
    """Forward, ``L + lam * R(w)``, the finite check and ``backward`` of one batch."""
    try:
        with autocast(loop.device, loop.amp):
            loss, count, right, ntok = loop.task.step(loop.model, batch, loop.device)
        regularizer = loop.regularizer
        total = loss if regularizer is None else loss + regularizer.lam * regularizer()
        if not torch.isfinite(total):
            raise TrainingError(
                f"loss became {float(total.detach())} at {where} (learning rates: "
                f"{_rates(loop.optimizer)}); the learning rate is likely too high — lower it, "
                f"or keep gradient clipping on.{loop.saved}")
        loop.scaler.scale(total / loop.accumulate).backward()
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if _is_out_of_memory(exc):
            raise _out_of_memory(where, batch, loop.device) from exc
        raise
    return loss, count, right, ntok


def _step(loop: _Loop, trainable: list[nn.Parameter], where: str) -> float:
    """One optimizer step (clipped, scaled) and one scheduler step → the gradient norm."""
    norm = _optimizer_step(loop.optimizer, loop.scaler, trainable, loop.clip, where)
    if loop.scheduler is not None:
        loop.scheduler.step()
    return norm


def _train_epoch(loop: _Loop, train_data: Iterable, epoch: int, epochs: int,
                 max_steps: int | None, progress: bool) -> tuple[_Steps, list[nn.Parameter]]:
    """One pass over ``train_data``: an optimizer step every ``accumulate`` batches, and one
    for a last incomplete group → the epoch's sums and the parameters that trained."""
    loop.model.train()
    loop.task.start_epoch(train=True)
    trainable = [p for p in loop.model.parameters() if p.requires_grad]
    sums = _Steps()
    # a bar fed by hand: tqdm.auto(iterable) calls iter() on construction, which would start
    # a second DataLoader iterator per epoch (workers, and one more global RNG draw)
    bar = tqdm(total=_batch_count(train_data), desc=f"epoch {epoch + 1}/{epochs}",
               leave=False, disable=not progress)
    loop.optimizer.zero_grad(set_to_none=True)
    pending = 0
    for i, batch in enumerate(train_data):
        if max_steps is not None and i >= max_steps:
            break
        where = f"epoch {epoch + 1}, step {i + 1}"
        loss, count, right, ntok = _backward(loop, batch, where)
        pending += 1
        if pending == loop.accumulate:
            sums.norms.append(_step(loop, trainable, where))
            pending = 0
        sums.loss_sum += float(loss.detach()) * count
        sums.n += count
        sums.correct += float(right)
        sums.tokens += ntok
        bar.update(1)
        bar.set_postfix(loss=f"{sums.loss_sum / sums.n:.3f}")
    bar.close()
    if pending:  # a last, incomplete accumulation group still updates the weights
        sums.norms.append(_step(loop, trainable, f"epoch {epoch + 1}, last step"))
    return sums, trainable


def _epoch_row(loop: _Loop, epoch: int, sums: _Steps, trainable: list[nn.Parameter],
               seconds: float, valid_data: Iterable | None) -> dict:
    """The history row of one epoch: train and valid metrics, rate, speed, gradient norm."""
    task = loop.task
    row = {"epoch": epoch + 1}
    row.update({f"train_{k}": v for k, v in
                task.metrics(sums.loss_sum, max(sums.n, 1), sums.correct).items()})
    if valid_data is not None:
        row.update({f"valid_{k}": v for k, v in
                    evaluate(loop.model, valid_data, task, loop.device, loop.amp).items()})
    row.update({"lr": loop.optimizer.param_groups[-1]["lr"], "seconds": seconds,
                "tokens_per_s": sums.tokens / seconds if seconds > 0 else float("nan"),
                "grad_norm": float(np.nanmedian(sums.norms)) if sums.norms else float("nan"),
                "trainable_params": sum(p.numel() for p in trainable)})
    return row


def _early_stopping(run: TrainingState, value: float, higher_better: bool, patience: int,
                    model: nn.Module) -> None:
    """Keep the best epoch's weights; stop after ``patience`` epochs without a better value."""
    if run.best is None or (value > run.best if higher_better else value < run.best):
        run.best, run.bad_epochs = value, 0
        run.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in
                                        model.state_dict().items()})
    else:
        run.bad_epochs += 1
        run.stopped = run.bad_epochs >= patience


def _resume(run: TrainingState, loop: _Loop, checkpoint_dir: Path | None, train_data: Iterable,
            epochs: int) -> None:
    """Restore the last saved epoch from ``checkpoint_dir``, or warn that there is none."""
    if run.restore(checkpoint_dir, loop.model, loop.optimizer, loop.scheduler, loop.scaler,
                   train_data, epochs):
        print(f"resuming from {checkpoint_dir} after epoch {run.epoch} of {epochs}",
              file=sys.stderr, flush=True)
        loop.saved = f" The last good checkpoint (epoch {run.epoch}) is in {checkpoint_dir}."
    else:
        warnings.warn(f"resume: no checkpoint in {checkpoint_dir} yet; starting at epoch 1",
                      RuntimeWarning, stacklevel=3)


def fit(
    model: nn.Module,
    train_data: Iterable,
    valid_data: Iterable | None,
    task: Task,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    regularizer: Regularizer | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[int, pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Train ``model`` for ``cfg.epochs`` and return the history, one row per epoch.

    Each epoch: ``on_epoch_start``, one pass of optimizer steps (``_train_epoch``), the
    history row with the valid metrics (``_epoch_row``), early stopping, the checkpoint,
    ``on_epoch_end``. ``regularizer`` has a ``lam`` attribute (see ``regularizers``): the loss
    minimised is ``L + lam * R(w)``. With ``cfg.patience``, training stops after that many
    epochs without a better ``valid_<task.monitor>`` and the best epoch's weights are restored;
    better is larger for ``mode="max"``, smaller for ``"min"`` (default ``METRIC_MODES``).
    ``scheduler`` is stepped after every optimizer step. ``cfg.accumulate=k`` sums the
    gradients of k batches (each loss divided by k) before each optimizer step: one k-times
    larger batch.

    With ``cfg.checkpoint_dir``, the full training state (weights, optimizer, scheduler,
    GradScaler, RNG states, early stopping, history) is saved after every epoch, before
    ``on_epoch_end``; ``cfg.resume`` continues from the last saved epoch and ends as the
    uninterrupted run would. A NaN/inf loss or gradient norm raises ``TrainingError`` naming
    the epoch, step and learning rates, leaving the last good checkpoint in place.
    """
    if not isinstance(cfg, TrainConfig):
        raise ArgumentError(f"fit takes a TrainConfig (e.g. TrainConfig(epochs=3)), got {cfg!r}")
    epochs, patience, checkpoint_dir = cfg.epochs, cfg.patience, cfg.checkpoint_dir
    device = torch.device(cfg.device) if cfg.device is not None \
        else next(model.parameters()).device
    model.to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    loop = _Loop(model, task, optimizer, scheduler, scaler, device, cfg.amp, cfg.clip,
                 regularizer, cfg.accumulate)
    stopping = patience is not None and valid_data is not None
    higher_better = stopping and monitor_mode(task.monitor, cfg.mode) == "max"
    run = TrainingState()
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if cfg.resume:
        _resume(run, loop, checkpoint_dir, train_data, epochs)
    for epoch in range(run.epoch, epochs):
        if run.stopped:
            break
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        _set_epoch(train_data, epoch)
        start = time.perf_counter()
        sums, trainable = _train_epoch(loop, train_data, epoch, epochs,
                                       cfg.max_steps_per_epoch, cfg.progress)
        row = _epoch_row(loop, epoch, sums, trainable, time.perf_counter() - start, valid_data)
        run.rows.append(row)
        run.epoch = epoch + 1
        if stopping:
            _early_stopping(run, row[f"valid_{task.monitor}"], higher_better, patience, model)
        if checkpoint_dir is not None:
            run.save(checkpoint_dir, model, optimizer, scheduler, scaler, train_data, epochs)
            loop.saved = f" The last good checkpoint (epoch {run.epoch}) is in {checkpoint_dir}."
        if on_epoch_end is not None:
            on_epoch_end(epoch, pd.DataFrame(run.rows))
    if run.best_state is not None:
        model.load_state_dict(run.best_state)
    return pd.DataFrame(run.rows)
