"""Knowledge distillation into transferlib's LSTM classifier from a teacher's saved logits.

Taught in notebook 08. The teacher (``transferlib.teacher``) scores a transfer set once
(``augment.transfer_set``: the labelled reviews, augmented copies, unlabelled text); the student
then trains on ``alpha · T² · KL(teacher_T ‖ student_T) + (1 − alpha) · CE(label)`` (Hinton,
Vinyals & Dean 2015), where ``_T`` is a softmax at temperature ``T``, both terms are averaged
over the batch's B rows, and a row without a label adds nothing to the cross-entropy (so
every row weighs the same, whatever its batch holds). ``alpha = 0`` on the labelled reviews
alone is ordinary fine-tuning: the baseline the distilled student is compared with, trained by
the same code.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from transferlib.batching import (
    DEFAULT_MAX_LEN,
    BucketBatchSampler,
    TextClassificationDataset,
    collate_padded,
    eval_loader,
)
from transferlib.compression import distillation_loss
from transferlib.errors import ArgumentError, DataError
from transferlib.model import Classifier
from transferlib.pipeline import classifier_from_source, score_test_split
from transferlib.schedules import one_cycle
from transferlib.tasks import ClassificationTask
from transferlib.text import Vocab, numericalize
from transferlib.training import TrainConfig, evaluate, fit, set_seed


@dataclass(frozen=True)
class DistillConfig:
    """The student's recipe; ``alpha`` weighs the teacher's term, ``1 - alpha`` the labels'."""

    epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 64
    max_len: int = DEFAULT_MAX_LEN
    temperature: float = 2.0
    alpha: float = 0.5
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ArgumentError(f"DistillConfig.alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0:
            raise ArgumentError(f"DistillConfig.temperature must be > 0, got {self.temperature}")
        if self.epochs < 1 or self.batch_size < 1 or self.max_len < 1:
            raise ArgumentError("DistillConfig: epochs, batch_size and max_len must be >= 1")


class SoftTargetDataset(Dataset):
    """Texts as id tensors with a label index (-1: no label) and the teacher's logits."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], teacher_logits: torch.Tensor,
                 vocab: Vocab, max_len: int):
        if not len(texts) == len(labels) == len(teacher_logits):
            raise ArgumentError(f"{len(texts)} texts, {len(labels)} labels and "
                                f"{len(teacher_logits)} rows of teacher logits")
        self.ids = [torch.tensor(numericalize(t, vocab, max_len)) for t in texts]
        self.lengths = [len(x) for x in self.ids]
        empty = [i for i, n in enumerate(self.lengths) if n == 0]
        if empty:
            raise DataError(f"transfer-set row {empty[0]} has no tokens")
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.teacher = teacher_logits.float()
        self.pad_id = vocab.pad_id

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return self.ids[i], self.labels[i], self.teacher[i]


def collate_soft(batch, pad_id: int):
    """``(ids [B, T], lengths [B], labels [B], teacher_logits [B, C])``, right-padded."""
    ids, lengths, labels = collate_padded([(x, y) for x, y, _ in batch], pad_id)
    return ids, lengths, labels, torch.stack([t for _, _, t in batch])


def soft_target_loader(dataset: SoftTargetDataset, batch_size: int, seed: int) -> DataLoader:
    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=True, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler,
                      collate_fn=functools.partial(collate_soft, pad_id=dataset.pad_id))


class SoftTargetTask:
    """``fit``'s task for the student: 4-tuples from ``soft_target_loader`` → the mixed loss;
    3-tuples (validation batches) → cross-entropy. Its training accuracy counts agreement with
    the label, or with the teacher's class on rows without one."""

    monitor = "accuracy"
    metrics = staticmethod(ClassificationTask.metrics)

    def __init__(self, temperature: float, alpha: float):
        self.temperature, self.alpha = temperature, alpha
        self.plain = ClassificationTask()

    def start_epoch(self, train: bool) -> None:
        pass

    def step(self, model: nn.Module, batch, device: torch.device):
        if len(batch) == 3:
            return self.plain.step(model, batch, device)
        ids, lengths, labels, teacher = (t.to(device) for t in batch)
        logits = model(ids, lengths).float()
        labelled = labels >= 0
        soft = distillation_loss(logits, teacher, self.temperature)  # mean over the B rows
        hard = F.cross_entropy(logits[labelled], labels[labelled],
                               reduction="sum") / labels.numel()  # over B too: rows weigh alike
        loss = self.alpha * soft + (1 - self.alpha) * hard
        target = torch.where(labelled, labels, teacher.argmax(dim=1))
        return loss, labels.numel(), (logits.argmax(dim=1) == target).sum(), int(lengths.sum())


@dataclass
class StudentResult:
    model: Classifier
    vocab: Vocab
    classes: list[str]
    history: pd.DataFrame
    metrics: dict


def distill_student(transfer: pd.DataFrame, teacher_logits: torch.Tensor, valid: pd.DataFrame,
                    test: pd.DataFrame | None, cfg: DistillConfig, pretrained: str | Path,
                    vocab_texts: Sequence[str], device: torch.device | None = None
                    ) -> StudentResult:
    """Train a classifier transferred from ``pretrained`` on ``transfer`` (columns text and
    label, '' for none) with the teacher's logits (row i ↔ ``teacher_logits[i]``); the
    vocabulary comes from ``vocab_texts``. Keeps the epoch with the best valid accuracy."""
    device = device or torch.device("cpu")
    set_seed(cfg.seed)
    labels = transfer["label"].fillna("").astype(str)
    classes = sorted(set(labels) - {""})
    if len(classes) < 2:
        raise DataError(f"the transfer set's labelled rows have classes {classes}; need two")
    if teacher_logits.shape[1] != len(classes):
        raise DataError(f"teacher logits have {teacher_logits.shape[1]} classes, the labels "
                        f"{len(classes)}")
    model, _, _, vocab, report = classifier_from_source(pretrained, vocab_texts, len(classes))
    data = SoftTargetDataset(transfer["text"], [classes.index(y) if y else -1 for y in labels],
                             teacher_logits, vocab, cfg.max_len)
    train_dl = soft_target_loader(data, cfg.batch_size, cfg.seed)
    valid_dl = eval_loader(TextClassificationDataset(valid["text"], valid["label"], vocab,
                                                     classes, cfg.max_len))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    scheduler = one_cycle(optimizer, cfg.epochs * len(train_dl) + cfg.epochs)
    start = time.perf_counter()
    history = fit(model, train_dl, valid_dl, SoftTargetTask(cfg.temperature, cfg.alpha), optimizer,
                  TrainConfig(epochs=cfg.epochs, device=device, clip=1.0, patience=cfg.epochs,
                              progress=False),
                  scheduler=scheduler)
    metrics = {"seconds": time.perf_counter() - start, "epochs_run": len(history),
               "best_epoch": int(history["valid_accuracy"].idxmax()) + 1,
               "valid_accuracy": evaluate(model, valid_dl, ClassificationTask(),
                                          device)["accuracy"],
               "n_transfer": len(transfer), "n_labelled": int((labels != "").sum()),
               "parameters": sum(p.numel() for p in model.parameters()),
               "new_words": report.new, "config": asdict(cfg)}
    if test is not None:
        metrics.update(score_test_split(model, vocab, classes, test, cfg.max_len, device,
                                        amp=False))
    return StudentResult(model, vocab, classes, history, metrics)
