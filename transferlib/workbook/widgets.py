"""Widget callbacks and small helpers of notebooks 06-10, as plain functions.

Every widget in those notebooks calls one function from here, so a test (or a headless run)
can call it directly and check what it changes. Training always goes through
``pipeline.finetune_classifier`` or ``training.fit``; nothing here has a loop of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from transferlib.batching import BucketBatchSampler, TextClassificationDataset, make_loader
from transferlib.errors import ArgumentError
from transferlib.experiments.runs import stratified_subsample
from transferlib.model import Classifier, ModelConfig
from transferlib.param_groups import (
    ULMFIT_DECAY,
    discriminative_groups,
    gradual_unfreezing,
    layer_groups,
)
from transferlib.pipeline import FinetuneConfig, finetune_classifier
from transferlib.predict import predict_texts
from transferlib.schedules import make_scheduler
from transferlib.strategies import get_strategy
from transferlib.tasks import ClassificationTask
from transferlib.text import Vocab, tokenize
from transferlib.training import TrainConfig, fit, set_seed

# -- notebook 06: live plot, confusion matrix, your own sentence ---------------------------------

class LivePlot:
    """An ``on_epoch_end`` callback for ``finetune_classifier`` that redraws loss and accuracy
    after every epoch (notebook 06). In Jupyter it updates one figure in place; ``show=False``
    only draws (tests, scripts)."""

    def __init__(self, show: bool = True):
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(9, 3.2), layout="constrained")
        self.axes = self.figure.subplots(1, 2)
        self.show = show
        self.handle = None
        self.epochs_seen = 0

    def __call__(self, epoch: int, history: pd.DataFrame) -> None:
        from matplotlib.ticker import MaxNLocator

        self.epochs_seen = len(history)
        for ax, metric in zip(self.axes, ("loss", "accuracy")):
            ax.clear()
            for split, style in (("train", "o-"), ("valid", "s--")):
                ax.plot(history["epoch"], history[f"{split}_{metric}"], style, label=split)
            ax.set_xlabel("epoch")
            ax.set_ylabel(metric)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend()
        if self.show:
            from IPython.display import Image, display

            image = Image(self.png())
            if self.handle is None:
                self.handle = display(image, display_id=True)
            else:
                self.handle.update(image)

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        import io

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()


def confusion_matrix(true: Sequence[str], pred: Sequence[str], classes: Sequence[str]
                     ) -> pd.DataFrame:
    """Counts of (true class, predicted class): rows true, columns predicted (notebook 06)."""
    if len(true) != len(pred):
        raise ArgumentError(f"{len(true)} true labels but {len(pred)} predictions")
    table = pd.crosstab(pd.Categorical(list(true), categories=list(classes)),
                        pd.Categorical(list(pred), categories=list(classes)), dropna=False)
    table.index.name, table.columns.name = "true", "predicted"
    return table


def predict_labels(model: Classifier, vocab: Vocab, classes: Sequence[str],
                   texts: Sequence[str]) -> list[str]:
    """The most probable class name of each text (notebook 06)."""
    probs = predict_texts(model, vocab, list(texts))
    return [classes[max(range(len(p)), key=p.__getitem__)] for p in probs]


def describe_prediction(model: Classifier, vocab: Vocab, classes: Sequence[str],
                        text: str) -> str:
    """The "try your own sentence" callback (notebook 06): the predicted class with each
    class's probability, and how many of the sentence's words the model does not know."""
    if not text or not text.strip():
        return "type a sentence first"
    probs = predict_texts(model, vocab, [text])[0]
    unknown = [t for t in tokenize(text) if t not in vocab]
    best = max(range(len(probs)), key=probs.__getitem__)
    shares = ", ".join(f"{c} {p:.2f}" for c, p in zip(classes, probs))
    note = f"; unknown words: {unknown}" if unknown else ""
    return f"{classes[best]} ({shares}){note}"


# -- notebook 07: schedules, rates, unfreezing, a small strategy comparison ----------------------

def schedule_rates(kind: str, total_steps: int, lr: float = 1e-2) -> list[float]:
    """The learning rate at each of ``total_steps`` steps under ``kind`` ('constant', 'stlr'
    or 'one-cycle'), read from the same schedulers fine-tuning uses (notebook 07)."""
    if total_steps < 1:
        raise ArgumentError(f"total_steps must be >= 1, got {total_steps}")
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(kind, optimizer, total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rates


def rate_table(model: nn.Module, lr: float, discriminative: bool = True) -> pd.DataFrame:
    """Each layer group's parameter count and learning rate (notebook 07)."""
    groups = discriminative_groups(model, lr, decay=ULMFIT_DECAY if discriminative else 1.0)
    names = ["embedding"] + [f"lstm {i}" for i in range(len(groups) - 2)] + ["head"]
    return pd.DataFrame({"group": names,
                         "parameters": [sum(p.numel() for p in g["params"]) for g in groups],
                         "lr": [g["lr"] for g in groups]})


def unfreezing_table(model: nn.Module, epochs: int, keep_embedding: bool = False
                     ) -> pd.DataFrame:
    """Which layer groups train in each epoch under gradual unfreezing (notebook 07), with the
    embedding trainable throughout when ``keep_embedding`` (the presets' ``embedding_lr``);
    leaves every group trainable afterwards."""
    start = gradual_unfreezing(model, keep_embedding=keep_embedding)
    groups = layer_groups(model)
    names = ["embedding"] + [f"lstm {i}" for i in range(len(groups) - 2)] + ["head"]
    rows = []
    for epoch in range(epochs):
        start(epoch)
        rows.append({"epoch": epoch + 1,
                     **{n: "trains" if g[0].requires_grad else "frozen"
                        for n, g in zip(names, groups)},
                     "trainable": sum(p.numel() for g in groups for p in g if p.requires_grad)})
    for p in model.parameters():
        p.requires_grad_(True)
    return pd.DataFrame(rows)


def run_strategies(names: Sequence[str], n_labels: int, train: pd.DataFrame,
                   valid: pd.DataFrame, test: pd.DataFrame, pretrained: str,
                   epochs: int = 2, seed: int = 0, lm_epochs: int = 1,
                   min_steps: int = 100) -> pd.DataFrame:
    """Fine-tune each strategy of ``names`` on the same ``n_labels`` class-stratified training
    examples and return one row each (notebook 07's widget: a small, live ablation). Small
    label counts get more epochs, so that every run takes at least ``min_steps`` optimizer steps
    (as ``experiments.run_lowres`` does): 100 labels for 2 epochs are 14 steps, too few to learn."""
    if not names:
        raise ArgumentError("pick at least one strategy")
    subset = stratified_subsample(train, n_labels, seed)
    batch_size = 16 if n_labels < 1000 else 64
    epochs = max(epochs, math.ceil(min_steps / math.ceil(len(subset) / batch_size)))
    rows = []
    for name in names:
        strategy = get_strategy(name)
        cfg = FinetuneConfig(epochs=epochs, lm_epochs=lm_epochs, batch_size=batch_size,
                             patience=None, seed=seed)
        result = finetune_classifier(
            subset, valid, test, strategy, cfg,
            pretrained=pretrained if strategy.pretrained else None,
            progress=False, small_model=_sizes_of(pretrained))
        m = result.metrics
        rows.append({"strategy": name, "n_labels": n_labels, "epochs": epochs,
                     "test_accuracy": m["test_accuracy"], "test_top_share": m["test_top_share"],
                     "valid_accuracy": m["valid_accuracy"], "seconds": round(m["seconds"], 1),
                     "trainable_params": m["trainable_params"]})
    return pd.DataFrame(rows)


def _sizes_of(model_dir: str) -> dict:
    from transferlib.checkpoint import read_config

    model = read_config(model_dir)["model"]
    return {k: model.get(k, 0) for k in ("emb_dim", "hidden_dim", "num_layers", "out_dim")}


# -- notebook 08: the levers widget --------------------------------------------------------------

def lever_names() -> list[str]:
    """The names of the levers notebook 08's widget can toggle (baseline excluded)."""
    from transferlib.bench.train import LORA, SOLO_LEVERS

    return [lever.name for lever in [*SOLO_LEVERS, LORA]]


def run_levers(names: Sequence[str], data, repeats: int | None = None) -> pd.DataFrame:
    """``bench_train.compare_levers`` for the baseline plus the levers named (notebook 08):
    tokens/s, speedup, peak memory and accuracy after the same step budget."""
    from transferlib.bench.train import BASELINE, LORA, SOLO_LEVERS, compare_levers

    by_name = {lever.name: lever for lever in [*SOLO_LEVERS, LORA]}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ArgumentError(f"unknown lever(s) {unknown}; allowed: {list(by_name)}")
    levers = [BASELINE] + [by_name[n] for n in names]
    frame = compare_levers(levers, data, repeats)
    keep = ["row", "tokens_per_s", "speedup", "peak_mem_mb", "accuracy", "acc_delta",
            "trainable_params", "note"]
    return frame[[c for c in keep if c in frame.columns]]


# -- notebook 09: sharding and gradient accumulation ---------------------------------------------

def rank_shards(lengths: Sequence[int], batch_size: int, world_size: int, epoch: int = 0,
                seed: int = 0) -> pd.DataFrame:
    """The batches each rank reads in one epoch under data-parallel training (notebook 09):
    one row per (rank, step) with the batch's example indices and lengths."""
    rows = []
    for rank in range(world_size):
        sampler = BucketBatchSampler(lengths, batch_size, seed=seed, num_replicas=world_size,
                                     rank=rank)
        sampler.set_epoch(epoch)
        for step, batch in enumerate(sampler):
            rows.append({"rank": rank, "step": step, "examples": sorted(batch),
                         "lengths": sorted(lengths[i] for i in batch)})
    return pd.DataFrame(rows)


def accumulation_gap(k: int, batch_size: int = 4, seed: int = 0, n: int | None = None
                     ) -> dict[str, float]:
    """Train one tiny classifier for one pass two ways — batches of ``k * batch_size``, and
    batches of ``batch_size`` with ``TrainConfig(accumulate=k)`` — and return the largest weight
    difference between them, next to the difference from plain small batches (notebook 09)."""
    from transferlib import datasets
    if k < 1 or batch_size < 1:
        raise ArgumentError(f"k and batch_size must be >= 1, got {k} and {batch_size}")
    frame = datasets.load_rotten_tomatoes("train").head(n or 4 * k * batch_size)
    vocab = Vocab.build((tokenize(t) for t in frame["text"]), min_freq=1, max_size=2000)
    data = TextClassificationDataset(frame["text"], frame["label"], vocab,
                                     ["negative", "positive"], 32)
    set_seed(seed)
    init = Classifier(ModelConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=12,
                                  num_layers=1, n_classes=2, emb_dropout=0.0,
                                  layer_dropout=0.0, out_dropout=0.0, head_hidden=8))

    def train(batch: int, accumulate: int) -> dict[str, torch.Tensor]:
        model = Classifier(init.cfg)
        model.load_state_dict(init.state_dict())
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        loader = make_loader(data, batch, shuffle=False, bucket=False)
        fit(model, loader, None, ClassificationTask(), optimizer,
            TrainConfig(epochs=1, clip=None, accumulate=accumulate, progress=False))
        return model.state_dict()

    big, accum, small = train(k * batch_size, 1), train(batch_size, k), train(batch_size, 1)

    def gap(a, b) -> float:
        return max(float((a[name] - b[name]).abs().max()) for name in a)

    return {"k": k, "accumulated_vs_big": gap(big, accum), "small_vs_big": gap(big, small),
            "steps_big": len(data) // (k * batch_size) + bool(len(data) % (k * batch_size))}


# -- notebook 10: few-shot prototypes ------------------------------------------------------------

def prototype_accuracy(lm, vocab: Vocab, train: pd.DataFrame, test: pd.DataFrame, k: int,
                       seeds: Sequence[int] = (0, 1, 2), test_features=None) -> pd.DataFrame:
    """Nearest-class-prototype accuracy with ``k`` labelled training reviews per class, one
    row per seed, with each class's share of the predictions (``share_<class>``; notebook 10's
    widget). Pass ``test_features`` to reuse encoded test texts."""
    from transferlib.fewshot import (
        class_prototypes,
        encode_features,
        nearest_prototype,
        sample_per_class,
    )

    classes = sorted(train["label"].unique())
    index = {c: i for i, c in enumerate(classes)}
    y_test = torch.tensor([index[c] for c in test["label"]])
    feats = encode_features(lm.encoder, vocab, list(test["text"])) if test_features is None \
        else test_features
    rows = []
    for seed in seeds:
        support = train.iloc[sample_per_class(list(train["label"]), k, seed)]
        labels = torch.tensor([index[c] for c in support["label"]])
        protos = class_prototypes(encode_features(lm.encoder, vocab, list(support["text"])),
                                  labels, len(classes))
        pred = nearest_prototype(feats, protos)
        rows.append({"k": k, "seed": seed, "accuracy": float((pred == y_test).double().mean()),
                     **{f"share_{c}": float((pred == i).double().mean())
                        for i, c in enumerate(classes)}})
    return pd.DataFrame(rows)
