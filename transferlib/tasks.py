"""Tasks: how one batch becomes a loss and a metric, for ``training.fit``.

Taught in notebooks 03 (the classifier's loss) and 05 (the language model's). ``fit`` knows
nothing about text: a *task* turns a batch into ``(loss, count, correct, tokens)`` and sums into
metrics; ``Task`` is the interface, ``ClassificationTask`` and ``LanguageModelTask`` the two
tasks of this course (``distill.SoftTargetTask`` and ``teacher.TeacherTask`` are two more).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from transferlib.chunked import DEFAULT_GRAD_CHUNKS, chunk_kwargs


class Task(Protocol):
    """What ``fit`` and ``evaluate`` need of a task."""

    monitor: str  # the metric early stopping watches (``training.METRIC_MODES`` says which way)

    def start_epoch(self, train: bool) -> None:
        """Called before each pass over the data (e.g. to reset a carried LSTM state)."""

    def step(self, model: nn.Module, batch, device: torch.device
             ) -> tuple[torch.Tensor, int, torch.Tensor | float, int]:
        """One batch → (mean loss, examples counted, correct predictions, tokens)."""

    def metrics(self, loss_sum: float, n: int, correct: float) -> dict[str, float]:
        """The epoch's sums → named metrics (one of them ``monitor``)."""


class ClassificationTask:
    """Batches ``(ids, lengths, labels)`` → cross-entropy loss and accuracy. ``chunk_len > 0``
    reads long texts in chunks of that many tokens (``chunked``, BPT3C), back-propagating
    through the last ``grad_chunks`` of them."""

    monitor = "accuracy"  # larger is better

    def __init__(self, packed: bool = False, chunk_len: int = 0,
                 grad_chunks: int = DEFAULT_GRAD_CHUNKS):
        self.packed = packed
        self.chunking = chunk_kwargs(chunk_len, grad_chunks)

    def start_epoch(self, train: bool) -> None:
        pass

    def step(self, model: nn.Module, batch, device: torch.device):
        ids, lengths, labels = batch
        ids, labels = ids.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        logits = model(ids, lengths.to(device), packed=self.packed, **self.chunking)
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
        core = getattr(model, "module", model)  # DistributedDataParallel wraps the model
        if hasattr(core, "output_targets"):  # a softmax over fewer words than the vocabulary
            targets = core.output_targets(targets)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))
        correct = (logits.argmax(dim=-1) == targets).sum()
        return loss, targets.numel(), correct, targets.numel()

    @staticmethod
    def metrics(loss_sum: float, n: int, correct: float) -> dict[str, float]:
        loss = loss_sum / n
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "accuracy": correct / n}
