"""The end-to-end pipeline: pretrain the source LM, fine-tune a classifier (ULMFiT's stages).

Taught in notebooks 05-07; the CLI and the experiments call the same two functions. Sizes are
plain keyword arguments; ``fast=True`` (default: the ``TRANSFERLIB_FAST`` variable) shrinks the
data, model and epochs but runs the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from transferlib import datasets
from transferlib.batching import (
    DEFAULT_MAX_LEN,
    LanguageModelStream,
    TextClassificationDataset,
    make_loader,
)
from transferlib.checkpoint import load_language_model, read_config
from transferlib.chunked import DEFAULT_GRAD_CHUNKS, check_chunking
from transferlib.config import fast_mode
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError, DataError
from transferlib.model import Classifier, LanguageModel, ModelConfig, count_parameters
from transferlib.parallel import (
    DistContext,
    SyncEveryK,
    distributed_loader,
    per_rank_batch,
    single_process,
    wrap_ddp,
)
from transferlib.param_groups import (
    ULMFIT_DECAY,
    discriminative_groups,
    freeze_to,
    gradual_unfreezing,
)
from transferlib.regularizers import make_regularizer
from transferlib.schedules import make_scheduler, one_cycle, slanted_triangular
from transferlib.strategies import Strategy
from transferlib.tasks import ClassificationTask, LanguageModelTask
from transferlib.text import Vocab, tokenize
from transferlib.training import evaluate, fit, predictions, set_seed
from transferlib.transfer import (
    TransferReport,
    build_target_vocab,
    embedding_from_vectors,
    transfer_encoder,
    vocab_from_vectors,
)
from transferlib.vectors import WordVectors, load_word_vectors


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
    vectors: WordVectors | None = None,
    out_dim: int = 0,
    output_vocab_size: int = 0,
) -> PretrainResult:
    """Stage (a): train an LSTM language model on a general corpus.

    AdamW with a one-cycle schedule, truncated BPTT with varying window length, gradient
    clipping at 0.25, tied input/output embeddings, bf16 autocast on CPU when ``amp``.
    With ``vectors`` (source model v2) the vocabulary is the corpus words that have a pretrained
    vector, the embedding starts from those vectors and stays **frozen**, so that every GloVe word
    the corpus never shows keeps a vector the LSTM can read (vocabulary transfer gives it later);
    ``emb_dim`` is then the vectors' width. ``out_dim`` widens the last LSTM layer (a projection
    maps it to the tied softmax) and ``output_vocab_size`` limits the softmax to the N most
    frequent words (see ``ModelConfig``).
    """
    set_seed(seed)
    dev = pick_device(device)
    if vectors is not None:
        vocab = vocab_from_vectors(train_texts, vectors, min_freq=2, max_size=vocab_size)
        emb_dim = vectors.dim
    else:
        vocab = Vocab.build((tokenize(t) for t in train_texts), min_freq=2, max_size=vocab_size)
    train = LanguageModelStream(train_texts, vocab, batch_size, bptt, vary_bptt=True, seed=seed,
                                max_tokens=max_tokens)
    valid = LanguageModelStream(valid_texts, vocab, batch_size=16, bptt=bptt,
                                max_tokens=None if max_tokens is None else max_tokens // 5)
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=emb_dim, hidden_dim=hidden_dim,
                      num_layers=num_layers, emb_dropout=0.05, layer_dropout=0.15,
                      out_dropout=0.15, out_dim=out_dim,
                      output_vocab_size=min(output_vocab_size, len(vocab)))
    model = LanguageModel(cfg)
    origins = None
    if vectors is not None:
        origins = embedding_from_vectors(model.encoder.embedding, vocab, vectors)
        model.encoder.embedding.weight.requires_grad_(False)
    model.to(dev)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
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
               "parameters": count_parameters(model, trainable_only=False),
               "trainable_parameters": count_parameters(model), "vocab_size": len(vocab),
               "output_vocab_size": cfg.n_output, "batch_size": batch_size, "bptt": bptt,
               "lr": lr, "amp": amp, "embedding": "frozen pretrained vectors" if origins
               else "trained from random init", "embedding_rows_by_origin": origins}
    return PretrainResult(model, vocab, history, metrics)


def load_source_corpus(corpus: str, fast: bool, split: str = "train") -> list[str]:
    """Sentences of one split of the shipped source corpus ('brown', 'sotu' or 'both');
    fast mode keeps every 40th sentence."""
    sentences = datasets.load_source_sentences(corpus, split)
    return sentences[::40] if fast else sentences


CLASSIFIER_DROPOUT = {"emb_dropout": 0.1, "layer_dropout": 0.3, "out_dropout": 0.4}
# The target-LM stage (ULMFiT's stage b) trains at this fraction of the classifier's rate, in
# the pipeline and in the experiments that run the stage on its own.
LM_STAGE_LR_FACTOR = 0.5


@dataclass
class FinetuneResult:
    model: Classifier
    vocab: Vocab
    classes: list[str]
    history: pd.DataFrame
    metrics: dict
    lm_history: pd.DataFrame | None = None
    transfer: TransferReport | None = None


def _check_labels(classes: list[str], frame: pd.DataFrame, split: str) -> None:
    unknown = sorted(set(frame["label"]) - set(classes))
    if unknown:
        raise DataError(f"the {split} split has label(s) {unknown[:5]} that the training split "
                        f"lacks (classes: {classes})")


def resolve_vectors(vectors: WordVectors | str | None) -> WordVectors | None:
    """``'shipped'`` → the GloVe vectors in data/vectors; a ``WordVectors`` or None as is."""
    if isinstance(vectors, str):
        if vectors != "shipped":
            raise ArgumentError(f"vectors must be 'shipped', a WordVectors or None, "
                                f"got {vectors!r}")
        return load_word_vectors()
    return vectors


def classifier_from_source(
    pretrained: str | Path, unlabelled: list[str], n_classes: int,
    vectors: WordVectors | str | None = "shipped",
) -> tuple[Classifier, LanguageModel, Vocab, Vocab, TransferReport]:
    """Load the source LM from ``pretrained``, build the target vocabulary (source words +
    the frequent words of ``unlabelled``) and a classifier whose encoder is transferred from the
    source; target words the source lacks take their ``vectors`` (GloVe) vector when there is
    one → ``(classifier, source_lm, source_vocab, target_vocab, report)``."""
    source, source_vocab, _ = load_language_model(pretrained)
    vocab = build_target_vocab(source_vocab, unlabelled, min_freq=2)
    cfg = ModelConfig(**{**source.cfg.to_dict(), **CLASSIFIER_DROPOUT,
                         "vocab_size": len(vocab), "n_classes": n_classes,
                         "output_vocab_size": 0})
    model = Classifier(cfg)
    report = transfer_encoder(model, source, source_vocab, vocab, resolve_vectors(vectors))
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
    accumulate: int = 1,
    max_len: int = DEFAULT_MAX_LEN,
    seed: int = 0,
    amp: bool = True,
    device: str = "auto",
    patience: int | None = 2,
    small_model: dict | None = None,
    vectors: WordVectors | str | None = "shipped",
    progress: bool = True,
    on_epoch_end=None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    ctx: DistContext | None = None,
    chunk_len: int = 0,
    grad_chunks: int = DEFAULT_GRAD_CHUNKS,
) -> FinetuneResult:
    """Stages (b) and (c): fine-tune a classifier on ``train`` (columns text, label).

    ``chunk_len > 0`` reads every text (up to ``max_len`` tokens, which may then be whole
    documents) in chunks of that many tokens, carrying the LSTM state, in training, validation
    and test, back-propagating through the last ``grad_chunks`` chunks (``chunked``, BPT3C);
    texts no longer than one chunk give exactly the unchunked results.

    ``strategy`` chooses every lever (see ``strategies``); ``pretrained`` is a model folder
    (the shipped source LM by default in the CLI). ``lm_texts`` are extra unlabelled in-domain
    texts for the target-LM stage (never the test split). ``small_model`` sets the sizes of a
    from-scratch model when no pretrained folder is given.

    ``ctx`` (``parallel.init_distributed()``, under torchrun) makes this one DDP replica
    (notebook 09): its device replaces ``device``, the classifier is wrapped in DDP, the
    training batches are this rank's share of the bucketed batches, the target-LM stage runs on
    rank 0 only (DDP's construction broadcasts rank 0's weights) and only rank 0 scores the
    test split. Every rank evaluates the whole valid split, so early stopping decides alike.
    """
    if chunk_len:
        check_chunking(chunk_len, grad_chunks)
    ctx = ctx or single_process(pick_device(device))
    if ctx.world_size > 1 and (checkpoint_dir is not None or resume):
        raise ArgumentError("training checkpoints and --resume run in one process, not under "
                            "torchrun")
    set_seed(seed)
    dev = ctx.device
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
    model, vocab, report, lm_history = initial_classifier(
        train, valid, replace(strategy, target_lm=strategy.target_lm and ctx.is_main),
        len(classes), pretrained, lm_texts, lm_epochs, lr, seed, amp, dev, progress,
        stage_dir["lm"], resume, vectors, small_model)
    model.to(dev)
    reg = make_regularizer(strategy.regularizer, model, strategy.lam)
    train_ds = TextClassificationDataset(train["text"], train["label"], vocab, classes, max_len)
    valid_ds = TextClassificationDataset(valid["text"], valid["label"], vocab, classes, max_len)
    micro_batch = per_rank_batch(batch_size, ctx, accumulate)
    if ctx.world_size == 1:
        train_dl, trained, task = (make_loader(train_ds, micro_batch, shuffle=True, seed=seed),
                                   model, ClassificationTask(chunk_len=chunk_len,
                                                             grad_chunks=grad_chunks))
    else:
        train_dl = distributed_loader(train_ds, micro_batch, ctx.rank, ctx.world_size, seed)
        trained = wrap_ddp(model, ctx,
                           find_unused=strategy.freeze_encoder or strategy.gradual_unfreeze)
        task = SyncEveryK(ClassificationTask(chunk_len=chunk_len, grad_chunks=grad_chunks),
                          trained, accumulate, len(train_dl))
    valid_dl = make_loader(valid_ds, 256, shuffle=False)
    optimizer, scheduler, on_start = strategy_optimizer(model, strategy, lr,
                                                        epochs * -(-len(train_dl) // accumulate),
                                                        epochs)
    start = time.perf_counter()
    history = fit(trained, train_dl, valid_dl, task, optimizer, epochs,
                  scheduler=scheduler, device=dev, amp=amp, clip=1.0, regularizer=reg,
                  patience=patience, on_epoch_start=on_start, on_epoch_end=on_epoch_end,
                  progress=progress, checkpoint_dir=stage_dir["classifier"], resume=resume,
                  accumulate=accumulate)
    seconds = time.perf_counter() - start
    freeze_to(model, 0)
    metrics = {"valid_accuracy": evaluate(model, valid_dl, ClassificationTask(
                   chunk_len=chunk_len), dev, amp)["accuracy"],
               "n_train": len(train), "n_valid": len(valid), "seconds": seconds,
               "seconds_per_epoch": float(history["seconds"].mean()),
               "epochs_run": len(history), "device": str(dev), "classes": classes,
               "trainable_params": int(history["trainable_params"].max()),
               "strategy": strategy.to_dict(), "seed": seed, "world_size": ctx.world_size,
               "backend": ctx.backend, "accumulate": accumulate, "global_batch": batch_size,
               "per_rank_batch": micro_batch, "chunk_len": chunk_len,
               "grad_chunks": grad_chunks if chunk_len else 0}
    if test is not None and len(test) and ctx.is_main:
        metrics.update(score_test_split(model, vocab, classes, test, max_len, dev, amp, chunk_len))
    return FinetuneResult(model, vocab, classes, history, metrics, lm_history, report)


def score_test_split(model: Classifier, vocab: Vocab, classes: list[str], test: pd.DataFrame,
                     max_len: int, device: torch.device, amp: bool, chunk_len: int = 0) -> dict:
    """Test accuracy and each class's share of the predictions (a collapsed classifier shows
    as one share near 1); ``chunk_len > 0`` reads long texts in chunks."""
    test_ds = TextClassificationDataset(test["text"], test["label"], vocab, classes, max_len)
    loader = make_loader(test_ds, 256, shuffle=False)
    pred, truth = predictions(model, loader, device, amp, chunk_len)
    shares = {c: float((pred == i).sum()) / len(pred) for i, c in enumerate(classes)}
    order = [i for batch in loader.batch_sampler for i in batch]  # bucketing reorders
    correct = ["0"] * len(test)
    for i, ok in zip(order, (pred == truth).tolist(), strict=True):
        correct[i] = "1" if ok else "0"
    return {"test_accuracy": float((pred == truth).double().mean()), "n_test": len(test),
            "test_pred_shares": shares, "test_top_share": max(shares.values()),
            "test_correct": "".join(correct)}


def strategy_optimizer(model: Classifier, strategy: Strategy, lr: float, steps: int,
                       epochs: int):
    """The strategy's levers on ``model``: freezing, (discriminative) parameter groups with the
    embedding's own rate, AdamW, the schedule over ``steps`` optimizer steps, and the
    gradual-unfreezing callback → ``(optimizer, scheduler or None, on_epoch_start or None)``."""
    if strategy.freeze_encoder:
        freeze_to(model, -1)
    groups = discriminative_groups(model, lr,
                                   decay=ULMFIT_DECAY if strategy.discriminative else 1.0)
    if strategy.embedding_lr > 0:
        groups[0]["lr"] = lr * strategy.embedding_lr
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    scheduler = make_scheduler(strategy.schedule, optimizer, steps, spare_steps=epochs)
    on_start = (gradual_unfreezing(model, keep_embedding=strategy.embedding_lr > 0)
                if strategy.gradual_unfreeze else None)
    return optimizer, scheduler, on_start


def target_language_model(source: LanguageModel, source_vocab: Vocab, vocab: Vocab,
                          vectors: WordVectors | None) -> LanguageModel:
    """A language model over the target vocabulary that starts as the source (stage b's
    starting point); its softmax covers the source's output words."""
    cfg = ModelConfig(**{**source.cfg.to_dict(), **CLASSIFIER_DROPOUT, "vocab_size": len(vocab),
                         "n_classes": 0})
    lm = LanguageModel(cfg)
    transfer_encoder(lm, source, source_vocab, vocab, vectors)
    return lm


def scratch_sizes(pretrained: str | Path | None, small_model: dict | None) -> dict:
    """Encoder sizes of a from-scratch classifier: ``small_model``, else the source model's
    (the same architecture, random init), else source model v2's."""
    if small_model:
        return dict(small_model)
    if pretrained is not None:
        model = read_config(pretrained)["model"]
        return {k: model.get(k, 0) for k in ("emb_dim", "hidden_dim", "num_layers", "out_dim")}
    return {"emb_dim": 50, "hidden_dim": 384, "num_layers": 2, "out_dim": 128}


def initial_classifier(
    train: pd.DataFrame, valid: pd.DataFrame, strategy: Strategy, n_classes: int,
    pretrained: str | Path | None, lm_texts: list[str] | None, lm_epochs: int, lr: float,
    seed: int, amp: bool, device: torch.device, progress: bool, lm_checkpoint_dir: Path | None,
    resume: bool, vectors: WordVectors | str | None, small_model: dict | None,
) -> tuple[Classifier, Vocab, TransferReport | None, pd.DataFrame | None]:
    """The classifier before stage (c): transferred from the source (after the target-LM
    stage when the strategy has one), or built from scratch → ``(model, vocab, report,
    lm_history)``."""
    if not strategy.pretrained:
        vocab = Vocab.build((tokenize(t) for t in train["text"]), min_freq=2)
        cfg = ModelConfig(vocab_size=len(vocab), n_classes=n_classes, **CLASSIFIER_DROPOUT,
                          **scratch_sizes(pretrained, small_model))
        return Classifier(cfg), vocab, None, None
    vectors = resolve_vectors(vectors)
    unlabelled = list(train["text"]) + list(lm_texts or [])
    model, source, source_vocab, vocab, report = classifier_from_source(
        pretrained, unlabelled, n_classes, vectors)
    lm_history = None
    if strategy.target_lm:
        lm = target_language_model(source, source_vocab, vocab, vectors)
        lm_history = finetune_language_model(lm, vocab, unlabelled, list(valid["text"]),
                                             epochs=lm_epochs, lr=lr * LM_STAGE_LR_FACTOR,
                                             seed=seed, amp=amp,
                                             device=device, progress=progress,
                                             checkpoint_dir=lm_checkpoint_dir, resume=resume)
        model.encoder.load_state_dict(lm.encoder.state_dict())
    if strategy.encoder_init == "vectors":  # keep the word vectors, forget the LSTM layers
        for layer in model.encoder.layers:
            layer.reset_parameters()
    return model, vocab, report, lm_history


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
                                                   "batch_size": 16, "bptt": 32, "out_dim": 32,
                                                   "output_vocab_size": 1000}}
    return {"epochs": 6, "lm_epochs": 2, "max_train": None, "max_eval": None,
            "pretrain_epochs": 3, "pretrain": {"vocab_size": 40000, "emb_dim": 50,
                                               "hidden_dim": 384, "num_layers": 2,
                                               "batch_size": 64, "bptt": 64, "out_dim": 128,
                                               "output_vocab_size": 10000}}
