"""Fine-tuning a classifier from the source model: ULMFiT's stages (b) and (c).

Taught in notebooks 06-07 (stage (a), pretraining, is ``pretrain``); the CLI and the
experiments call the same function, ``finetune_classifier``, with a ``FinetuneConfig`` for the
sizes and a ``strategies.Strategy`` for the levers. ``default_sizes(fast)`` gives the ``Sizes``
of the full and the fast mode; the fast mode shrinks data, model and epochs but runs the same
code.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from transferlib.batching import (
    DEFAULT_MAX_LEN,
    LanguageModelStream,
    TextClassificationDataset,
    eval_loader,
    make_loader,
)
from transferlib.checkpoint import load_language_model, read_config
from transferlib.chunked import DEFAULT_GRAD_CHUNKS, check_chunking
from transferlib.config import fast_mode
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError, DataError
from transferlib.model import Classifier, LanguageModel, ModelConfig
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
from transferlib.pretrain import PretrainConfig
from transferlib.regularizers import make_regularizer
from transferlib.schedules import make_scheduler, slanted_triangular
from transferlib.strategies import Strategy
from transferlib.tasks import ClassificationTask, LanguageModelTask
from transferlib.text import Vocab, tokenize
from transferlib.training import TrainConfig, evaluate, fit, predictions, set_seed
from transferlib.transfer import (
    TransferReport,
    build_target_vocab,
    transfer_encoder,
)
from transferlib.vectors import WordVectors, load_word_vectors

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


@dataclass(frozen=True)
class FinetuneConfig:
    """Sizes and rates of stages (b) and (c), in one place (notebook 06); the strategy
    (``strategies.Strategy``) chooses the levers, this the amounts."""

    epochs: int = 6
    lm_epochs: int = 2  # target-LM stage, when the strategy has one
    lr: float = 2e-3
    batch_size: int = 64  # the global batch (all replicas and accumulation steps together)
    accumulate: int = 1  # optimizer step every N micro-batches
    max_len: int = DEFAULT_MAX_LEN  # tokens read per text (whole documents with chunk_len)
    chunk_len: int = 0  # > 0: read texts in chunks of this many tokens (BPT3C, ``chunked``)
    grad_chunks: int = DEFAULT_GRAD_CHUNKS  # back-propagate through the last N chunks
    patience: int | None = 2  # early stopping after N epochs without a better valid accuracy
    seed: int = 0
    amp: bool = True
    device: str = "auto"

    def __post_init__(self):
        if self.chunk_len:
            check_chunking(self.chunk_len, self.grad_chunks)


def _classes(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame | None) -> list[str]:
    """The training split's classes, checked against the other splits."""
    for name, frame in (("train", train), ("valid", valid)):
        if len(frame) == 0:
            raise DataError(f"the {name} split is empty")
    classes = sorted(train["label"].unique())
    if len(classes) < 2:
        raise DataError(f"the training split has one class {classes}; need at least two")
    _check_labels(classes, valid, "valid")
    if test is not None:
        _check_labels(classes, test, "test")
    return classes


def _training_data(model: Classifier, train_ds: TextClassificationDataset, cfg: FinetuneConfig,
                   strategy: Strategy, ctx: DistContext):
    """``(train loader, module to train, task)``: plain in one process, a DDP replica's share
    (and a DDP-wrapped model) under torchrun."""
    micro_batch = per_rank_batch(cfg.batch_size, ctx, cfg.accumulate)
    task = ClassificationTask(chunk_len=cfg.chunk_len, grad_chunks=cfg.grad_chunks)
    if ctx.world_size == 1:
        return make_loader(train_ds, micro_batch, shuffle=True, seed=cfg.seed), model, task
    train_dl = distributed_loader(train_ds, micro_batch, ctx.rank, ctx.world_size, cfg.seed)
    replica = wrap_ddp(model, ctx,
                       find_unused=strategy.freeze_encoder or strategy.gradual_unfreeze)
    return train_dl, replica, SyncEveryK(task, replica, cfg.accumulate, len(train_dl))


def finetune_classifier(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame | None,
    strategy: Strategy,
    cfg: FinetuneConfig | None = None,
    *,
    pretrained: str | None = None,
    lm_texts: list[str] | None = None,
    small_model: dict | None = None,
    vectors: WordVectors | str | None = "shipped",
    progress: bool = True,
    on_epoch_end=None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    ctx: DistContext | None = None,
) -> FinetuneResult:
    """Stages (b) and (c): fine-tune a classifier on ``train`` (columns text, label).

    ``strategy`` chooses every lever (see ``strategies``), ``cfg`` the sizes and rates
    (default ``FinetuneConfig()``); ``pretrained`` is a model folder (the shipped source LM by
    default in the CLI). ``lm_texts`` are extra unlabelled in-domain texts for the target-LM
    stage (never the test split). ``small_model`` sets the sizes of a from-scratch model when no
    pretrained folder is given. With ``cfg.chunk_len > 0`` every text (up to ``cfg.max_len``
    tokens, which may then be whole documents) is read in chunks, carrying the LSTM state, in
    training, validation and test (``chunked``, BPT3C); texts within one chunk give exactly the
    unchunked results. After training every layer is left trainable (``freeze_to(model, 0)``),
    whatever the strategy froze.

    ``ctx`` (``parallel.init_distributed()``, under torchrun) makes this one DDP replica
    (notebook 09): its device replaces ``cfg.device``, the classifier is wrapped in DDP, the
    training batches are this rank's share of the bucketed batches, the target-LM stage runs on
    rank 0 only (DDP's construction broadcasts rank 0's weights) and only rank 0 scores the
    test split. Every rank evaluates the whole valid split, so early stopping decides alike.
    """
    cfg = cfg or FinetuneConfig()
    ctx = ctx or single_process(pick_device(cfg.device))
    if ctx.world_size > 1 and (checkpoint_dir is not None or resume):
        raise ArgumentError("training checkpoints and --resume run in one process, not under "
                            "torchrun")
    set_seed(cfg.seed)
    dev = ctx.device
    stage_dir = {stage: None if checkpoint_dir is None else Path(checkpoint_dir) / stage
                 for stage in ("lm", "classifier")}  # training checkpoints of each stage
    classes = _classes(train, valid, test)
    if strategy.pretrained and pretrained is None:
        raise ArgumentError("this strategy starts from a pretrained model: pass pretrained=DIR")
    model, vocab, report, lm_history = initial_classifier(
        train, valid, replace(strategy, target_lm=strategy.target_lm and ctx.is_main),
        len(classes), cfg, dev, pretrained=pretrained, lm_texts=lm_texts, progress=progress,
        lm_checkpoint_dir=stage_dir["lm"], resume=resume, vectors=vectors,
        small_model=small_model)
    model.to(dev)
    train_dl, trained, task = _training_data(
        model, TextClassificationDataset(train["text"], train["label"], vocab, classes,
                                         cfg.max_len), cfg, strategy, ctx)
    valid_dl = eval_loader(TextClassificationDataset(valid["text"], valid["label"], vocab,
                                                     classes, cfg.max_len))
    optimizer, scheduler, on_start = strategy_optimizer(
        model, strategy, cfg.lr, cfg.epochs * -(-len(train_dl) // cfg.accumulate), cfg.epochs)
    start = time.perf_counter()
    history = fit(trained, train_dl, valid_dl, task, optimizer,
                  TrainConfig(epochs=cfg.epochs, device=dev, amp=cfg.amp, clip=1.0,
                              accumulate=cfg.accumulate, patience=cfg.patience, progress=progress,
                              checkpoint_dir=stage_dir["classifier"], resume=resume),
                  scheduler=scheduler,
                  regularizer=make_regularizer(strategy.regularizer, model, strategy.lam),
                  on_epoch_start=on_start, on_epoch_end=on_epoch_end)
    seconds = time.perf_counter() - start
    freeze_to(model, 0)
    metrics = {"valid_accuracy": evaluate(model, valid_dl, ClassificationTask(
                   chunk_len=cfg.chunk_len), dev, cfg.amp)["accuracy"],
               "n_train": len(train), "n_valid": len(valid), "seconds": seconds,
               "seconds_per_epoch": float(history["seconds"].mean()),
               "epochs_run": len(history), "device": str(dev), "classes": classes,
               "trainable_params": int(history["trainable_params"].max()),
               "strategy": strategy.to_dict(), "config": asdict(cfg), "seed": cfg.seed,
               "world_size": ctx.world_size, "backend": ctx.backend,
               "accumulate": cfg.accumulate, "global_batch": cfg.batch_size,
               "per_rank_batch": per_rank_batch(cfg.batch_size, ctx, cfg.accumulate),
               "chunk_len": cfg.chunk_len, "grad_chunks": cfg.grad_chunks if cfg.chunk_len else 0}
    if test is not None and len(test) and ctx.is_main:
        metrics.update(score_test_split(model, vocab, classes, test, cfg.max_len, dev, cfg.amp,
                                        cfg.chunk_len))
    return FinetuneResult(model, vocab, classes, history, metrics, lm_history, report)


def score_test_split(model: Classifier, vocab: Vocab, classes: list[str], test: pd.DataFrame,
                     max_len: int, device: torch.device, amp: bool, chunk_len: int = 0) -> dict:
    """Test accuracy and each class's share of the predictions (a collapsed classifier shows
    as one share near 1); ``chunk_len > 0`` reads long texts in chunks."""
    test_ds = TextClassificationDataset(test["text"], test["label"], vocab, classes, max_len)
    loader = eval_loader(test_ds)
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
    cfg: FinetuneConfig, device: torch.device, *, pretrained: str | Path | None,
    lm_texts: list[str] | None = None, progress: bool = False,
    lm_checkpoint_dir: Path | None = None, resume: bool = False,
    vectors: WordVectors | str | None = "shipped", small_model: dict | None = None,
) -> tuple[Classifier, Vocab, TransferReport | None, pd.DataFrame | None]:
    """The classifier before stage (c): transferred from the source (after the target-LM
    stage when the strategy has one), or built from scratch → ``(model, vocab, report,
    lm_history)``."""
    if not strategy.pretrained:
        vocab = Vocab.build((tokenize(t) for t in train["text"]), min_freq=2)
        model_cfg = ModelConfig(vocab_size=len(vocab), n_classes=n_classes,
                                **CLASSIFIER_DROPOUT, **scratch_sizes(pretrained, small_model))
        return Classifier(model_cfg), vocab, None, None
    vectors = resolve_vectors(vectors)
    unlabelled = list(train["text"]) + list(lm_texts or [])
    model, source, source_vocab, vocab, report = classifier_from_source(
        pretrained, unlabelled, n_classes, vectors)
    lm_history = None
    if strategy.target_lm:
        lm = target_language_model(source, source_vocab, vocab, vectors)
        lm_history = finetune_language_model(lm, vocab, unlabelled, list(valid["text"]),
                                             epochs=cfg.lm_epochs,
                                             lr=cfg.lr * LM_STAGE_LR_FACTOR,
                                             seed=cfg.seed, amp=cfg.amp,
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
    return fit(lm, train, valid, LanguageModelTask(), optimizer,
               TrainConfig(epochs=epochs, device=device, amp=amp, clip=0.25, progress=progress,
                           checkpoint_dir=checkpoint_dir, resume=resume),
               scheduler=scheduler)


@dataclass(frozen=True)
class Sizes:
    """Epochs and data caps of one mode, full or fast (notebooks 00 and 06); the fast mode
    shrinks data, model and epochs but runs the same code."""

    epochs: int  # classifier epochs
    lm_epochs: int  # epochs of the target-LM stage
    max_train: int | None  # training reviews kept (None: all)
    max_eval: int | None  # validation and test reviews kept (None: all)
    pretrain: PretrainConfig  # the source language model's sizes and epochs


FULL_SIZES = Sizes(epochs=6, lm_epochs=2, max_train=None, max_eval=None,
                   pretrain=PretrainConfig())  # the shipped source model's recipe
FAST_SIZES = Sizes(epochs=1, lm_epochs=1, max_train=300, max_eval=200, pretrain=PretrainConfig(
    vocab_size=2000, emb_dim=32, hidden_dim=64, num_layers=2, out_dim=32, output_vocab_size=1000,
    epochs=1, batch_size=16, bptt=32))


def default_sizes(fast: bool | None = None) -> Sizes:
    """``FAST_SIZES`` or ``FULL_SIZES`` (None: the fast-mode switch, read here for notebooks)."""
    return FAST_SIZES if (fast_mode() if fast is None else fast) else FULL_SIZES
