"""The benchmark's training half: one fine-tuning run per lever, measured the same way.

Taught in notebook 08 (``python -m transferlib bench``; the orchestration lives in ``bench``).
Every row starts from the same pretrained classifier (the shipped source LM moved onto the
Rotten Tomatoes vocabulary with ``transfer.transfer_encoder``), trains with ``training.fit``
(the one training loop) and differs from the baseline in one lever only. Rows are warmed up,
then timed round-robin (``run_interleaved``): each round times one chunk of ``steps`` optimizer
steps per row, so a change in the machine's load hits every row alike. Tokens/s counts real
(non-pad) tokens over the chunk's wall time, data loading included; a row reports the median
over its chunks. Each row then trains on to the common step budget and is scored on a fixed
valid subset. Peak memory: one more step per row at the very end (``bench.measure``).
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from transferlib import datasets
from transferlib.batching import (
    DEFAULT_MAX_LEN,
    TextClassificationDataset,
    eval_loader,
    make_loader,
)
from transferlib.bench.measure import PeakMemory, Stream
from transferlib.checkpoint import load_language_model
from transferlib.compression import apply_lora
from transferlib.config import repo_relative
from transferlib.model import Classifier, LanguageModel, ModelConfig, count_parameters
from transferlib.param_groups import freeze_to, layer_groups
from transferlib.pipeline import CLASSIFIER_DROPOUT
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, evaluate, fit, set_seed
from transferlib.transfer import build_target_vocab, transfer_encoder

CLASSES = ["negative", "positive"]


@dataclass(frozen=True)
class Sizes:
    """How much each measurement runs (fast mode: CI-sized; full: the committed table)."""

    batch_size: int = 64
    max_len: int = DEFAULT_MAX_LEN
    n_train: int | None = None        # None: the whole train split
    n_valid: int = 1000               # the fixed valid subset every row is scored on
    warmup: int = 2
    steps: int = 8                    # optimizer steps per timed chunk
    repeats: int = 3                  # timed chunks per row (the median is reported)
    budget: int = 32                  # optimizer steps of training before the accuracy check
    lr: float = 2e-3
    lora_rank: int = 8
    matmul_n: int = 2048
    lm_steps: int = 4
    latency_repeats: int = 5
    compile: bool = True
    tiny_model: bool = False          # fast mode: a random tiny stand-in for a large source LM

    def timed_budget(self) -> int:
        """Steps every row trains: the budget, or more when warm-up + timed chunks need it."""
        return max(self.budget, self.warmup + self.steps * self.repeats)


FULL = Sizes()
FAST = Sizes(batch_size=16, max_len=48, n_train=600, n_valid=96, warmup=1, steps=3,
             repeats=3, budget=12, lora_rank=2, matmul_n=384, lm_steps=2, latency_repeats=3,
             compile=False, tiny_model=True)


@dataclass(frozen=True)
class Lever:
    """One training configuration: the baseline plus the fields that differ."""

    name: str
    what: str
    bucket: bool = False
    packed: bool = False
    amp: bool = False
    workers: int = 0
    pin_memory: bool = False
    compile: bool = False
    batch_mult: int = 1
    freeze: str | None = None         # None | "encoder" | "embedding"
    gradual: bool = False
    lora: bool = False

    def settings(self) -> str:
        """The fields that differ from the baseline, as ``k=v`` text."""
        base = Lever("", "")
        diff = [f"{k}={getattr(self, k)}" for k in ("bucket", "packed", "amp", "workers",
                                                      "pin_memory", "compile", "batch_mult",
                                                      "freeze", "gradual", "lora")
                if getattr(self, k) != getattr(base, k)]
        return " ".join(diff) or "-"


BASELINE = Lever("baseline", "naive: padded random batches, fp32, full fine-tuning, "
                 "DataLoader defaults")
SOLO_LEVERS = [
    replace(BASELINE, name="bucketing", what="length-bucketed batches", bucket=True),
    replace(BASELINE, name="packed", what="packed sequences (pads skipped)", packed=True),
    replace(BASELINE, name="autocast", what="bf16 autocast (CPU) / fp16 + GradScaler (CUDA)",
            amp=True),
    replace(BASELINE, name="frozen encoder", what="only the head trains", freeze="encoder"),
    replace(BASELINE, name="frozen embedding", what="everything but the embedding trains",
            freeze="embedding"),
    replace(BASELINE, name="gradual unfreezing", what="one more group per phase (mean over "
            "phases)", gradual=True),
    replace(BASELINE, name="workers+pin", what="DataLoader num_workers=2, pin_memory",
            workers=2, pin_memory=True),
    replace(BASELINE, name="torch.compile", what="torch.compile(model)", compile=True),
    replace(BASELINE, name="batch x4", what="4x batch, lr x2 (sqrt scaling for Adam)",
            batch_mult=4),
]
LORA = replace(BASELINE, name="LoRA", what="rank-r update on LSTM weights + head; base frozen",
               lora=True)
# levers the "transferlib best" row may combine (they change speed, not the method)
COMBINABLE = ("packed", "amp", "workers", "compile", "batch_mult")


@dataclass
class BenchData:
    """Source LM, target vocabulary, datasets and the model factory shared by every row."""

    source: LanguageModel
    source_vocab: object
    vocab: object
    train: TextClassificationDataset
    valid: TextClassificationDataset
    cfg: ModelConfig
    device: torch.device
    sizes: Sizes
    seed: int
    model_note: str
    info: dict = field(default_factory=dict)

    def fresh_classifier(self) -> Classifier:
        """The same pretrained starting point for every row (seeded head init)."""
        set_seed(self.seed)
        model = Classifier(self.cfg)
        transfer_encoder(model, self.source, self.source_vocab, self.vocab)
        return model.to(self.device)

    def valid_loader(self):
        return eval_loader(self.valid)


def load_bench_data(model_dir: Path, sizes: Sizes, device: torch.device, seed: int) -> BenchData:
    """Load the source LM and the Rotten Tomatoes splits (train subset, fixed valid subset)."""
    source, source_vocab, config = load_language_model(model_dir)
    note = f"{repo_relative(model_dir)} (emb {source.cfg.emb_dim}, " \
        f"hidden {source.cfg.hidden_dim}, " \
           f"{source.cfg.num_layers} layers, vocab {source.cfg.vocab_size})"
    if sizes.tiny_model and (source.cfg.hidden_dim > 64 or source.cfg.emb_dim > 32):
        set_seed(seed)
        source = LanguageModel(ModelConfig(vocab_size=source.cfg.vocab_size, emb_dim=32,
                                           hidden_dim=64, num_layers=source.cfg.num_layers))
        note = f"fast mode: random stand-in (emb 32, hidden 64) with the vocabulary of {note}"
    train_df = datasets.load_rotten_tomatoes("train")
    if sizes.n_train is not None and sizes.n_train < len(train_df):
        train_df = train_df.sample(n=sizes.n_train, random_state=seed)
    valid_df = datasets.load_rotten_tomatoes("valid")
    valid_df = valid_df.sample(n=min(sizes.n_valid, len(valid_df)), random_state=seed)
    vocab = build_target_vocab(source_vocab, train_df["text"], min_freq=2)
    cfg = ModelConfig(**{**source.cfg.to_dict(), **CLASSIFIER_DROPOUT, "vocab_size": len(vocab),
                         "n_classes": 2})
    train = TextClassificationDataset(train_df["text"], train_df["label"], vocab, CLASSES,
                                      sizes.max_len)
    valid = TextClassificationDataset(valid_df["text"], valid_df["label"], vocab, CLASSES,
                                      sizes.max_len)
    info = {"model": note, "n_train": len(train), "n_valid": len(valid),
            "vocab_size": len(vocab), "source_config": config.get("model"),
            "mean_train_tokens": sum(train.lengths) / len(train)}
    return BenchData(source, source_vocab, vocab, train, valid, cfg, device, sizes, seed, note,
                     info)


class LeverRun:
    """One row in progress. ``warmup``, then ``timed_chunk`` once per round (the orchestrator
    interleaves the rows round-robin so that a change in machine load hits every row alike),
    then ``finish``: train on to the common step budget and score the fixed valid subset.

    Gradual unfreezing is timed on a copy of the model (one chunk per phase per round, the
    row's speed is the mean over phases) so that the model itself is trained in the proper
    order: head only first, then one more layer group in each equal share of the budget.
    """

    def __init__(self, lever: Lever, data: BenchData):
        self.lever, self.data = lever, data
        sz, m = data.sizes, lever.batch_mult
        self.row = {"section": "train", "row": lever.name, "what": lever.what,
                    "settings": lever.settings(), "note": ""}
        self.speeds: list[float] = []
        self.done = 0
        self.error: str | None = None
        self.model = data.fresh_classifier()
        if lever.lora:
            apply_lora(self.model, rank=sz.lora_rank)
        if lever.freeze == "encoder":
            freeze_to(self.model, -1)
        elif lever.freeze == "embedding":
            freeze_to(self.model, 1)
        self.lr = sz.lr * math.sqrt(m)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr)
        pin = lever.pin_memory and data.device.type == "cuda"
        loader = make_loader(data.train, sz.batch_size * m, shuffle=True, bucket=lever.bucket,
                             seed=data.seed, num_workers=lever.workers, pin_memory=pin)
        self.stream = Stream(loader)
        self.task = ClassificationTask(packed=lever.packed)
        self.phases = len(layer_groups(self.model)) if lever.gradual else 1
        self.total = max(1, sz.timed_budget() // m)
        self.steps = max(1, sz.steps // m)
        self.warmup_steps = max(1, sz.warmup // m)
        self.timer, self.timer_opt = self.model, self.optimizer
        if lever.gradual:  # time a copy; train the model itself in the proper order
            self.timer = copy.deepcopy(self.model)
            self.timer_opt = torch.optim.AdamW(self.timer.parameters(), lr=self.lr)
            self.steps = max(1, sz.steps // self.phases)
        self.net = torch.compile(self.timer) if lever.compile else self.timer

    def _fit(self, n: int, net=None, optimizer=None):
        net = self.net if net is None else net
        optimizer = self.timer_opt if optimizer is None else optimizer
        return fit(net, self.stream.chunk(n), None, self.task, optimizer,
                   TrainConfig(epochs=1, device=self.data.device, amp=self.lever.amp, clip=1.0,
                               progress=False))

    def _guard(self, action) -> None:
        if self.error is not None:
            return
        try:
            action()
        except Exception as exc:  # a failing lever (e.g. torch.compile) is a row, not a crash
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self.error = f"FAILED: {type(exc).__name__}: {first}"

    def warmup(self) -> None:
        """Untimed steps: kernel selection, compilation, first allocations."""
        def go():
            self._fit(self.warmup_steps)
            if not self.lever.gradual:
                self.done += self.warmup_steps
        self._guard(go)

    def timed_chunk(self) -> None:
        """Time one chunk of ``steps`` optimizer steps (gradual: one per phase, averaged)."""
        def go():
            speeds = []
            for phase in range(self.phases):
                if self.lever.gradual:
                    freeze_to(self.timer, self.phases - 1 - phase)
                if self.data.device.type == "cuda":
                    torch.cuda.synchronize(self.data.device)
                history = self._fit(self.steps)
                speeds.append(float(history["tokens_per_s"].iloc[0]))
            self.speeds.append(statistics.mean(speeds))
            if not self.lever.gradual:
                self.done += self.steps
        self._guard(go)

    def measure_memory(self) -> None:
        """Peak memory of one more training step (all groups trainable for gradual
        unfreezing) above the level before it: activations, gradients, temporaries. Run
        after ``release_freed_memory`` so that freed buffers do not hide it."""
        def go():
            if self.lever.gradual:
                freeze_to(self.timer, 0)
            with PeakMemory(self.data.device) as mem:
                self._fit(1)
            self.row["peak_mem_mb"] = mem.mb
        if self.error is None:
            self._guard(go)

    def finish(self) -> tuple[dict, nn.Module | None]:
        """Train to the budget, evaluate, and return ``(row, trained model or None)``."""
        def go():
            for phase in range(self.phases):
                if self.lever.gradual:
                    freeze_to(self.model, self.phases - 1 - phase)
                rest = (self.total * (phase + 1)) // self.phases - self.done
                if rest > 0:
                    self._fit(rest, self.net if not self.lever.gradual else self.model,
                              self.optimizer)
                    self.done += rest
        self._guard(go)
        if self.error is not None:
            self.row["note"] = self.error
            return self.row, None
        acc = evaluate(self.model, self.data.valid_loader(),
                       ClassificationTask(packed=self.lever.packed), self.data.device,
                       amp=self.lever.amp)["accuracy"]
        self.row.update(tokens_per_s=statistics.median(self.speeds),
                        pad_frac=1 - self.stream.real / max(self.stream.padded, 1),
                        accuracy=acc, trainable_params=count_parameters(self.model),
                        steps_trained=self.done)
        if self.lever.gradual:
            self.row["note"] = (f"tokens/s: mean over its {self.phases} phases; "
                                "trainable: the last phase")
        return self.row, self.model


def run_interleaved(runs: list[LeverRun], repeats: int) -> None:
    """Warm every run up, then time ``repeats`` rounds, each visiting every run once (the
    starting run rotates from round to round)."""
    for run in runs:
        run.warmup()
    for r in range(repeats):
        for i in range(len(runs)):
            runs[(i + r) % len(runs)].timed_chunk()


def compare_levers(levers: list[Lever], data: BenchData, repeats: int | None = None
                   ) -> pd.DataFrame:
    """Measure ``levers`` side by side (interleaved timing, same budget, same valid subset)
    and return one row each, with ``speedup``/``acc_delta`` against the first. The small
    version of the benchmark that notebook 08's widget reruns live."""
    runs = [LeverRun(lever, data) for lever in levers]
    run_interleaved(runs, repeats or data.sizes.repeats)
    rows = [run.finish()[0] for run in runs]
    for run in runs:
        run.measure_memory()
    frame = pd.DataFrame(rows)
    frame["speedup"] = frame["tokens_per_s"] / frame["tokens_per_s"].iloc[0]
    frame["acc_delta"] = frame["accuracy"] - frame["accuracy"].iloc[0]
    return frame


def best_lever(rows: pd.DataFrame, acc_tolerance: float = 0.03) -> Lever:
    """Bucketing plus every combinable lever whose solo row beat the baseline by >= 5 % in
    tokens/s without losing more than ``acc_tolerance`` accuracy."""
    base = rows.set_index("row").loc[BASELINE.name]
    chosen = replace(BASELINE, name="transferlib best", what="bucketing + every lever that "
                     "measured faster (see settings)", bucket=True)
    for lever in SOLO_LEVERS:
        attrs = [a for a in COMBINABLE if getattr(lever, a) != getattr(BASELINE, a)]
        if not attrs or lever.name not in set(rows["row"]):
            continue
        r = rows.set_index("row").loc[lever.name]
        ok = (pd.notna(r.get("tokens_per_s")) and r["tokens_per_s"] >= 1.05 * base["tokens_per_s"]
              and r["accuracy"] >= base["accuracy"] - acc_tolerance)
        if ok:
            chosen = replace(chosen, **{a: getattr(lever, a) for a in attrs})
            if lever.pin_memory:
                chosen = replace(chosen, pin_memory=True)
    return chosen
