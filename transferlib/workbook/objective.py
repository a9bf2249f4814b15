"""The regularized objective  min_w 1/n Σ L(y_i, f(x_i; w)) + λ R(w),  made concrete (notebook 04).

* ``objective_terms`` evaluates each term of the objective on one batch of a real model;
* ``toy_solutions`` solves a two-parameter version in closed form, to see where L2 (pull toward
  0) and L2-SP (pull toward the pretrained w₀) lead as λ grows;
* ``retrain_with_lambda`` fine-tunes the shipped source model on a few hundred labelled reviews
  with a chosen R and λ (through ``pipeline.finetune_classifier``) and reports validation
  accuracy and the encoder's drift ‖w − w₀‖; results are cached, so a widget can call it freely;
* ``tradeoff_curve`` / ``plot_tradeoff`` sweep λ for both regularizers;
* ``compare_with_scratch`` runs the same small fine-tuning from pretrained and from random
  weights (notebook 01's widget: how many labels does pretraining save?).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from transferlib import datasets
from transferlib.checkpoint import load_model
from transferlib.config import fast_mode, source_model_dir
from transferlib.errors import ArgumentError
from transferlib.experiments.runs import stratified_subsample
from transferlib.model import LanguageModel, ModelConfig
from transferlib.pipeline import FinetuneConfig, finetune_classifier
from transferlib.regularizers import weight_drift
from transferlib.strategies import REGULARIZERS, get_strategy
from transferlib.transfer import build_target_vocab, transfer_encoder
from transferlib.vectors import load_word_vectors

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def objective_terms(model: nn.Module, batch, regularizer=None) -> dict[str, float]:
    """The objective's terms on one classification batch ``(ids, lengths, labels)``, in eval
    mode: the data term (mean cross-entropy L over the batch), R(w), λ and λ·R(w), and total
    (notebook 04)."""
    ids, lengths, labels = batch
    model.eval()
    with torch.no_grad():
        data_term = float(F.cross_entropy(model(ids, lengths), labels))
        r = 0.0 if regularizer is None else float(regularizer())
    lam = 0.0 if regularizer is None else regularizer.lam
    return {"n": int(labels.numel()), "data_term": data_term, "R": r, "lambda": lam,
            "lambda_R": lam * r, "objective": data_term + lam * r}


def parameter_table(model: nn.Module) -> pd.DataFrame:
    """The parameters w, one row per tensor: name, shape, count, ‖w‖ and whether it is
    pretrained (the encoder, what L2-SP anchors at w₀) or new (the classifier head); notebook 04."""
    rows = [{"name": n, "shape": tuple(p.shape), "count": p.numel(),
             "norm": round(float(p.detach().float().norm()), 3),
             "part": "encoder (pretrained)" if n.startswith("encoder.") else "head (new)"}
            for n, p in model.named_parameters()]
    return pd.DataFrame(rows)


def toy_solutions(lams, w_star=(2.0, 1.5), w0=(1.5, 2.0), curvature=(1.0, 0.05)) -> pd.DataFrame:
    """Closed-form minimisers of a two-parameter objective, for each λ in ``lams``.

    The data term is ``L(w) = Σ_k a_k (w_k − w*_k)²`` with curvatures ``a`` (a large a_k: the
    data pin w_k down; a small one: they barely constrain it). The minimiser of ``L + λ‖w − c‖²``
    is ``w_k = (a_k w*_k + λ c_k) / (a_k + λ)`` with ``c = 0`` for L2 and ``c = w₀`` for L2-SP.
    Plotted in notebook 04.
    """
    a, ws, c0 = np.asarray(curvature, float), np.asarray(w_star, float), np.asarray(w0, float)
    if (a <= 0).any():
        raise ArgumentError("curvatures must be > 0")
    rows = []
    for lam in lams:
        if lam < 0:
            raise ArgumentError(f"λ must be >= 0, got {lam}")
        for name, centre in (("l2", np.zeros_like(c0)), ("l2sp", c0)):
            w = (a * ws + lam * centre) / (a + lam)
            rows.append({"lam": lam, "regularizer": name, "w1": w[0], "w2": w[1],
                         "distance_to_w0": float(np.linalg.norm(w - c0)),
                         "data_loss": float((a * (w - ws) ** 2).sum())})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class RetrainSettings:
    """Sizes of the small fine-tuning runs behind the widgets of notebooks 01 and 04 (hashable,
    for the cache)."""

    n_train: int = 200
    n_valid: int = 400
    epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 16
    max_len: int = 48
    seed: int = 0
    amp: bool = True
    pretrained: str = ""  # a model folder; "" means the shipped source model

    @property
    def model_dir(self) -> str:
        """The pretrained model folder these runs start from."""
        return self.pretrained or str(source_model_dir())


def retrain_settings(fast: bool | None = None, **overrides) -> RetrainSettings:
    """The settings notebooks 01 and 04 use: fewer examples and epochs in fast mode."""
    fast = fast_mode() if fast is None else fast
    base = RetrainSettings(n_train=64, n_valid=100, epochs=2) if fast else RetrainSettings()
    return replace(base, **overrides)


@lru_cache(maxsize=16)
def _splits(n_train: int, n_valid: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = datasets.load_rotten_tomatoes("train")
    valid = datasets.load_rotten_tomatoes("valid")
    train = stratified_subsample(train, min(n_train, len(train)), seed)
    return (train.reset_index(drop=True),
            valid.sample(n=min(n_valid, len(valid)), random_state=seed).reset_index(drop=True))


def labelled_splits(settings: RetrainSettings | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled reviews the small runs use: ``n_train`` training reviews (class-stratified
    and nested: the first 50 are among the first 100, with the same seed) and ``n_valid``
    validation reviews (a seeded sample). Copies, so callers may change them (notebook 01)."""
    s = settings or retrain_settings()
    train, valid = _splits(s.n_train, s.n_valid, s.seed)
    return train.copy(), valid.copy()


@lru_cache(maxsize=4)
def _initial_encoder(model_dir: str, n_train: int, n_valid: int, seed: int):
    """w₀: the encoder exactly as ``finetune_classifier`` builds it before training (source
    weights mapped onto the target vocabulary), and that vocabulary."""
    source, source_vocab, _ = load_model(model_dir)
    train, _ = _splits(n_train, n_valid, seed)
    vocab = build_target_vocab(source_vocab, list(train["text"]), min_freq=2)
    lm = LanguageModel(ModelConfig(**{**source.cfg.to_dict(), "vocab_size": len(vocab)}))
    transfer_encoder(lm, source, source_vocab, vocab, load_word_vectors())  # as the pipeline
    w0 = {n: p.detach().clone() for n, p in lm.named_parameters() if n.startswith("encoder.")}
    return w0, vocab


def _normalise_lambda(lam: float) -> float:
    """λ rounded to 3 significant digits (so 10**-3 and 0.001 share one cache entry)."""
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0:
        raise ArgumentError(f"λ must be a finite number >= 0, got {lam}")
    return float(f"{lam:.3g}")


def _finetune_config(settings: RetrainSettings) -> FinetuneConfig:
    """The pipeline's configuration of these retrainings: CPU, no early stopping."""
    return FinetuneConfig(epochs=settings.epochs, lr=settings.lr,
                          batch_size=settings.batch_size, max_len=settings.max_len,
                          seed=settings.seed, amp=settings.amp, device="cpu", patience=None)


@lru_cache(maxsize=64)
def _retrain(regularizer: str, lam: float, settings: RetrainSettings) -> tuple:
    train, valid = _splits(settings.n_train, settings.n_valid, settings.seed)
    strategy = get_strategy("full", regularizer=regularizer, lam=lam)
    start = time.perf_counter()
    result = finetune_classifier(train, valid, None, strategy, _finetune_config(settings),
                                 pretrained=settings.model_dir, progress=False)
    w0, vocab = _initial_encoder(settings.model_dir, settings.n_train, settings.n_valid,
                                 settings.seed)
    if result.vocab != vocab:
        raise RuntimeError("finetune_classifier built a different target vocabulary than "
                           "objective._initial_encoder; update _initial_encoder")
    w0_norm = math.sqrt(sum(float((p.float() ** 2).sum()) for p in w0.values()))
    drift = weight_drift(result.model, w0)
    w_norm = math.sqrt(sum(float((p.detach().float() ** 2).sum())
                           for n, p in result.model.named_parameters() if n in w0))
    return (("regularizer", regularizer), ("lam", lam),
            ("valid_accuracy", float(result.metrics["valid_accuracy"])),
            ("drift", drift), ("relative_drift", drift / w0_norm), ("w0_norm", w0_norm),
            ("w_norm", w_norm), ("train_loss", float(result.history["train_loss"].iloc[-1])),
            ("n_train", len(train)), ("n_valid", len(valid)),
            ("seconds", time.perf_counter() - start))


def retrain_with_lambda(lam: float, regularizer: str = "l2sp",
                        settings: RetrainSettings | None = None) -> dict:
    """Fine-tune the pretrained model with ``regularizer`` ('none', 'l2' or 'l2sp') at
    strength ``lam`` and return validation accuracy and drift ‖w − w₀‖ (encoder only).

    Runs are cached: the same arguments return the stored result at once (``seconds`` is the
    time of the original run). Widget callback of notebook 04.
    """
    if regularizer not in REGULARIZERS:
        raise ArgumentError(f"unknown regularizer {regularizer!r}; allowed: {REGULARIZERS}")
    lam = _normalise_lambda(lam)
    if regularizer == "none":
        lam = 0.0
    return dict(_retrain(regularizer, lam, settings or retrain_settings()))


@lru_cache(maxsize=8)
def _scratch(settings: RetrainSettings) -> float:
    source_cfg = load_model(settings.model_dir)[0].cfg
    train, valid = _splits(settings.n_train, settings.n_valid, settings.seed)
    sizes = {k: getattr(source_cfg, k) for k in ("emb_dim", "hidden_dim", "num_layers", "out_dim")}
    result = finetune_classifier(train, valid, None, get_strategy("scratch"),
                                 _finetune_config(settings), small_model=sizes, progress=False)
    return float(result.metrics["valid_accuracy"])


def scratch_accuracy(settings: RetrainSettings | None = None) -> float:
    """Validation accuracy of the same architecture trained from random weights on the same
    examples (no pretraining, no regularizer): the floor that pretraining should beat
    (notebook 04)."""
    return _scratch(settings or retrain_settings())


def compare_with_scratch(n_labels: int, settings: RetrainSettings | None = None,
                         min_steps: int = 40, max_epochs: int = 20) -> dict:
    """The same ``n_labels`` labelled reviews, two ways: the pretrained model fine-tuned (no
    regularizer) and the same architecture trained from random weights. Returns both validation
    accuracies. Small label counts get more epochs (up to ``max_epochs``) so that every run
    makes at least ``min_steps`` optimizer steps. Cached like ``retrain_with_lambda``. Widget
    callback of notebook 01."""
    if n_labels < 2:
        raise ArgumentError(f"n_labels must be >= 2 (one per class), got {n_labels}")
    s = settings or retrain_settings()
    steps_per_epoch = math.ceil(n_labels / s.batch_size)
    epochs = min(max_epochs, max(s.epochs, math.ceil(min_steps / steps_per_epoch)))
    s = replace(s, n_train=int(n_labels), epochs=epochs)
    transfer = retrain_with_lambda(0.0, "none", s)
    return {"n_labels": transfer["n_train"], "epochs": epochs,
            "transfer_accuracy": transfer["valid_accuracy"],
            "scratch_accuracy": scratch_accuracy(s), "n_valid": transfer["n_valid"]}


def tradeoff_curve(lams=LAMBDAS, regularizers=("l2", "l2sp"),
                   settings: RetrainSettings | None = None) -> pd.DataFrame:
    """One row per (regularizer, λ), plus the unregularized run as regularizer 'none', λ=0
    (notebook 04)."""
    rows = [retrain_with_lambda(0.0, "none", settings)]
    rows += [retrain_with_lambda(lam, reg, settings) for reg in regularizers for lam in lams]
    return pd.DataFrame(rows)


def plot_tradeoff(curve: pd.DataFrame, scratch: float | None = None):
    """Accuracy and drift against λ (log axis), one line per regularizer; the unregularized
    run (and, if given, the from-scratch accuracy) as horizontal lines. Returns the figure
    (notebook 04)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    none = curve[curve["regularizer"] == "none"]
    styles = {"l2": ("tab:red", "L2 (toward 0)"), "l2sp": ("tab:blue", "L2-SP (toward w₀)")}
    for reg, (color, label) in styles.items():
        part = curve[curve["regularizer"] == reg].sort_values("lam")
        if len(part):
            left.plot(part["lam"], part["valid_accuracy"], "o-", color=color, label=label)
            right.plot(part["lam"], part["drift"], "o-", color=color, label=label)
    for ax, column in ((left, "valid_accuracy"), (right, "drift")):
        if len(none):
            ax.axhline(float(none[column].iloc[0]), color="gray", ls="--", label="no R (λ = 0)")
        ax.set_xscale("log")
        ax.set_xlabel("λ")
    if scratch is not None:
        left.axhline(scratch, color="black", ls=":", label="from scratch")
    if len(none):
        right.axhline(float(none["w0_norm"].iloc[0]), color="tab:red", ls=":",
                      label="‖w₀‖ (drift if w = 0)")
    left.set_ylabel("validation accuracy")
    right.set_ylabel("drift ‖w − w₀‖ (encoder)")
    right.set_yscale("symlog", linthresh=1e-2)
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_run(run: dict, reference: dict | None = None):
    """Two bars per run (accuracy, drift) for one widget setting next to the λ = 0 run
    (notebook 04)."""
    import matplotlib.pyplot as plt

    runs = [run] if reference is None else [reference, run]
    labels = [f"{r['regularizer']}, λ={r['lam']:g}" for r in runs]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, key, title in ((axes[0], "valid_accuracy", "validation accuracy"),
                           (axes[1], "drift", "drift ‖w − w₀‖")):
        ax.bar(labels, [r[key] for r in runs], color=["gray", "tab:blue"][-len(runs):])
        ax.set_title(title)
    axes[0].set_ylim(0, 1)
    fig.tight_layout()
    return fig

