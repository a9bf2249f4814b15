"""Time to accuracy: how long until a model is good, for the seed's loop and transferlib's arms.

Taught in notebook 07. Tokens/s cannot show that a pretrained model is most of the way there
after a few hundred steps while a random one still answers the majority class; this does. Each
arm trains on the Rotten Tomatoes training split and is scored on the valid split every
``eval_every`` optimizer steps; the clock counts training only (evaluation is paused out).
Arms run back to back in one process, same threads:

- ``naive``: the seed's loop: random init, random-order padded batches, fp32, one rate;
- ``scratch+levers``: random init with transferlib's speed levers (length bucketing, autocast
  where the device runs it);
- ``transfer``: the shipped source model with the given strategy (default ``full``), levers on;
- ``feature-extraction``: the same source, encoder frozen, levers on.

``time_to(curve, threshold)`` is the first wall second at which the valid accuracy reached the
threshold, or None ("not reached": never extrapolated).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch

from . import datasets
from .batching import TextClassificationDataset, make_loader
from .pipeline import initial_classifier, strategy_optimizer
from .strategies import get_strategy
from .training import ClassificationTask, autocast, evaluate, pick_device, set_seed


@dataclass(frozen=True)
class Arm:
    """One way of training: which strategy, and whether the speed levers are on."""

    name: str
    strategy: str
    levers: bool


ARMS = (Arm("naive", "scratch", False), Arm("scratch+levers", "scratch", True),
        Arm("transfer", "full", True), Arm("feature-extraction", "feature-extraction", True))


def _train_arm(arm: Arm, pretrained: str, train: pd.DataFrame, valid: pd.DataFrame,
               epochs: int, eval_every: int, lr: float, seed: int, max_len: int,
               device: torch.device) -> pd.DataFrame:
    """Valid accuracy after every ``eval_every`` steps: rows of (steps, tokens, seconds, acc)."""
    set_seed(seed)
    strategy = get_strategy(arm.strategy)
    model, vocab, _, _ = initial_classifier(train, valid, strategy, 2, pretrained, None, 0, lr,
                                            seed, False, device, False, None, False,
                                            "shipped", None)
    model.to(device)
    classes = sorted(train["label"].unique())
    data = make_loader(TextClassificationDataset(train["text"], train["label"], vocab, classes,
                                                 max_len), 64, shuffle=True, seed=seed,
                       bucket=arm.levers)
    valid_dl = make_loader(TextClassificationDataset(valid["text"], valid["label"], vocab,
                                                     classes, max_len), 256, shuffle=False)
    optimizer, _, _ = strategy_optimizer(model, strategy, lr, epochs * len(data), epochs)
    task, amp = ClassificationTask(), arm.levers
    rows = [{"arm": arm.name, "steps": 0, "tokens": 0, "seconds": 0.0,
             "valid_accuracy": evaluate(model, valid_dl, task, device, amp)["accuracy"]}]
    steps = tokens = 0
    clock = 0.0
    for epoch in range(epochs):
        data.batch_sampler.set_epoch(epoch) if arm.levers else None
        model.train()
        start = time.perf_counter()
        for batch in data:
            with autocast(device, amp):
                loss, _, _, _ = task.step(model, batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            steps += 1
            tokens += int(batch[1].sum())
            if steps % eval_every == 0:
                clock += time.perf_counter() - start
                acc = evaluate(model, valid_dl, task, device, amp)["accuracy"]
                rows.append({"arm": arm.name, "steps": steps, "tokens": tokens,
                             "seconds": clock, "valid_accuracy": acc})
                model.train()
                start = time.perf_counter()
        clock += time.perf_counter() - start
    return pd.DataFrame(rows)


def time_to(curve: pd.DataFrame, threshold: float) -> pd.Series | None:
    """The first row of ``curve`` whose valid accuracy reached ``threshold`` (None: never)."""
    hit = curve[curve["valid_accuracy"] >= threshold]
    return None if hit.empty else hit.iloc[0]


def time_to_accuracy(pretrained: str, epochs: int = 6, eval_every: int = 40, lr: float = 2e-3,
                     seed: int = 0, max_len: int = 96, arms: tuple[Arm, ...] = ARMS,
                     max_train: int | None = None, levels: tuple[float, ...] = (0.70, 0.75, 0.80),
                     device: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(curves, table)``: every arm's accuracy curve, and per threshold (the naive loop's
    best valid accuracy, then ``levels``) each arm's seconds/steps/tokens to reach it and its
    speed-up over the naive loop (NaN where either did not reach it)."""
    dev = pick_device(device)
    train = datasets.load_rotten_tomatoes("train")
    valid = datasets.load_rotten_tomatoes("valid")
    if max_train:
        train = train.sample(n=min(max_train, len(train)), random_state=seed)
    curves = pd.concat([_train_arm(a, pretrained, train, valid, epochs, eval_every, lr, seed,
                                   max_len, dev) for a in arms], ignore_index=True)
    naive_best = float(curves.loc[curves["arm"] == arms[0].name, "valid_accuracy"].max())
    rows = []
    for name, threshold in [("naive best", naive_best)] + [(f"{v:.0%}", v) for v in levels]:
        base = time_to(curves[curves["arm"] == arms[0].name], threshold)
        for arm in arms:
            hit = time_to(curves[curves["arm"] == arm.name], threshold)
            rows.append({"threshold": name, "valid_accuracy": threshold, "arm": arm.name,
                         "reached": hit is not None,
                         "seconds": None if hit is None else float(hit["seconds"]),
                         "steps": None if hit is None else int(hit["steps"]),
                         "tokens": None if hit is None else int(hit["tokens"]),
                         "speedup_vs_naive": (float(base["seconds"]) / float(hit["seconds"]))
                         if hit is not None and base is not None and hit["seconds"] > 0
                         else None})
    return curves, pd.DataFrame(rows)


def plot_curves(curves: pd.DataFrame, path) -> None:
    """Valid accuracy against training wall seconds, all arms on one plot (PNG)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, part in curves.groupby("arm", sort=False):
        ax.plot(part["seconds"], part["valid_accuracy"], marker=".", label=name)
    ax.set_xlabel("training wall seconds (evaluation excluded)")
    ax.set_ylabel("valid accuracy")
    ax.legend()
    fig.savefig(path, dpi=110, format="png")
