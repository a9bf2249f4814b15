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
        if arm.levers:
            data.batch_sampler.set_epoch(epoch)  # bucketing reshuffles per epoch, seeded
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


def repaid_after(table: pd.DataFrame, pretrain_seconds: float, threshold: str) -> float | None:
    """Fine-tuning runs after which the one-time pretraining is repaid at ``threshold``:
    pretraining seconds / seconds that transfer saves against the naive loop per run."""
    rows = table[table["threshold"] == threshold].set_index("arm")
    naive, transfer = rows.loc["naive", "seconds"], rows.loc["transfer", "seconds"]
    if pd.isna(naive) or pd.isna(transfer) or naive <= transfer:
        return None
    return float(pretrain_seconds / (naive - transfer))


def cmd_tta(args) -> int:
    """``python -m transferlib bench-tta``: the time-to-accuracy table, curves and plot."""
    import json
    from pathlib import Path

    from .checkpoint import read_config
    from .config import fast_mode, machine_info, source_model_dir

    fast = args.fast or fast_mode()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or ("results/bench-fast" if fast else "results/bench"))
    out.mkdir(parents=True, exist_ok=True)
    pretrained = str(args.model or source_model_dir())
    start = time.perf_counter()
    curves, table = time_to_accuracy(pretrained, epochs=1 if fast else args.epochs,
                                     eval_every=5 if fast else args.eval_every, seed=args.seed,
                                     max_train=300 if fast else None, device=args.device)
    meta = read_config(pretrained).get("meta", {})
    pretrain_s = float(meta.get("seconds", float("nan")))
    repay = {t: repaid_after(table, pretrain_s, t) for t in table["threshold"].unique()}
    curves.to_csv(out / "tta_curves.csv", index=False)
    table.to_csv(out / "tta.csv", index=False)
    plot_curves(curves, out / "tta.png")
    info = {"command": args.command_line, "fast": fast, "machine": machine_info(),
            "pretrained": pretrained, "pretrain_seconds": pretrain_s,
            "pretraining_repaid_after_runs": repay, "seconds": time.perf_counter() - start,
            "arms": [a.__dict__ for a in ARMS]}
    (out / "tta.json").write_text(json.dumps(info, indent=2, default=str), "utf-8")
    print(table.to_string(index=False))
    print(f"pretraining ({pretrain_s:.0f} s once) is repaid after {repay} fine-tuning runs")
    print(f"wrote {out}/tta.csv, tta_curves.csv, tta.png, tta.json")
    return 0


def add_parser(sub) -> None:
    """Register ``bench-tta`` on the CLI's subparsers."""
    b = sub.add_parser("bench-tta", help="time to accuracy: the naive loop vs transferlib's "
                       "arms (table + curves + PNG + JSON)")
    b.add_argument("--fast", action="store_true", help="CI-sized run (as TRANSFERLIB_FAST=1)")
    b.add_argument("--out", help="output folder (default results/bench, fast: results/bench-fast)")
    b.add_argument("--model", help="source LM folder (default: the shipped one)")
    b.add_argument("--epochs", type=int, default=6)
    b.add_argument("--eval-every", type=int, default=40, help="optimizer steps between evals")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--device", default="auto")
    b.add_argument("--threads", type=int, help="torch intra-op threads")
    b.set_defaults(func=cmd_tta)
