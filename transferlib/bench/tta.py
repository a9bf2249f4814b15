"""Time to accuracy: how long until a model is good, for the seed's loop and transferlib's arms.

Taught in notebook 08. Tokens/s cannot show that a pretrained model is most of the way there
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

from transferlib import datasets
from transferlib.batching import DEFAULT_MAX_LEN, TextClassificationDataset, make_loader
from transferlib.cli_helpers import add_device_arguments
from transferlib.devices import autocast, pick_device
from transferlib.naive import NaiveTextClassifier
from transferlib.pipeline import FinetuneConfig, initial_classifier, strategy_optimizer
from transferlib.strategies import get_strategy
from transferlib.training import set_seed

SEED_LOOP = "seed"  # an Arm.strategy that is not a preset: the blog post's own model and loop
SEED_SIZES = {"embedding_dim": 50, "hidden_dim": 128, "batch_size": 128, "lr": 1e-3}


@dataclass(frozen=True)
class Arm:
    """One way of training: a strategy preset (or ``SEED_LOOP``) and whether the speed levers
    (length bucketing, autocast where the device runs it, clipping, the preset's schedule)
    are on."""

    name: str
    strategy: str
    levers: bool


ARMS = (Arm("naive", SEED_LOOP, False), Arm("scratch+levers", "scratch", True),
        Arm("transfer", "full", True), Arm("feature-extraction", "feature-extraction", True))


@dataclass
class _Run:
    """What one arm trains with: ``forward(ids, lengths) -> logits`` and its optimizer."""

    model: torch.nn.Module
    forward: object
    optimizer: torch.optim.Optimizer
    scheduler: object
    on_epoch_start: object
    train: object
    valid: object
    setup_seconds: float
    vocab: object = None


def _setup(arm: Arm, pretrained: str, train: pd.DataFrame, valid: pd.DataFrame, epochs: int,
           lr: float, seed: int, max_len: int, lm_epochs: int, device: torch.device) -> _Run:
    """The arm's model, loaders and optimizer. The seed's loop: ``NaiveTextClassifier``
    (embedding → one LSTM → last hidden state read after the padding → linear), random init,
    random-order padded batches of 128, fp32, Adam at PyTorch's default rate 1e-3, no
    clipping, over the same vocabulary as the scratch arm. A target-LM stage, when the preset
    has one, is timed as setup and counted in the arm's clock."""
    set_seed(seed)
    seed_loop = arm.strategy == SEED_LOOP
    strategy = get_strategy("scratch" if seed_loop else arm.strategy)
    start = time.perf_counter()
    cfg = FinetuneConfig(lm_epochs=lm_epochs, lr=lr, seed=seed, amp=arm.levers)
    model, vocab, _, _ = initial_classifier(train, valid, strategy, 2, cfg, device,
                                            pretrained=pretrained, lm_texts=list(train["text"]))
    setup = time.perf_counter() - start if strategy.target_lm else 0.0
    classes = sorted(train["label"].unique())
    batch = SEED_SIZES["batch_size"] if seed_loop else 64

    def loader(frame: pd.DataFrame, size: int, shuffle: bool):
        data = TextClassificationDataset(frame["text"], frame["label"], vocab, classes, max_len)
        return make_loader(data, size, shuffle=shuffle, seed=seed, bucket=arm.levers)

    train_dl, valid_dl = loader(train, batch, True), loader(valid, 256, False)
    if seed_loop:
        set_seed(seed)
        model = NaiveTextClassifier(len(vocab), SEED_SIZES["embedding_dim"],
                                    SEED_SIZES["hidden_dim"], len(classes)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=SEED_SIZES["lr"])
        return _Run(model, lambda ids, lengths: model(ids.t()), optimizer, None, None,
                    train_dl, valid_dl, 0.0, vocab)
    model.to(device)
    optimizer, scheduler, on_start = strategy_optimizer(model, strategy, lr,
                                                        epochs * len(train_dl), epochs)
    return _Run(model, model, optimizer, scheduler, on_start, train_dl, valid_dl, setup, vocab)


@torch.no_grad()
def _accuracy(run: _Run, device: torch.device, amp: bool) -> float:
    """Valid accuracy of the arm's model in eval mode."""
    run.model.eval()
    right = total = 0
    for ids, lengths, labels in run.valid:
        with autocast(device, amp):
            logits = run.forward(ids.to(device), lengths)
        right += int((logits.argmax(1).cpu() == labels).sum())
        total += len(labels)
    run.model.train()
    return right / total


def _train_arm(arm: Arm, pretrained: str, train: pd.DataFrame, valid: pd.DataFrame,
               epochs: int, eval_every: int, lr: float, seed: int, max_len: int,
               lm_epochs: int, device: torch.device) -> tuple[pd.DataFrame, _Run]:
    """Valid accuracy after every ``eval_every`` steps → (rows of (steps, tokens, seconds,
    valid_accuracy), the arm's run: trained model and vocabulary). The clock counts training
    (and a target-LM stage), never evaluation."""
    run = _setup(arm, pretrained, train, valid, epochs, lr, seed, max_len, lm_epochs, device)
    amp = arm.levers
    clock, steps, tokens = run.setup_seconds, 0, 0
    rows = [{"arm": arm.name, "steps": 0, "tokens": 0, "seconds": clock,
             "valid_accuracy": _accuracy(run, device, amp)}]
    for epoch in range(epochs):
        if arm.levers:
            run.train.batch_sampler.set_epoch(epoch)  # bucketing reshuffles per epoch, seeded
        if run.on_epoch_start:
            run.on_epoch_start(epoch)
        start = time.perf_counter()
        for ids, lengths, labels in run.train:
            with autocast(device, amp):
                logits = run.forward(ids.to(device), lengths)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels.to(device))
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if arm.levers:
                torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
            run.optimizer.step()
            if run.scheduler:
                run.scheduler.step()
            steps, tokens = steps + 1, tokens + int(lengths.sum())
            if steps % eval_every == 0:
                clock += time.perf_counter() - start
                rows.append({"arm": arm.name, "steps": steps, "tokens": tokens,
                             "seconds": clock, "valid_accuracy": _accuracy(run, device, amp)})
                start = time.perf_counter()
        clock += time.perf_counter() - start
    if steps % eval_every:
        rows.append({"arm": arm.name, "steps": steps, "tokens": tokens, "seconds": clock,
                     "valid_accuracy": _accuracy(run, device, amp)})
    return pd.DataFrame(rows), run


def time_to(curve: pd.DataFrame, threshold: float) -> pd.Series | None:
    """The first row of ``curve`` whose valid accuracy reached ``threshold`` (None: never)."""
    hit = curve[curve["valid_accuracy"] >= threshold]
    return None if hit.empty else hit.iloc[0]


def time_to_accuracy(pretrained: str, epochs: int = 6, eval_every: int = 20, lr: float = 2e-3,
                     seed: int = 0, max_len: int = DEFAULT_MAX_LEN, arms: tuple[Arm, ...] = ARMS,
                     max_train: int | None = None, levels: tuple[float, ...] = (0.70, 0.75, 0.80),
                     lm_epochs: int = 2, device: str = "auto"
                     ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, _Run]]:
    """``(curves, table, models)``: every arm's accuracy curve; per threshold (the naive loop's
    best valid accuracy, then ``levels``) each arm's seconds/steps/tokens to reach it and its
    speed-up over the naive loop (None where either did not reach it); each arm's run
    (trained model + vocabulary)."""
    dev = pick_device(device)
    train = datasets.load_rotten_tomatoes("train")
    valid = datasets.load_rotten_tomatoes("valid")
    if max_train:
        train = train.sample(n=min(max_train, len(train)), random_state=seed)
    parts, models = [], {}
    for arm in arms:
        curve, models[arm.name] = _train_arm(arm, pretrained, train, valid, epochs, eval_every,
                                             lr, seed, max_len, lm_epochs, dev)
        parts.append(curve)
        print(f"tta {arm.name}: best valid {curve['valid_accuracy'].max():.4f} "
              f"in {curve['seconds'].iloc[-1]:.0f} s", flush=True)
    curves = pd.concat(parts, ignore_index=True)
    return curves, threshold_table(curves, [a.name for a in arms], levels), models


def threshold_table(curves: pd.DataFrame, arms: list[str], levels: tuple[float, ...],
                    reference: str = "scratch+levers") -> pd.DataFrame:
    """Seconds, steps and tokens until each arm first reached each threshold (the first arm's
    best valid accuracy, then ``levels``), and the speed-up over the first arm (the naive loop)
    and over ``reference`` (transferlib from scratch), None where either never got there."""
    naive_best = float(curves.loc[curves["arm"] == arms[0], "valid_accuracy"].max())

    def ratio(base, hit) -> float | None:
        if hit is None or base is None or hit["seconds"] <= 0 or base["seconds"] <= 0:
            return None  # never reached, or reached before any training (at step 0)
        return float(base["seconds"]) / float(hit["seconds"])

    rows = []
    for name, threshold in [("naive best", naive_best)] + [(f"{v:.0%}", v) for v in levels]:
        base = time_to(curves[curves["arm"] == arms[0]], threshold)
        ref = time_to(curves[curves["arm"] == reference], threshold)
        for arm in arms:
            hit = time_to(curves[curves["arm"] == arm], threshold)
            rows.append({"threshold": name, "valid_accuracy": threshold, "arm": arm,
                         "reached": hit is not None,
                         "seconds": None if hit is None else float(hit["seconds"]),
                         "steps": None if hit is None else int(hit["steps"]),
                         "tokens": None if hit is None else int(hit["tokens"]),
                         "speedup_vs_naive": ratio(base, hit),
                         "speedup_vs_scratch": ratio(ref, hit)})
    return pd.DataFrame(rows)


def arm_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per arm: best and final valid accuracy, training seconds, tokens and tokens/s (the
    throughput ratio against the first arm, the naive loop)."""
    last = curves.groupby("arm", sort=False).tail(1).set_index("arm")
    out = pd.DataFrame({"best_valid_accuracy": curves.groupby("arm", sort=False)
                        ["valid_accuracy"].max(),
                        "final_valid_accuracy": last["valid_accuracy"],
                        "seconds": last["seconds"], "tokens": last["tokens"]})
    out["tokens_per_s"] = out["tokens"] / out["seconds"]
    out["tokens_per_s_vs_naive"] = out["tokens_per_s"] / out["tokens_per_s"].iloc[0]
    return out.reset_index()


def plot_curves(curves: pd.DataFrame, path, majority: float | None = None) -> None:
    """Valid accuracy against training wall seconds, all arms on one plot (PNG), with the
    constant answer's accuracy (``majority``) as a dashed line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for name, part in curves.groupby("arm", sort=False):
        ax.plot(part["seconds"], part["valid_accuracy"], marker=".", label=name)
    if majority is not None:
        ax.axhline(majority, color="gray", ls="--", lw=1,
                   label=f"majority class ({majority:.1%})")
    ax.set_xlabel("training wall seconds (evaluation excluded)")
    ax.set_ylabel("valid accuracy")
    ax.legend()
    fig.savefig(path, dpi=110, format="png")


def repaid_after(table: pd.DataFrame, pretrain_seconds: float, threshold: str,
                 against: str = "naive") -> float | None:
    """Fine-tuning runs after which the one-time pretraining is repaid at ``threshold``:
    pretraining seconds / seconds that transfer saves against arm ``against`` per run (None
    when either never reached it or transfer saves nothing)."""
    rows = table[table["threshold"] == threshold].set_index("arm")
    other, transfer = rows.loc[against, "seconds"], rows.loc["transfer", "seconds"]
    if pd.isna(other) or pd.isna(transfer) or other <= transfer:
        return None
    return float(pretrain_seconds / (other - transfer))


def majority_share(frame: pd.DataFrame) -> float:
    """The share of the most frequent label: what a constant answer scores."""
    return float(frame["label"].value_counts(normalize=True).max())


def cmd_tta(args) -> int:
    """``python -m transferlib bench-tta``: time to accuracy (table, curves, PNG), each arm's
    throughput, and the deployment table of the transfer arm's classifier (PyTorch fp32 eager
    vs ONNX Runtime fp32/int8 vs PyTorch int8 dynamic) — issue 14's efficiency bench."""
    import json
    import tempfile
    from pathlib import Path

    from transferlib.checkpoint import read_config
    from transferlib.config import (
        fast_mode,
        machine_info,
        repo_relative,
        source_model_dir,
    )
    from transferlib.export_onnx import check_export, compare_runtimes, export_classifier, session

    fast = args.fast or fast_mode()
    out = Path(args.out or ("results/bench-fast" if fast else "results/bench"))
    out.mkdir(parents=True, exist_ok=True)
    pretrained = str(args.model or source_model_dir())
    arms = tuple(a if a.name != "transfer" else Arm("transfer", args.strategy, True)
                 for a in ARMS)
    start = time.perf_counter()
    curves, table, runs = time_to_accuracy(
        pretrained, epochs=1 if fast else args.epochs, eval_every=5 if fast else args.eval_every,
        seed=args.seed, max_train=300 if fast else None, arms=arms,
        lm_epochs=1 if fast else 2, device=args.device)
    summary = arm_summary(curves)
    pretrain_s = float(read_config(pretrained).get("meta", {}).get("seconds", float("nan")))
    floor = majority_share(datasets.load_rotten_tomatoes("valid"))
    naive_learned = bool(summary["best_valid_accuracy"].iloc[0] > floor + 0.005)
    repay = {against: {t: repaid_after(table, pretrain_s, t, against)
                       for t in table["threshold"].unique()
                       if not (t == "naive best" and not naive_learned)}
             for against in ("naive", "scratch+levers")}
    test = datasets.load_rotten_tomatoes("test")
    transfer = runs["transfer"]
    rows = test.head(128) if fast else test
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_classifier(transfer.model.cpu().float(), Path(tmp) / "check.onnx")
        check = check_export(transfer.model, session(onnx_path), transfer.vocab,
                             list(rows["text"]), DEFAULT_MAX_LEN)
        deploy = compare_runtimes(transfer.model, transfer.vocab, sorted(test["label"].unique()),
                                  rows, tmp, DEFAULT_MAX_LEN,
                                  3 if fast else args.repeats)
    for name, frame in (("tta", table), ("tta_curves", curves), ("tta_arms", summary),
                        ("onnx", deploy)):
        frame.to_csv(out / f"{name}.csv", index=False)
    plot_curves(curves, out / "tta.png", floor)
    info = {"command": args.command_line, "fast": fast, "machine": machine_info(),
            "threads": torch.get_num_threads(), "pretrained": repo_relative(pretrained),
            "pretrain_seconds": pretrain_s, "pretraining_repaid_after_runs": repay,
            "valid_majority_share": floor, "naive_beat_majority": naive_learned,
            "seconds": time.perf_counter() - start, "arms": [a.__dict__ for a in arms],
            "seed_loop": SEED_SIZES, "onnx_check": check}
    (out / "tta.json").write_text(json.dumps(info, indent=2, default=str), "utf-8")
    print(table.to_string(index=False), summary.to_string(index=False),
          deploy.to_string(index=False), sep="\n\n")
    print(f"ONNX Runtime vs PyTorch: {check}")
    if not naive_learned:
        print(f"the naive loop never beat the valid majority share ({floor:.4f}): its 'best' is "
              "a constant answer, so read the fixed levels")
    print(f"pretraining ({pretrain_s:.0f} s once) is repaid after {repay} fine-tuning runs")
    print(f"wrote {out}/tta.csv, tta_curves.csv, tta_arms.csv, onnx.csv, tta.png, tta.json")
    return 0


def add_parser(sub) -> None:
    """Register ``bench-tta`` on the CLI's subparsers."""
    from transferlib.config import positive_int

    b = sub.add_parser("bench-tta", help="time to accuracy: the seed's loop vs transferlib's "
                       "arms, + the ONNX deployment table (CSV + PNG + JSON)")
    b.add_argument("--fast", action="store_true", help="CI-sized run (as TRANSFERLIB_FAST=1)")
    b.add_argument("--out", help="output folder (default results/bench, fast: results/bench-fast)")
    b.add_argument("--model", help="source LM folder (default: the shipped one)")
    b.add_argument("--strategy", default="full", help="the transfer arm's preset (default full)")
    b.add_argument("--epochs", type=positive_int, default=6)
    b.add_argument("--eval-every", type=positive_int, default=20,
                   help="optimizer steps between evals")
    b.add_argument("--repeats", type=int, default=30, help="latency repeats (median)")
    b.add_argument("--seed", type=int, default=0)
    add_device_arguments(b, fallback=False)
    b.add_argument("--threads", type=int, help="torch intra-op threads")
    b.set_defaults(func=cmd_tta)
