"""The transfer experiments: ablation, low-resource curve, other domains, zero/few-shot.

Taught in notebooks 01 (the questions and the results), 06 (the ablation and the low-resource
curve) and 09 (domains, zero-/few-shot). ``python -m transferlib experiments NAME`` writes, per
experiment, ``NAME_runs.csv`` (one row per run), ``NAME.csv`` (mean ± std over seeds),
``NAME.png`` and ``NAME.json`` (command, machine, seconds, sizes). Every classifier is trained
by ``pipeline.finetune_classifier``.

The target-LM stage (ULMFiT's stage b) only reads unlabelled train texts, so it is the same for
ulmfit, ulmfit-l2, ulmfit-l2sp and every label count of the low-resource curve: it runs once per
seed (``adapt_language_model``), the adapted LM is saved to a temporary model folder, and the
classifier starts from that folder with the strategy's ``target_lm`` switched off. The
classifier's vocabulary then equals the adapted LM's (same unlabelled texts), so every
embedding row is copied; only the dropout masks' random stream differs from an uncached run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from transferlib import datasets
from transferlib.batching import DEFAULT_MAX_LEN
from transferlib.checkpoint import load_language_model, read_config, save_model
from transferlib.config import (
    fast_mode,
    machine_info,
    repo_relative,
    source_model_dir,
)
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError
from transferlib.experiments.records import check_partial, is_done, read_partial, summarize
from transferlib.experiments.report import (
    ablation_intervals,
    domain_comparisons,
    lowres_comparisons,
    transfer_vs_scratch,
    write_outputs,
    zeroshot_comparisons,
)
from transferlib.experiments.samples import stratified_subsample
from transferlib.fewshot import adapt_classifier
from transferlib.model import LanguageModel
from transferlib.pipeline import (
    LM_STAGE_LR_FACTOR,
    FinetuneConfig,
    default_sizes,
    finetune_classifier,
    finetune_language_model,
    score_test_split,
    scratch_sizes,
    target_language_model,
)
from transferlib.strategies import DESCRIPTIONS, PRESETS
from transferlib.text import Vocab
from transferlib.training import set_seed
from transferlib.transfer import build_target_vocab
from transferlib.vectors import load_word_vectors
from transferlib.zeroshot import TEMPLATES, run_zeroshot

EXPERIMENTS = ("ablation", "lowres", "domains", "zeroshot")


@dataclass(frozen=True)
class ExperimentSizes:
    """The experiments' sizes (notebook 01): the mode's fine-tuning sizes (``pipeline.Sizes``),
    the learning rate, and each experiment's own counts."""

    epochs: int  # classifier epochs (at most: early stopping may end a run sooner)
    lm_epochs: int  # epochs of the target-LM stage
    max_train: int | None  # the training pool (None: the whole training split)
    max_eval: int | None  # validation and test reviews (None: all)
    lr: float
    max_plots: int | None  # unlabelled plot sentences for the target-LM stage (None: all)
    lowres_counts: tuple[int | None, ...]  # label counts of the curve (None: the whole pool)
    lowres_min_steps: int  # optimizer steps a small label count gets at least ...
    lowres_max_epochs: int  # ... within this many epochs
    domain_ks: tuple[int, ...]  # labelled sentences of another domain
    max_domain: int | None  # sentences per domain (None: all)
    domain_epochs: int
    fewshot_ks: tuple[int, ...]  # labelled examples per class of the few-shot prototypes


def experiment_sizes(fast: bool | None = None) -> ExperimentSizes:
    """The full or the fast experiments' sizes (None: the fast-mode switch)."""
    fast = fast_mode() if fast is None else fast
    base = default_sizes(fast)
    own = (dict(max_plots=40, lowres_counts=(50, 100, None), lowres_min_steps=12,
                lowres_max_epochs=4, domain_ks=(10, 50), max_domain=200, domain_epochs=2,
                fewshot_ks=(1, 5, 10)) if fast else
           dict(max_plots=None, lowres_counts=(50, 100, 250, 500, 1000, 2000, None),
                lowres_min_steps=150, lowres_max_epochs=30, domain_ks=(10, 50, 200),
                max_domain=None, domain_epochs=10, fewshot_ks=(1, 5, 10, 50)))
    return ExperimentSizes(epochs=base.epochs, lm_epochs=base.lm_epochs,
                           max_train=base.max_train, max_eval=base.max_eval, lr=2e-3, **own)


def adapt_language_model(
    pretrained: str | Path, texts: list[str], valid_texts: list[str], epochs: int, lr: float,
    seed: int, amp: bool = True, device: str = "auto", progress: bool = False,
) -> tuple[LanguageModel, Vocab, pd.DataFrame]:
    """ULMFiT stage (b) on its own, exactly as ``finetune_classifier`` runs it: vocabulary
    transfer to ``source + target words``, then ``finetune_language_model`` (notebook 07)."""
    set_seed(seed)
    source, source_vocab, _ = load_language_model(pretrained)
    vocab = build_target_vocab(source_vocab, texts, min_freq=2)
    lm = target_language_model(source, source_vocab, vocab, load_word_vectors())
    history = finetune_language_model(lm, vocab, texts, valid_texts, epochs=epochs, lr=lr,
                                      seed=seed, amp=amp, device=pick_device(device),
                                      progress=progress)
    return lm, vocab, history


@dataclass
class Context:
    """What the experiments share in one process: data, sizes, adapted LMs, trained models."""

    pretrained: Path
    sizes: ExperimentSizes
    device: str = "auto"
    amp: bool = True
    keep_models: set[str] = field(default_factory=set)
    lm_seconds: dict[int, float] = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory | None = None
    _lms: dict[int, Path] = field(default_factory=dict)
    _runs: dict[tuple, dict] = field(default_factory=dict)

    def __post_init__(self):
        cap, ev, plots = self.sizes.max_train, self.sizes.max_eval, self.sizes.max_plots
        train = datasets.load_rotten_tomatoes("train")
        self.pool = stratified_subsample(train, cap, 0).reset_index(drop=True) if cap and \
            cap < len(train) else train
        self.valid, self.test = (datasets.load_rotten_tomatoes(s) for s in ("valid", "test"))
        if ev:
            self.valid, self.test = self.valid.head(ev), self.test.head(ev)
        self.plots = list(datasets.load_rotten_tomatoes_plots("train")["text"])[:plots]
        self.model_sizes = scratch_sizes(self.pretrained, None)

    def adapted_lm(self, seed: int) -> Path:
        """The target-LM-adapted source model of ``seed`` (trained on first use)."""
        if seed not in self._lms:
            self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="transferlib-lm-")
            lm, vocab, hist = adapt_language_model(
                self.pretrained, list(self.pool["text"]) + self.plots, list(self.valid["text"]),
                self.sizes.lm_epochs, self.sizes.lr * LM_STAGE_LR_FACTOR, seed,
                self.amp, self.device)
            self.lm_seconds[seed] = float(hist["seconds"].sum())
            self._lms[seed] = save_model(Path(self._tmp.name) / f"lm-seed{seed}", lm, vocab,
                                         meta={"adapted_from": str(self.pretrained)})
        return self._lms[seed]

    def finetune(self, name: str, train: pd.DataFrame, seed: int, batch_size: int = 64,
                 epochs: int | None = None, patience: int = 2) -> dict:
        """Metrics of one fine-tune of preset ``name`` on ``train`` (rows of ``self.pool``) for
        ``epochs`` (default: the sizes') with early stopping after ``patience`` epochs without
        a better valid accuracy, with the ``FinetuneResult`` when ``name`` is in
        ``keep_models`` and ``train`` is the whole pool; repeated calls are served from memory."""
        epochs = epochs or self.sizes.epochs
        key = (name, seed, len(train), batch_size, epochs, patience)
        keep = name in self.keep_models and len(train) == len(self.pool)
        if key not in self._runs or (keep and self._runs[key]["result"] is None):
            strategy, pretrained = PRESETS[name], None
            if strategy.target_lm:
                strategy, pretrained = replace(strategy, target_lm=False), self.adapted_lm(seed)
            elif strategy.pretrained:
                pretrained = self.pretrained
            rest = list(self.pool.drop(index=train.index)["text"]) + self.plots
            cfg = FinetuneConfig(epochs=epochs, lr=self.sizes.lr, batch_size=batch_size,
                                 patience=patience, seed=seed, amp=self.amp, device=self.device)
            result = finetune_classifier(
                train, self.valid, self.test, strategy, cfg,
                pretrained=pretrained and str(pretrained), lm_texts=rest,
                small_model=self.model_sizes, progress=False)
            m = result.metrics
            run = {k: m[k] for k in ("test_accuracy", "valid_accuracy", "seconds_per_epoch",
                                     "epochs_run", "trainable_params", "n_train", "n_test",
                                     "test_top_share", "test_correct")}
            run.update(lm_seconds=self.lm_seconds.get(seed, np.nan) if PRESETS[name].target_lm
                       else np.nan, new_words=result.transfer.new if result.transfer else -1)
            self._runs[key] = {**run, "result": result if keep else None}
        return self._runs[key]


def run_ablation(ctx: Context, seeds: Sequence[int], strategies: Sequence[str] = tuple(PRESETS),
                 partial: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every preset on the Rotten Tomatoes splits → ``(runs, summary)`` (notebook 07); with
    ``partial``, the runs so far are rewritten there after each run, and the runs it already
    holds are not run again (an interrupted run resumes)."""
    rows = read_partial(partial)
    for seed in seeds:  # seed-major: an interrupted run still has every strategy of seed 0
        for name in strategies:
            if is_done(rows, strategy=name, seed=seed):
                continue
            run = {k: v for k, v in ctx.finetune(name, ctx.pool, seed).items() if k != "result"}
            rows.append({"strategy": name, "seed": seed, **run})
            print(f"ablation {name} seed {seed}: test {run['test_accuracy']:.4f} valid "
                  f"{run['valid_accuracy']:.4f} ({run['seconds_per_epoch']:.0f} s/epoch)",
                  flush=True)
            if partial:
                pd.DataFrame(rows).to_csv(partial, index=False)
    runs = pd.DataFrame(rows)
    runs = runs[runs["strategy"].isin(strategies) & runs["seed"].isin(seeds)]
    return ablation_summary(runs, strategies)


def ablation_summary(runs: pd.DataFrame, strategies: Sequence[str]
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs in preset order, summary)``: per strategy the mean ± std test accuracy, seeds,
    means of the other columns, and Δ vs scratch with its 95 % interval (notebook 07)."""
    order = {name: i for i, name in enumerate(strategies)}
    runs = runs.sort_values(["strategy", "seed"], key=lambda c: c.map(order) if c.name ==
                            "strategy" else c, kind="stable").reset_index(drop=True)
    summary = summarize(runs, ["strategy"]).merge(
        runs.groupby("strategy", sort=False)[["valid_accuracy", "seconds_per_epoch",
                                              "trainable_params", "lm_seconds",
                                              "test_top_share"]].mean(),
        on="strategy")
    summary.insert(1, "description", [DESCRIPTIONS[s] for s in summary["strategy"]])
    if "scratch" in set(runs["strategy"]) and runs["seed"].nunique() > 1:
        intervals = ablation_intervals(runs)
        summary = summary.merge(intervals[["strategy", "delta_vs_scratch", "ci_low", "ci_high",
                                           "verdict", "paired"]], on="strategy", how="left")
    return runs, summary


def lowres_counts(ctx: Context) -> list[int]:
    """The label counts of the curve that the pool can provide, 'all' as ``len(pool)``."""
    return sorted({len(ctx.pool) if n is None else n for n in ctx.sizes.lowres_counts
                   if n is None or n <= len(ctx.pool)})


def lowres_epochs(n: int, batch_size: int, sizes: ExperimentSizes) -> tuple[int, int]:
    """``(epochs, patience)`` for ``n`` labels: the usual epochs, or more when that would give
    fewer than ``lowres_min_steps`` optimizer steps (50 labels in batches of 16 make 4 steps an
    epoch), capped at ``lowres_max_epochs``; the early-stopping patience (2 epochs) grows by the
    same factor, so a model that still answers the majority class after 3 short epochs is not
    stopped before it has learned anything (notebook 07)."""
    steps_per_epoch = -(-n // batch_size)
    wanted = -(-sizes.lowres_min_steps // steps_per_epoch)
    epochs = max(sizes.epochs, min(sizes.lowres_max_epochs, wanted))
    return epochs, -(-2 * epochs // sizes.epochs)


def lowres_run(ctx: Context, name: str, n: int, seed: int) -> dict:
    """One point of the curve: preset ``name`` fine-tuned on ``n`` labels (a stratified sample
    of seed ``seed``; the whole pool for ``len(ctx.pool)``) → the run's row. Batch 16 below
    1000 labels, 64 from there; small label counts get more epochs (``lowres_epochs``)."""
    batch = 16 if n < 1000 else 64
    epochs, patience = lowres_epochs(n, batch, ctx.sizes)
    train = ctx.pool if n == len(ctx.pool) else stratified_subsample(ctx.pool, n, seed)
    run = ctx.finetune(name, train, seed, batch_size=batch, epochs=epochs, patience=patience)
    return {"strategy": name, "n_labels": n, "seed": seed, "epochs": epochs,
            "patience": patience, **{k: v for k, v in run.items() if k != "result"}}


def run_lowres(ctx: Context, seeds: Sequence[int], strategy: str = "ulmfit",
               arms: Sequence[str] | None = None, partial: Path | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test accuracy vs number of labels for each of ``arms`` (default: ``scratch`` and
    ``strategy``) (notebook 07), each point a ``lowres_run``; RT valid for early stopping in
    every arm. Seed-major, resumable from ``partial`` like ``run_ablation``."""
    arms = list(arms or ("scratch", strategy))
    counts = lowres_counts(ctx)
    rows = read_partial(partial)
    for seed in seeds:
        for n in counts:
            for name in arms:
                if is_done(rows, strategy=name, n_labels=n, seed=seed):
                    continue
                rows.append(lowres_run(ctx, name, n, seed))
                print(f"lowres {name} {n} labels seed {seed}: test "
                      f"{rows[-1]['test_accuracy']:.4f}", flush=True)
                if partial:
                    pd.DataFrame(rows).to_csv(partial, index=False)
    runs = pd.DataFrame(rows)
    runs = runs[runs["strategy"].isin(arms) & runs["n_labels"].isin(counts)
                & runs["seed"].isin(seeds)]
    return runs, summarize(runs, ["strategy", "n_labels"])


def _scored(rt, ctx: Context, model, frame: pd.DataFrame) -> dict:
    """Accuracy and per-sentence right/wrong record of ``model`` on ``frame``, in its order."""
    m = score_test_split(model, rt.vocab, rt.classes, frame, DEFAULT_MAX_LEN,
                         pick_device(ctx.device), ctx.amp)
    return {"accuracy": m["test_accuracy"], "test_correct": m["test_correct"]}


def run_domains(ctx: Context, seeds: Sequence[int], strategy: str = "ulmfit"
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The RT classifier on IMDB/Yelp/Amazon sentences as is, adapted with k labelled
    sentences of the domain, and trained on those k from scratch; every score is on the
    domain's other sentences, never on the k (notebook 10)."""
    ctx.keep_models.add(strategy)
    rows, cap, epochs = [], ctx.sizes.max_domain, ctx.sizes.domain_epochs
    for seed in seeds:
        rt = ctx.finetune(strategy, ctx.pool, seed)["result"]
        for domain in datasets.DOMAINS:
            pool = datasets.load_domain_sentences(domain)
            pool = stratified_subsample(pool, cap, 0) if cap and cap < len(pool) else pool
            rows.append({"domain": domain, "k": 0, "seed": seed, "method": "rt-as-is",
                         **_scored(rt, ctx, rt.model, pool), "n_eval": len(pool)})
            for k in ctx.sizes.domain_ks:
                shots = stratified_subsample(pool, k, seed)
                rest = pool.drop(index=shots.index)
                adapted = adapt_classifier(rt.model, rt.vocab, rt.classes, shots, epochs,
                                           ctx.sizes.lr / 2, seed, 16, ctx.device, ctx.amp)
                scratch = finetune_classifier(
                    shots, shots, rest, PRESETS["scratch"],
                    FinetuneConfig(epochs=epochs, lr=ctx.sizes.lr, batch_size=16,
                                   patience=None, seed=seed, amp=ctx.amp, device=ctx.device),
                    small_model=ctx.model_sizes, progress=False).metrics
                for method, score in (("rt-as-is", _scored(rt, ctx, rt.model, rest)),
                                      ("rt-adapted", _scored(rt, ctx, adapted, rest)),
                                      ("scratch", {"accuracy": scratch["test_accuracy"],
                                                   "test_correct": scratch["test_correct"]})):
                    rows.append({"domain": domain, "k": k, "seed": seed, "method": method,
                                 **score, "n_eval": len(rest)})
    runs = pd.DataFrame(rows)
    return runs, summarize(runs, ["domain", "method", "k"], "accuracy")


def run_experiment(name: str, out: str | Path, seeds: Sequence[int], fast: bool | None = None,
                   pretrained: str | Path | None = None, strategy: str = "ulmfit",
                   strategies: Sequence[str] | None = None, device: str = "auto",
                   amp: bool = True, sizes: ExperimentSizes | None = None,
                   ctx: Context | None = None, command: str = "",
                   arms: Sequence[str] | None = None) -> dict[str, Path]:
    """Run one experiment and write its files; returns their paths (notebook 01). ``sizes``
    replaces ``experiment_sizes(fast)``; pass ``ctx`` to share adapted LMs and models."""
    if name not in EXPERIMENTS:
        raise ArgumentError(f"unknown experiment {name!r}; allowed: {EXPERIMENTS}")
    if not seeds:
        raise ArgumentError("pass at least one seed")
    start = time.perf_counter()
    ctx = ctx or Context(Path(pretrained or source_model_dir()),
                         sizes or experiment_sizes(fast), device, amp)
    meta: dict = {"experiment": name, "command": command, "seeds": list(seeds),
                  "fast": fast_mode() if fast is None else fast, "sizes": asdict(ctx.sizes),
                  "pretrained": repo_relative(ctx.pretrained),
                  "source_model": read_config(ctx.pretrained)["model"],
                  "n_train_pool": len(ctx.pool), "n_valid": len(ctx.valid),
                  "n_test": len(ctx.test)}
    partial = Path(out) / f"{name}_runs.partial.csv"
    if name == "ablation":
        check_partial(partial, meta)
        runs, summary = run_ablation(ctx, seeds, strategies or tuple(PRESETS), partial=partial)
    elif name == "lowres":
        check_partial(partial, meta)
        runs, summary = run_lowres(ctx, seeds, strategy, arms, partial=partial)
        meta["answer"] = transfer_vs_scratch(summary, strategy)
        meta["comparisons"] = lowres_comparisons(runs)
        print(meta["answer"])
        print("\n".join(c["text"] for c in meta["comparisons"]))
    elif name == "domains":
        runs, summary = run_domains(ctx, seeds, strategy)
        meta["comparisons"] = domain_comparisons(runs)
    else:
        runs = run_zeroshot(ctx.pretrained, ctx.pool, ctx.test, seeds, ctx.sizes.fewshot_ks,
                            ctx.device, vectors=load_word_vectors())
        shares = [c for c in runs.columns if c.startswith("pred_share_")]
        summary = summarize(runs, ["method", "k"], "accuracy").merge(
            runs.groupby(["method", "k"], sort=False)[shares].mean().reset_index(),
            on=["method", "k"])
        meta["templates"] = [[t, w] for t, w in TEMPLATES]
        meta["comparisons"] = zeroshot_comparisons(runs)
    meta.update(strategy=strategy, lm_seconds=ctx.lm_seconds, machine=machine_info(),
                seconds=time.perf_counter() - start)
    paths = write_outputs(Path(out), name, runs, summary, meta)
    for done in (partial, partial.with_suffix(".json")):  # finished: nothing left to resume
        done.unlink(missing_ok=True)
    print(summary.to_string(index=False))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return paths
