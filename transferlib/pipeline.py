"""The end-to-end pipeline: pretrain the source LM, fine-tune a classifier (ULMFiT's stages).

Taught in notebooks 04-06; the CLI and the experiments call the same two functions. Sizes are
plain keyword arguments; ``fast=True`` (default: the ``TRANSFERLIB_FAST`` variable) shrinks the
data, model and epochs but runs the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from . import datasets
from .batching import LanguageModelStream, TextClassificationDataset, make_loader
from .checkpoint import load_model
from .config import fast_mode
from .errors import ArgumentError, DataError
from .layers import (
    discriminative_groups,
    freeze_to,
    gradual_unfreezing,
    one_cycle,
    slanted_triangular,
)
from .model import Classifier, LanguageModel, ModelConfig, count_parameters
from .regularizers import make_regularizer
from .strategies import Strategy
from .text import Vocab, tokenize
from .training import ClassificationTask, LanguageModelTask, evaluate, fit, pick_device, set_seed
from .transfer import TransferReport, build_target_vocab, transfer_encoder


@dataclass
class PretrainResult:
    model: LanguageModel
    vocab: Vocab
    history: pd.DataFrame
    metrics: dict


def pretrain_language_model(
    train_texts: list[str],
    valid_texts: list[str],
    vocab_size: int = 10000,
    emb_dim: int = 200,
    hidden_dim: int = 512,
    num_layers: int = 2,
    epochs: int = 4,
    batch_size: int = 64,
    bptt: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    amp: bool = True,
    device: str = "auto",
    max_tokens: int | None = None,
    progress: bool = True,
    on_epoch_end=None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> PretrainResult:
    """Stage (a): train an LSTM language model from scratch on a general corpus.

    AdamW with a one-cycle schedule, truncated BPTT with varying window length, gradient
    clipping at 0.25, tied input/output embeddings, bf16 autocast on CPU when ``amp``.
    """
    set_seed(seed)
    dev = pick_device(device)
    vocab = Vocab.build((tokenize(t) for t in train_texts), min_freq=2, max_size=vocab_size)
    train = LanguageModelStream(train_texts, vocab, batch_size, bptt, vary_bptt=True, seed=seed,
                                max_tokens=max_tokens)
    valid = LanguageModelStream(valid_texts, vocab, batch_size=16, bptt=bptt,
                                max_tokens=None if max_tokens is None else max_tokens // 5)
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=emb_dim, hidden_dim=hidden_dim,
                      num_layers=num_layers, emb_dropout=0.05, layer_dropout=0.15,
                      out_dropout=0.15)
    model = LanguageModel(cfg).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = 0
    for epoch in range(epochs):  # window lengths vary by epoch: count every epoch's steps
        train.set_epoch(epoch)
        steps += len(train)
    scheduler = one_cycle(optimizer, total_steps=steps)
    start = time.perf_counter()
    history = fit(model, train, valid, LanguageModelTask(), optimizer, epochs,
                  scheduler=scheduler, device=dev, amp=amp, clip=0.25, progress=progress,
                  on_epoch_end=on_epoch_end, checkpoint_dir=checkpoint_dir, resume=resume)
    metrics = {"valid_perplexity": float(history["valid_perplexity"].iloc[-1]),
               "train_tokens": train.n_tokens, "epochs": epochs,
               "seconds": time.perf_counter() - start, "device": str(dev),
               "parameters": count_parameters(model), "vocab_size": len(vocab),
               "batch_size": batch_size, "bptt": bptt, "lr": lr, "amp": amp}
    return PretrainResult(model, vocab, history, metrics)


def load_source_corpus(corpus: str, fast: bool, split: str = "train") -> list[str]:
    """Sentences of one split of the shipped source corpus ('brown', 'sotu' or 'both');
    fast mode keeps every 40th sentence."""
    sentences = datasets.load_source_sentences(corpus, split)
    return sentences[::40] if fast else sentences


@dataclass
class FinetuneResult:
    model: Classifier
    vocab: Vocab
    classes: list[str]
    history: pd.DataFrame
    metrics: dict
    lm_history: pd.DataFrame | None = None
    transfer: TransferReport | None = None
    extra: dict = field(default_factory=dict)


def _check_labels(classes: list[str], frame: pd.DataFrame, split: str) -> None:
    unknown = sorted(set(frame["label"]) - set(classes))
    if unknown:
        raise DataError(f"the {split} split has label(s) {unknown[:5]} that the training split "
                        f"lacks (classes: {classes})")


def classifier_from_source(
    pretrained: str | Path, unlabelled: list[str], n_classes: int
) -> tuple[Classifier, LanguageModel, Vocab, Vocab, TransferReport]:
    """Load the source LM from ``pretrained``, build the target vocabulary (source words +
    the frequent words of ``unlabelled``) and a classifier whose encoder is transferred from the
    source → ``(classifier, source_lm, source_vocab, target_vocab, report)``."""
    source, source_vocab, _ = load_model(pretrained)
    if not isinstance(source, LanguageModel):
        raise DataError(f"{pretrained} holds a classifier, not a language model")
    vocab = build_target_vocab(source_vocab, unlabelled, min_freq=2)
    cfg = ModelConfig(**{**source.cfg.to_dict(), "vocab_size": len(vocab),
                         "n_classes": n_classes, "emb_dropout": 0.1, "layer_dropout": 0.3,
                         "out_dropout": 0.4})
    model = Classifier(cfg)
    report = transfer_encoder(model, source, source_vocab, vocab)
    return model, source, source_vocab, vocab, report


def finetune_classifier(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame | None,
    strategy: Strategy,
    pretrained: str | None = None,
    lm_texts: list[str] | None = None,
    epochs: int = 6,
    lm_epochs: int = 2,
    lr: float = 2e-3,
    batch_size: int = 64,
    max_len: int = 96,
    seed: int = 0,
    amp: bool = True,
    device: str = "auto",
    patience: int | None = 2,
    small_model: dict | None = None,
    progress: bool = True,
    on_epoch_end=None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> FinetuneResult:
    """Stages (b) and (c): fine-tune a classifier on ``train`` (columns text, label).

    ``strategy`` chooses every lever (see ``strategies``); ``pretrained`` is a model folder
    (the shipped source LM by default in the CLI). ``lm_texts`` are extra unlabelled in-domain
    texts for the target-LM stage (never the test split). ``small_model`` sets the sizes of a
    from-scratch model when no pretrained folder is given.
    """
    set_seed(seed)
    dev = pick_device(device)
    stage_dir = {stage: None if checkpoint_dir is None else Path(checkpoint_dir) / stage
                 for stage in ("lm", "classifier")}  # training checkpoints of each stage
    for name, frame in (("train", train), ("valid", valid)):
        if len(frame) == 0:
            raise DataError(f"the {name} split is empty")
    classes = sorted(train["label"].unique())
    if len(classes) < 2:
        raise DataError(f"the training split has one class {classes}; need at least two")
    _check_labels(classes, valid, "valid")
    if test is not None:
        _check_labels(classes, test, "test")
    if strategy.pretrained and pretrained is None:
        raise ArgumentError("this strategy starts from a pretrained model: pass pretrained=DIR")
    report = lm_history = None
    if strategy.pretrained:
        unlabelled = list(train["text"]) + list(lm_texts or [])
        model, source, source_vocab, vocab, report = classifier_from_source(
            pretrained, unlabelled, len(classes))
        if strategy.target_lm:
            lm = LanguageModel(ModelConfig(**{**model.cfg.to_dict(), "n_classes": 0}))
            transfer_encoder(lm, source, source_vocab, vocab)
            lm_history = finetune_language_model(lm, vocab, unlabelled, list(valid["text"]),
                                                 epochs=lm_epochs, lr=lr / 2, seed=seed,
                                                 amp=amp, device=dev, progress=progress,
                                                 checkpoint_dir=stage_dir["lm"], resume=resume)
            model.encoder.load_state_dict(lm.encoder.state_dict())
    else:
        vocab = Vocab.build((tokenize(t) for t in train["text"]), min_freq=2)
        sizes = {"emb_dim": 200, "hidden_dim": 512, "num_layers": 2, **(small_model or {})}
        model = Classifier(ModelConfig(vocab_size=len(vocab), n_classes=len(classes),
                                       emb_dropout=0.1, layer_dropout=0.3, out_dropout=0.4,
                                       **sizes))
    model.to(dev)
    reg = make_regularizer(strategy.regularizer, model, strategy.lam)
    train_ds = TextClassificationDataset(train["text"], train["label"], vocab, classes, max_len)
    valid_ds = TextClassificationDataset(valid["text"], valid["label"], vocab, classes, max_len)
    train_dl = make_loader(train_ds, batch_size, shuffle=True, seed=seed)
    valid_dl = make_loader(valid_ds, 256, shuffle=False)
    if strategy.freeze_encoder:
        freeze_to(model, -1)
    groups = discriminative_groups(model, lr, decay=2.6 if strategy.discriminative else 1.0)
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    steps = epochs * len(train_dl)
    scheduler = {"constant": None, "stlr": lambda: slanted_triangular(optimizer, steps),
                 "one-cycle": lambda: one_cycle(optimizer, steps + epochs)}[strategy.schedule]
    scheduler = scheduler() if scheduler else None
    on_start = gradual_unfreezing(model) if strategy.gradual_unfreeze else None
    start = time.perf_counter()
    history = fit(model, train_dl, valid_dl, ClassificationTask(), optimizer, epochs,
                  scheduler=scheduler, device=dev, amp=amp, clip=1.0, regularizer=reg,
                  patience=patience, on_epoch_start=on_start, on_epoch_end=on_epoch_end,
                  progress=progress, checkpoint_dir=stage_dir["classifier"], resume=resume)
    seconds = time.perf_counter() - start
    freeze_to(model, 0)
    metrics = {"valid_accuracy": evaluate(model, valid_dl, ClassificationTask(), dev,
                                          amp)["accuracy"],
               "n_train": len(train), "n_valid": len(valid), "seconds": seconds,
               "seconds_per_epoch": float(history["seconds"].mean()),
               "epochs_run": len(history), "device": str(dev), "classes": classes,
               "trainable_params": int(history["trainable_params"].max()),
               "strategy": strategy.to_dict(), "seed": seed}
    if test is not None and len(test):
        test_ds = TextClassificationDataset(test["text"], test["label"], vocab, classes, max_len)
        test_dl = make_loader(test_ds, 256, shuffle=False)
        metrics.update(test_accuracy=evaluate(model, test_dl, ClassificationTask(), dev,
                                              amp)["accuracy"], n_test=len(test))
    return FinetuneResult(model, vocab, classes, history, metrics, lm_history, report)


def finetune_language_model(
    lm: LanguageModel, vocab: Vocab, texts: list[str], valid_texts: list[str], epochs: int,
    lr: float, seed: int, amp: bool, device: torch.device, progress: bool = True,
    batch_size: int = 32, bptt: int = 64, checkpoint_dir: Path | None = None,
    resume: bool = False,
) -> pd.DataFrame:
    """Stage (b): adapt the LM to the target domain's unlabelled text (discriminative rates +
    slanted triangular schedule, as in ULMFiT)."""
    train = LanguageModelStream(texts, vocab, batch_size, bptt, vary_bptt=True, seed=seed)
    valid = LanguageModelStream(valid_texts, vocab, min(batch_size, 8), bptt)
    optimizer = torch.optim.AdamW(discriminative_groups(lm, lr), weight_decay=0.01)
    scheduler = slanted_triangular(optimizer, epochs * len(train))
    return fit(lm, train, valid, LanguageModelTask(), optimizer, epochs, scheduler=scheduler,
               device=device, amp=amp, clip=0.25, progress=progress,
               checkpoint_dir=checkpoint_dir, resume=resume)


def default_sizes(fast: bool | None = None) -> dict:
    """Epochs and data caps for the full and the fast mode (used by CLI and notebooks)."""
    fast = fast_mode() if fast is None else fast
    if fast:
        return {"epochs": 1, "lm_epochs": 1, "max_train": 300, "max_eval": 200,
                "pretrain_epochs": 1, "pretrain": {"vocab_size": 2000, "emb_dim": 32,
                                                   "hidden_dim": 64, "num_layers": 2,
                                                   "batch_size": 16, "bptt": 32}}
    return {"epochs": 6, "lm_epochs": 2, "max_train": None, "max_eval": None,
            "pretrain_epochs": 4, "pretrain": {"vocab_size": 10000, "emb_dim": 200,
                                               "hidden_dim": 512, "num_layers": 2,
                                               "batch_size": 64, "bptt": 64}}
