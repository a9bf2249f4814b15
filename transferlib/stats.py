"""Is a difference between two models real? Intervals that count both sources of noise.

Taught in notebook 07. A test accuracy moves for two reasons: the **seed** (another
initialisation and batch order train another model) and the **test set** (another sample of
reviews from the same population scores the same model differently). ``compare(a, b)`` puts both
into one 95 % interval for the difference of mean accuracies:

* seed variance: the spread of each model's accuracy over its seeds (s² / k per model);
* test-set sampling: with each run's per-review right/wrong record (``correct``), the
  *paired* variance over reviews of the difference (two models scored on the same reviews
  mostly agree, so this is much smaller than the unpaired one; it is the normal approximation
  of a paired bootstrap over reviews); without records, the unpaired binomial bound
  p(1 − p) / n for each model, which can only make the interval wider. With several seeds'
  records, the seed noise inside the per-review means is taken out of the test part (the seed
  part counts it already).

The interval is Δ ± t · √(sum of the variances) with Welch–Satterthwaite degrees of freedom, so
a two-seed comparison gets the wide t quantile it deserves. With one seed on a side there is no
seed spread to measure: the interval then holds the test-set part only, and the printed line
says so. The verdict: "better" or "worse"
when the interval excludes 0, otherwise "no detectable difference".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from transferlib.errors import ArgumentError

__all__ = ["Runs", "Comparison", "compare", "compare_to", "mean_interval",
           "records_from_strings", "runs_from_frame"]


@dataclass(frozen=True)
class Runs:
    """One model's test results: its accuracy per seed, the test-set size and, optionally, the
    per-review right/wrong record of some of its seeds (``correct``: ``[seeds, n_test]`` of 0/1)."""

    name: str
    accuracies: tuple[float, ...]
    n_test: int
    correct: np.ndarray | None = None

    def __post_init__(self):
        if not self.accuracies:
            raise ArgumentError(f"{self.name}: no accuracies")
        if self.n_test < 1:
            raise ArgumentError(f"{self.name}: n_test must be positive, got {self.n_test}")
        if self.correct is not None and np.asarray(self.correct).shape[-1] != self.n_test:
            raise ArgumentError(f"{self.name}: correct has {np.asarray(self.correct).shape[-1]} "
                                f"reviews, n_test is {self.n_test}")

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def seeds(self) -> int:
        return len(self.accuracies)


@dataclass(frozen=True)
class Comparison:
    """The difference ``a − b`` of mean test accuracies with its interval."""

    a: str
    b: str
    delta: float
    low: float
    high: float
    seeds: tuple[int, int]
    n_test: int
    paired: bool
    level: float = 0.95
    scored_on: str = "test reviews"

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no detectable difference"

    def __str__(self) -> str:
        how = "paired over" if self.paired else "unpaired over"
        alone = ("; one seed on a side: the seed's own noise is not in this interval"
                 if min(self.seeds) < 2 else "")
        head = (f"{self.a} is {self.verdict} than {self.b}" if self.verdict != "no detectable "
                "difference" else f"{self.a} vs {self.b}: no detectable difference")
        return (f"{head}: Δ = {100 * self.delta:+.1f} points "
                f"({100 * self.level:.0f} % CI {100 * self.low:+.1f} … {100 * self.high:+.1f}; "
                f"{self.seeds[0]} + {self.seeds[1]} seeds, {how} {self.n_test:,} {self.scored_on}"
                f"{alone})")

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "delta": self.delta, "low": self.low,
                "high": self.high, "verdict": self.verdict, "seeds_a": self.seeds[0],
                "seeds_b": self.seeds[1], "n_test": self.n_test, "paired": self.paired}


def _seed_part(runs: Runs) -> tuple[float, int]:
    """(variance of the mean accuracy over seeds, its degrees of freedom); (0, 0) for one seed."""
    if runs.seeds < 2:
        return 0.0, 0
    return float(np.var(runs.accuracies, ddof=1)) / runs.seeds, runs.seeds - 1


def _test_part(a: Runs, b: Runs) -> tuple[float, bool]:
    """(test-set sampling variance of the difference, whether it is paired over reviews)."""
    n = a.n_test
    if a.correct is not None and b.correct is not None:
        ca, cb = np.atleast_2d(a.correct), np.atleast_2d(b.correct)
        per_review = ca.mean(axis=0) - cb.mean(axis=0)
        # with several seeds' records, part of the spread of the per-review means is seed noise,
        # which the seed part already counts: take it out (random-effects decomposition)
        seed_noise = sum(float(np.var(c, axis=0, ddof=1).mean()) / len(c) for c in (ca, cb)
                         if len(c) > 1)
        return max(float(np.var(per_review, ddof=1)) - seed_noise, 0.0) / n, True
    return (a.mean * (1 - a.mean) + b.mean * (1 - b.mean)) / n, False


def compare(a: Runs, b: Runs, level: float = 0.95, show: bool = True,
            scored_on: str = "test reviews") -> Comparison:
    """``a − b`` with its ``level`` interval counting seed variance and test-set sampling;
    prints the one-line verdict when ``show``; ``scored_on`` names what was scored (e.g.
    "validation reviews") in that line (notebook 07)."""
    if a.n_test != b.n_test:
        raise ArgumentError(f"{a.name} was tested on {a.n_test} reviews, {b.name} on "
                            f"{b.n_test}: compare models on the same test set")
    (va, dfa), (vb, dfb) = _seed_part(a), _seed_part(b)
    vt, paired = _test_part(a, b)
    total = va + vb + vt
    denominator = sum(v * v / df for v, df in ((va, dfa), (vb, dfb), (vt, a.n_test - 1)) if df)
    df = total * total / denominator if denominator > 0 else float(a.n_test - 1)
    half = float(_scipy_stats.t.ppf(0.5 + level / 2, df)) * float(np.sqrt(total))
    delta = a.mean - b.mean
    result = Comparison(a.name, b.name, delta, delta - half, delta + half,
                        (a.seeds, b.seeds), a.n_test, paired, level, scored_on)
    if show:
        print(result)
    return result


def records_from_strings(strings: Sequence[str]) -> np.ndarray:
    """Right/wrong strings (``"1011…"``, one per run, as ``*_correct.csv`` stores them) →
    ``[runs, items]`` of 0/1, the ``correct`` of ``Runs``."""
    return np.array([[ch == "1" for ch in str(s)] for s in strings], dtype=float)


def mean_interval(runs: Runs, level: float = 0.95) -> float:
    """Half-width of the ``level`` interval of one model's mean accuracy: the seed variance of
    the mean plus the binomial test-set variance, Welch–Satterthwaite t (notebook 07 derives
    it)."""
    seed_var, seed_df = _seed_part(runs)
    test_var = runs.mean * (1 - runs.mean) / runs.n_test
    total = seed_var + test_var
    if total == 0:
        return 0.0
    parts = [(v, df) for v, df in ((seed_var, seed_df), (test_var, runs.n_test - 1)) if df]
    df = total * total / sum(v * v / d for v, d in parts)
    return float(_scipy_stats.t.ppf(0.5 + level / 2, df)) * float(np.sqrt(total))


def runs_from_frame(runs: pd.DataFrame, name: str, correct: pd.DataFrame | None = None,
                    label: str | None = None, **where) -> Runs:
    """The ``Runs`` of the rows of an experiment's ``*_runs.csv`` whose ``strategy`` is ``name``
    (and whose other columns equal ``where``, e.g. ``n_labels=100``), with the right/wrong
    strings of ``*_correct.csv`` where it has them (notebook 07)."""
    rows = runs[runs["strategy"] == name]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    if rows.empty:
        raise ArgumentError(f"no runs of {name!r} with {where or 'any settings'}")
    n_tests = rows["n_test"].unique()
    if len(n_tests) != 1:
        raise ArgumentError(f"{name}: runs on different test sets {n_tests.tolist()}")
    records = None
    if correct is not None:
        hits = correct[correct["strategy"] == name]
        for column, value in where.items():
            if column not in hits.columns:
                raise ArgumentError(f"the right/wrong records have no {column!r} column: they "
                                    "cannot be matched to these runs")
            hits = hits[hits[column] == value]
        hits = hits[hits["seed"].isin(rows["seed"])]
        if not hits.empty:
            records = records_from_strings(hits["test_correct"])
    return Runs(label or name, tuple(rows["test_accuracy"]), int(n_tests[0]), records)


def compare_to(runs: pd.DataFrame, reference: str, names: Sequence[str] | None = None,
               correct: pd.DataFrame | None = None, level: float = 0.95, **where
               ) -> pd.DataFrame:
    """One row per model in ``names`` (default: every strategy but ``reference``): its mean
    accuracy, seeds, and the difference to ``reference`` with its interval and verdict; the
    ablation's table (notebook 07)."""
    names = [n for n in (names or runs["strategy"].unique()) if n != reference]
    base = runs_from_frame(runs, reference, correct, **where)
    rows = []
    for name in names:
        model = runs_from_frame(runs, name, correct, **where)
        c = compare(model, base, level, show=False)
        rows.append({"strategy": name, "test_accuracy": model.mean, "seeds": model.seeds,
                     f"delta_vs_{reference}": c.delta, "ci_low": c.low, "ci_high": c.high,
                     "verdict": c.verdict, "paired": c.paired})
    return pd.DataFrame(rows)
