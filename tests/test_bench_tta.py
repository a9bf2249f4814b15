"""The time-to-accuracy bench (issue 14): what a fast run writes, and the threshold logic.

Speeds are never asserted; the fast run checks that every arm ran, the tables have their shape
and the deployment table holds the four runtimes with the PyTorch fp32 row as the baseline.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from transferlib.bench.tta import ARMS, arm_summary, repaid_after, threshold_table, time_to
from transferlib.cli import main


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One fast ``bench-tta`` through the CLI (1 thread; the previous count is restored)."""
    out = tmp_path_factory.mktemp("tta")
    threads = torch.get_num_threads()
    try:
        code = main(["bench-tta", "--fast", "--out", str(out), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return out


def test_fast_run_trains_every_arm_and_writes_every_file(fast_run):
    names = [a.name for a in ARMS]
    curves = pd.read_csv(fast_run / "tta_curves.csv")
    assert list(dict.fromkeys(curves["arm"])) == names
    for _, part in curves.groupby("arm"):
        assert part["steps"].iloc[0] == 0 and part["steps"].is_monotonic_increasing
        assert part["seconds"].is_monotonic_increasing and part["steps"].iloc[-1] > 0
        assert part["valid_accuracy"].between(0, 1).all()
    table = pd.read_csv(fast_run / "tta.csv")
    assert list(table["threshold"].unique()) == ["naive best", "70%", "75%", "80%"]
    naive_best = table[(table["threshold"] == "naive best") & (table["arm"] == "naive")]
    assert bool(naive_best["reached"].iloc[0]) and naive_best["speedup_vs_naive"].iloc[0] == 1
    assert table.loc[~table["reached"], "seconds"].isna().all()  # never extrapolated
    arms = pd.read_csv(fast_run / "tta_arms.csv")
    assert list(arms["arm"]) == names and arms["tokens_per_s_vs_naive"].iloc[0] == 1
    deploy = pd.read_csv(fast_run / "onnx.csv")
    assert list(deploy["runtime"]) == ["pytorch fp32 eager", "pytorch int8 dynamic",
                                       "onnxruntime fp32", "onnxruntime int8"]
    assert deploy["speedup_batch64"].iloc[0] == 1 and (deploy["size_bytes"] > 0).all()
    assert deploy["size_ratio"].iloc[1:].lt(1.01).all()  # no runtime is larger than fp32
    assert (fast_run / "tta.png").read_bytes()[:4] == b"\x89PNG"
    info = json.loads((fast_run / "tta.json").read_text())
    assert info["fast"] and info["threads"] == 1 and "machine" in info
    assert info["onnx_check"]["same_predictions"] and info["onnx_check"]["within_tolerance"]


def _curve(arm: str, points: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"arm": arm, "steps": i * 10, "tokens": i * 100, "seconds": s,
                          "valid_accuracy": a} for i, (s, a) in enumerate(points)])


def test_thresholds_take_the_first_hit_and_never_extrapolate():
    curves = pd.concat([_curve("naive", [(0, .5), (10, .6), (20, .72), (30, .7)]),
                        _curve("transfer", [(0, .5), (2, .74), (4, .81)])])
    assert time_to(curves[curves["arm"] == "naive"], .72)["seconds"] == 20
    assert time_to(curves[curves["arm"] == "naive"], .8) is None
    table = threshold_table(curves, ["naive", "transfer"], (0.75, 0.80)).set_index(
        ["threshold", "arm"])
    assert table.loc[("naive best", "transfer"), "seconds"] == 2
    assert table.loc[("naive best", "transfer"), "speedup_vs_naive"] == 10
    assert not table.loc[("80%", "naive"), "reached"]
    assert pd.isna(table.loc[("80%", "transfer"), "speedup_vs_naive"])  # baseline never got there
    assert repaid_after(table.reset_index(), 180.0, "naive best") == 10.0  # 180 s / (20 - 2) s
    assert "speedup_vs_scratch" in table and table["speedup_vs_scratch"].isna().all()  # no arm
    summary = arm_summary(curves).set_index("arm")
    assert summary.loc["transfer", "best_valid_accuracy"] == .81
    assert summary.loc["naive", "final_valid_accuracy"] == .7


def test_speedup_against_scratch_and_the_repay_count_against_it():
    curves = pd.concat([_curve("naive", [(0, .5), (10, .55)]),
                        _curve("scratch+levers", [(0, .5), (8, .6), (16, .76)]),
                        _curve("transfer", [(0, .5), (2, .76)])])
    table = threshold_table(curves, ["naive", "scratch+levers", "transfer"], (0.75,))
    rows = table.set_index(["threshold", "arm"])
    assert rows.loc[("75%", "transfer"), "speedup_vs_scratch"] == 8.0  # 16 s / 2 s
    assert pd.isna(rows.loc[("75%", "transfer"), "speedup_vs_naive"])  # naive never got there
    assert repaid_after(table, 140.0, "75%", against="scratch+levers") == 10.0  # 140 / (16 - 2)
    assert repaid_after(table, 140.0, "75%") is None


def test_a_threshold_met_before_training_gives_no_ratio():
    curves = pd.concat([_curve("naive", [(0, .6), (5, .6)]), _curve("scratch+levers", [(0, .6)]),
                        _curve("transfer", [(0, .5), (2, .6)])])
    rows = threshold_table(curves, ["naive", "scratch+levers", "transfer"], ()).set_index(
        ["threshold", "arm"])
    assert rows.loc[("naive best", "scratch+levers"), "seconds"] == 0  # its untrained answer
    assert pd.isna(rows.loc[("naive best", "transfer"), "speedup_vs_scratch"])
    assert pd.isna(rows.loc[("naive best", "transfer"), "speedup_vs_naive"])
