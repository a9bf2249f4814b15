"""transferlib.stats: verdicts on constructed cases and the interval's coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferlib.errors import ArgumentError
from transferlib.stats import Runs, compare, compare_to, runs_from_frame


def _records(rng, p_review, seeds):
    """Right/wrong of ``seeds`` models on reviews whose chance of being right is ``p_review``."""
    return (rng.random((seeds, len(p_review))) < p_review).astype(float)


def test_identical_models_show_no_difference():
    a = Runs("a", (0.78, 0.77, 0.79), 1000)
    c = compare(a, Runs("b", a.accuracies, 1000), show=False)
    assert c.delta == 0 and c.low < 0 < c.high
    assert c.verdict == "no detectable difference"


def test_a_clear_gap_is_detected_both_ways(capsys):
    a, b = Runs("good", (0.85, 0.86, 0.84), 1500), Runs("poor", (0.70, 0.71, 0.69), 1500)
    better = compare(a, b)
    assert better.verdict == "better" and 0.14 < better.delta < 0.16
    assert "good is better than poor: Δ = +15.0 points" in capsys.readouterr().out
    assert compare(b, a, show=False).verdict == "worse"


def test_pairing_narrows_the_interval_of_models_that_agree():
    rng = np.random.default_rng(0)
    p = rng.beta(4, 1.5, 2000)  # most reviews easy, some hard: two models mostly agree
    base = _records(rng, p, 3)
    better = np.maximum(base, (rng.random(base.shape) < 0.03))  # fixes 3 % of its errors
    a = Runs("a", tuple(better.mean(1)), 2000, better)
    b = Runs("b", tuple(base.mean(1)), 2000, base)
    paired = compare(a, b, show=False)
    unpaired = compare(Runs("a", a.accuracies, 2000), Runs("b", b.accuracies, 2000), show=False)
    assert paired.paired and not unpaired.paired
    assert paired.high - paired.low < 0.6 * (unpaired.high - unpaired.low)


def test_paired_variance_matches_a_paired_bootstrap():
    rng = np.random.default_rng(1)
    p = rng.beta(3, 1.2, 1200)
    ca, cb = _records(rng, p, 1)[0], _records(rng, np.clip(p - 0.05, 0, 1), 1)[0]
    c = compare(Runs("a", (ca.mean(),), 1200, ca[None]), Runs("b", (cb.mean(),), 1200, cb[None]),
                show=False)
    idx = rng.integers(0, 1200, (4000, 1200))
    boot = (ca[idx] - cb[idx]).mean(1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert c.low == pytest.approx(lo, abs=0.006) and c.high == pytest.approx(hi, abs=0.006)


@pytest.mark.parametrize("seeds", [2, 5])
def test_the_95_interval_covers_the_true_difference_about_95_times_in_100(seeds):
    """Simulate the population: review difficulty, a seed effect per trained model, a test set
    drawn afresh each time; count how often the interval holds the true difference."""
    rng = np.random.default_rng(seeds)
    n, trials, hits = 600, 400, 0
    true_a, true_b, seed_sd = 0.78, 0.76, 0.008
    for _ in range(trials):
        base = rng.beta(4, 1.2, n)
        recs = {}
        for name, mean in (("a", true_a), ("b", true_b)):
            effects = rng.normal(0, seed_sd, seeds)
            recs[name] = np.stack([rng.random(n) < np.clip(base + (mean + e - base.mean()), 0, 1)
                                   for e in effects]).astype(float)
        c = compare(*(Runs(k, tuple(v.mean(1)), n, v) for k, v in recs.items()), show=False)
        hits += c.low <= true_a - true_b <= c.high
    assert 0.91 <= hits / trials <= 0.995


def test_runs_from_frame_and_compare_to_read_an_experiments_files():
    runs = pd.DataFrame({"strategy": ["scratch"] * 3 + ["full"] * 3, "seed": [0, 1, 2] * 2,
                         "test_accuracy": [0.5, 0.5, 0.75, 0.75, 1.0, 0.75], "n_test": 4})
    correct = pd.DataFrame({"strategy": ["scratch", "full"], "seed": [2, 2],
                            "test_correct": ["0111", "1101"]})
    full = runs_from_frame(runs, "full", correct)
    assert full.seeds == 3 and full.correct.shape == (1, 4)
    assert full.correct.tolist() == [[1, 1, 0, 1]]
    table = compare_to(runs, "scratch", correct=correct)
    assert table["strategy"].tolist() == ["full"]
    assert table.loc[0, "delta_vs_scratch"] == pytest.approx(0.25)
    assert table.loc[0, "paired"]
    with pytest.raises(ArgumentError, match="no runs of 'vectors'"):
        runs_from_frame(runs, "vectors")


def test_models_scored_on_different_test_sets_are_refused():
    with pytest.raises(ArgumentError, match="same test set"):
        compare(Runs("a", (0.7,), 100), Runs("b", (0.7,), 200), show=False)


def test_a_one_seed_comparison_says_the_seed_noise_is_not_counted():
    one = compare(Runs("a", (0.80,), 1000), Runs("b", (0.70, 0.71), 1000), show=False)
    assert "seed's own noise is not in this interval" in str(one)
    two = compare(Runs("a", (0.80, 0.79), 1000), Runs("b", (0.70, 0.71), 1000), show=False)
    assert "not in this interval" not in str(two)


def test_records_without_the_runs_setting_are_refused():
    runs = pd.DataFrame({"strategy": ["full"] * 2, "seed": [0, 0], "n_labels": [100, 1000],
                         "test_accuracy": [0.6, 0.7], "n_test": 4})
    correct = pd.DataFrame({"strategy": ["full"], "seed": [0], "test_correct": ["0110"]})
    with pytest.raises(ArgumentError, match="no 'n_labels' column"):
        runs_from_frame(runs, "full", correct, n_labels=100)


def test_mean_interval_counts_the_test_set_and_the_seeds():
    from scipy import stats as scipy_stats

    from transferlib.stats import mean_interval

    one = Runs("a", (0.8,), 1000)
    expected = scipy_stats.t.ppf(0.975, 999) * (0.8 * 0.2 / 1000) ** 0.5
    assert mean_interval(one) == pytest.approx(expected)
    steady = Runs("b", (0.8, 0.8, 0.8), 1000)  # no seed spread: the test set alone
    assert mean_interval(steady) == pytest.approx(expected)
    spread = Runs("c", (0.76, 0.8, 0.84), 1000)
    assert mean_interval(spread) > mean_interval(steady) + 0.02  # the seed part is counted
    assert mean_interval(Runs("d", (1.0, 1.0), 50)) == 0.0
