"""Stage (a) of ULMFiT: pretrain the source language model on a general corpus.

Taught in notebook 05. ``PretrainConfig`` holds every size and rate in one place (its defaults
are the shipped source model's recipe); ``python -m transferlib pretrain`` builds one from its
flags and records it in the model's metrics.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from transferlib import datasets
from transferlib.batching import LanguageModelStream
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError
from transferlib.model import LanguageModel, ModelConfig, count_parameters
from transferlib.schedules import one_cycle
from transferlib.tasks import LanguageModelTask
from transferlib.text import Vocab, tokenize
from transferlib.training import TrainConfig, fit, set_seed
from transferlib.transfer import embedding_from_vectors, vocab_from_vectors
from transferlib.vectors import WordVectors


@dataclass(frozen=True)
class PretrainConfig:
    """Sizes and rates of stage (a); the defaults train ``data/source_model``."""

    vocab_size: int = 40000
    emb_dim: int = 50  # the GloVe vectors' width when they are given
    hidden_dim: int = 384
    num_layers: int = 2
    out_dim: int = 128  # width of the last LSTM layer, projected to the tied softmax (0: emb_dim)
    output_vocab_size: int = 10000  # the softmax covers the N most frequent words (0: all)
    epochs: int = 3
    batch_size: int = 64
    bptt: int = 64
    lr: float = 3e-3
    max_tokens: int | None = None  # train on the first N tokens only
    embedding_lr_factor: float = 0.0  # with vectors: 0 keeps them frozen, f > 0 trains at f·lr
    seed: int = 0
    amp: bool = True
    device: str = "auto"

    def __post_init__(self):
        if self.embedding_lr_factor < 0:
            raise ArgumentError(
                f"embedding_lr_factor must be >= 0, got {self.embedding_lr_factor}")


@dataclass
class PretrainResult:
    model: LanguageModel
    vocab: Vocab
    history: pd.DataFrame
    metrics: dict


def pretrain_language_model(
    train_texts: list[str],
    valid_texts: list[str],
    cfg: PretrainConfig | None = None,
    *,
    vectors: WordVectors | None = None,
    progress: bool = True,
    on_epoch_end=None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> PretrainResult:
    """Stage (a): train an LSTM language model on a general corpus.

    AdamW with a one-cycle schedule, truncated BPTT with varying window length, gradient
    clipping at 0.25, tied input/output embeddings, bf16 autocast on CPU when ``amp``.
    With ``vectors`` (source model v2) the vocabulary is the corpus words that have a pretrained
    vector, the embedding starts from those vectors and stays **frozen**, so that every GloVe word
    the corpus never shows keeps a vector the LSTM can read (vocabulary transfer gives it later);
    ``cfg.emb_dim`` is then the vectors' width. ``cfg.embedding_lr_factor > 0`` lets the
    vectors move instead, at that fraction of the learning rate and without weight decay.
    ``cfg`` defaults to ``PretrainConfig()``, the shipped source model's recipe.
    """
    cfg = cfg or PretrainConfig()
    set_seed(cfg.seed)
    dev = pick_device(cfg.device)
    if vectors is None:
        vocab = Vocab.build((tokenize(t) for t in train_texts), min_freq=2,
                            max_size=cfg.vocab_size)
    else:  # the corpus words seen twice that have a vector
        vocab = vocab_from_vectors(train_texts, vectors, min_freq=2, max_size=cfg.vocab_size)
    train = LanguageModelStream(train_texts, vocab, cfg.batch_size, cfg.bptt, vary_bptt=True,
                                seed=cfg.seed, max_tokens=cfg.max_tokens)
    valid = LanguageModelStream(valid_texts, vocab, batch_size=16, bptt=cfg.bptt,
                                max_tokens=None if cfg.max_tokens is None else cfg.max_tokens // 5)
    model, origins = _source_model(vocab, cfg, vectors)
    model.to(dev)
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg.lr, cfg.embedding_lr_factor),
                                  lr=cfg.lr, weight_decay=0.01)
    steps = 0
    for epoch in range(cfg.epochs):  # window lengths vary by epoch: count every epoch's steps
        train.set_epoch(epoch)
        steps += len(train)
    scheduler = one_cycle(optimizer, total_steps=steps)
    start = time.perf_counter()
    history = fit(model, train, valid, LanguageModelTask(), optimizer,
                  TrainConfig(epochs=cfg.epochs, device=dev, amp=cfg.amp, clip=0.25,
                              progress=progress, checkpoint_dir=checkpoint_dir, resume=resume),
                  scheduler=scheduler, on_epoch_end=on_epoch_end)
    metrics = {"valid_perplexity": float(history["valid_perplexity"].iloc[-1]),
               "train_tokens": train.n_tokens, "epochs": cfg.epochs,
               "seconds": time.perf_counter() - start, "device": str(dev),
               "parameters": count_parameters(model, trainable_only=False),
               "trainable_parameters": count_parameters(model), "vocab_size": len(vocab),
               "output_vocab_size": model.cfg.n_output, "batch_size": cfg.batch_size,
               "bptt": cfg.bptt, "lr": cfg.lr, "amp": cfg.amp,
               "embedding": _embedding_kind(origins, cfg), "embedding_rows_by_origin": origins,
               "config": asdict(cfg)}
    return PretrainResult(model, vocab, history, metrics)


def _source_model(vocab: Vocab, cfg: PretrainConfig, vectors: WordVectors | None
                  ) -> tuple[LanguageModel, dict | None]:
    """The untrained LM over ``vocab`` and its embedding rows' origins (None without vectors:
    a random embedding; with them, the vectors, frozen unless ``cfg.embedding_lr_factor``)."""
    model = LanguageModel(ModelConfig(
        vocab_size=len(vocab), emb_dim=cfg.emb_dim if vectors is None else vectors.dim,
        hidden_dim=cfg.hidden_dim, num_layers=cfg.num_layers, emb_dropout=0.05,
        layer_dropout=0.15, out_dropout=0.15, out_dim=cfg.out_dim,
        output_vocab_size=min(cfg.output_vocab_size, len(vocab))))
    origins = None
    if vectors is not None:
        origins = embedding_from_vectors(model.encoder.embedding, vocab, vectors)
        model.encoder.embedding.weight.requires_grad_(cfg.embedding_lr_factor > 0)
    return model, origins


def parameter_groups(model: LanguageModel, lr: float, embedding_lr_factor: float) -> list[dict]:
    """AdamW's groups: every trainable weight at ``lr``; with ``embedding_lr_factor > 0`` the
    embedding (pretrained vectors, fine-tuned) in a group of its own at that fraction of ``lr``,
    without weight decay (which would pull the vectors towards 0)."""
    embedding = model.encoder.embedding.weight
    if not embedding_lr_factor:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    rest = [p for p in model.parameters() if p.requires_grad and p is not embedding]
    return [{"params": rest},
            {"params": [embedding], "lr": lr * embedding_lr_factor, "weight_decay": 0.0}]


def _embedding_kind(origins: dict | None, cfg: PretrainConfig) -> str:
    if not origins:
        return "trained from random init"
    if cfg.embedding_lr_factor > 0:
        return f"pretrained vectors, fine-tuned at {cfg.embedding_lr_factor:g} x lr"
    return "frozen pretrained vectors"


def take_fraction(sentences: list[str], fraction: float, block: int = 100) -> list[str]:
    """About ``fraction`` of ``sentences`` in blocks of ``block`` consecutive sentences spread
    evenly over the corpus (every genre and decade keeps its share; notebook 07's source-size
    curve). ``fraction`` 1 returns them all."""
    if not 0 < fraction <= 1:
        raise ArgumentError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return list(sentences)
    n_blocks = -(-len(sentences) // block)
    keep = [b for b in range(n_blocks) if int((b + 1) * fraction) > int(b * fraction)]
    return [s for b in keep for s in sentences[b * block:(b + 1) * block]]


def load_source_corpus(corpus: str, fast: bool, split: str = "train",
                       fraction: float = 1.0) -> list[str]:
    """Sentences of one split of the shipped source corpus ('brown', 'sotu' or 'both');
    fast mode keeps every 40th sentence; ``fraction`` < 1 keeps that share (``take_fraction``)."""
    sentences = datasets.load_source_sentences(corpus, split)
    return take_fraction(sentences[::40] if fast else sentences, fraction)
