"""The benchmark harness: output shape of a fast run, FLOP formulas, lever selection, memory.

Speed is never asserted (benchmarks print it); these tests check what the harness writes and
that its building blocks measure what they claim.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from transferlib.bench import flops as fl
from transferlib.bench.infer import PRUNE_AMOUNTS
from transferlib.bench.levers import COLUMNS
from transferlib.bench.measure import PeakMemory, Stream, release_freed_memory
from transferlib.bench.train import (
    BASELINE,
    LORA,
    SOLO_LEVERS,
    best_lever,
)
from transferlib.devices import amp_dtype
from transferlib.model import ModelConfig


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One fast benchmark, called as a function on 1 thread: the previous count comes back."""
    from transferlib.bench.levers import run_bench

    out, ambient = tmp_path_factory.mktemp("bench"), torch.get_num_threads()
    before = 3 if ambient != 3 else 2
    torch.set_num_threads(before)
    try:
        run_bench(out, fast=True, threads=1)
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(ambient)
    table = pd.read_csv(out / "bench.csv")
    payload = json.loads((out / "bench.json").read_text())
    return out, table, payload


def test_fast_run_writes_every_row_and_column(fast_run):
    out, table, payload = fast_run
    assert list(table.columns) == COLUMNS
    train = table[table["section"] == "train"]
    expected = {BASELINE.name, "transferlib best", LORA.name} | {lv.name for lv in SOLO_LEVERS}
    assert set(train["row"]) == expected and len(train) == len(expected)
    inference = set(table[table["section"] == "inference"]["row"])
    assert inference == {"fp32", "int8 dynamic", "student (distilled)",
                         "student (labels only)"} | {f"pruned {int(a * 100)}%"
                                                     for a in PRUNE_AMOUNTS}
    machine = list(table[table["section"] == "machine"]["row"])
    assert any(r.startswith("matmul") and r.endswith("fp32") for r in machine)
    # fp32 and, where autocast runs the LSTM, the 16-bit mode; both matmul peaks always
    lm_rows = 2 if amp_dtype(torch.device("cpu")) else 1
    assert sum(r.startswith("LM pretraining") for r in machine) == lm_rows
    assert len(set(machine)) == len(machine), "every machine row has its own label"
    assert any(r.startswith("matmul") and r.endswith(("bf16", "fp16")) for r in machine)
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(payload["rows"]) == len(table)


def test_fast_run_values_are_consistent(fast_run):
    _, table, _ = fast_run
    rows = table.set_index("row")
    measured = table[(table["section"] == "train") & table["tokens_per_s"].notna()]
    assert len(measured) >= len(SOLO_LEVERS)  # only torch.compile may be skipped in fast mode
    assert (measured["tokens_per_s"] > 0).all() and (measured["peak_mem_mb"] >= 0).all()
    assert measured["accuracy"].between(0, 1).all()
    assert rows.loc["baseline", "speedup"] == pytest.approx(1.0)
    full = rows.loc["baseline", "trainable_params"]
    assert rows.loc["frozen encoder", "trainable_params"] < rows.loc["LoRA",
                                                                     "trainable_params"] < full
    assert rows.loc["bucketing", "pad_frac"] < rows.loc["baseline", "pad_frac"]
    for amount in PRUNE_AMOUNTS:
        assert rows.loc[f"pruned {int(amount * 100)}%", "nonzero_frac"] == pytest.approx(
            1 - amount, abs=0.005)
    assert rows.loc["int8 dynamic", "size_ratio"] < 0.5
    assert rows.loc["student (distilled)", "size_ratio"] < 1
    lm = table[table["row"].str.startswith("LM pretraining")]
    assert ((lm["gflops"] > 0) & (lm["frac_of_peak"] > 0)).all()


def test_fast_run_json_has_machine_profile_and_targets(fast_run):
    _, _, payload = fast_run
    assert {"cpu", "cores", "torch", "threads"} <= set(payload["machine"])
    assert payload["machine"]["threads"] == 1 and payload["fast"] is True
    assert payload["profile"]["top_ops"] and "self_ms" in payload["profile"]["top_ops"][0]
    assert sum(payload["profile"]["share_pct"].values()) == pytest.approx(100, abs=0.5)
    assert set(payload["achieved"]) == set(payload["targets"])
    assert "3 · (Σ_l 8 h_l (d_l + h_l) + 2 D V)" in payload["flops_formula"]


def _manual_lstm_flops(d: int, h: int, tokens: int) -> float:
    """FLOPs torch counts for an LSTM written out as gate matmuls over ``tokens`` steps."""
    w_ih, w_hh = torch.randn(4 * h, d), torch.randn(4 * h, h)
    x, state = torch.randn(tokens, 1, d), torch.zeros(1, h)
    with FlopCounterMode(display=False) as counter:
        for t in range(tokens):
            gates = F.linear(x[t], w_ih) + F.linear(state, w_hh)
            state = torch.tanh(gates[:, :h])
    return counter.get_total_flops()


def test_lstm_flop_formula_matches_torch_flop_counter():
    cfg = ModelConfig(vocab_size=50, emb_dim=6, hidden_dim=10, num_layers=3)
    counted = sum(_manual_lstm_flops(d, h, tokens=4) for d, h in fl.lstm_layer_sizes(cfg)) / 4
    assert fl.lstm_forward_flops(cfg) == counted
    emb, out = torch.randn(cfg.vocab_size, cfg.emb_dim), torch.randn(3, cfg.emb_dim)
    with FlopCounterMode(display=False) as counter:
        F.linear(out, emb)
    softmax = counter.get_total_flops() / 3
    assert fl.lm_train_flops_per_token(cfg) == 3 * (counted + softmax)
    assert fl.classifier_train_flops_per_token(cfg) == 3 * counted


def test_matmul_flops_and_op_groups():
    flops = fl.matmul_flops(64, 64, 64, torch.float32, torch.device("cpu"), repeats=2)
    assert 1e6 < flops < 1e15
    assert fl.op_group("aten::mkldnn_rnn_layer_backward") == "lstm"
    assert fl.op_group("aten::addmm") == "matmul"
    assert fl.op_group("aten::_log_softmax_backward_data") == "softmax+loss"
    assert fl.op_group("Optimizer.step#AdamW.step") == "optimizer"
    assert fl.op_group("aten::copy_") == "other"


def test_best_lever_takes_only_faster_levers_that_keep_accuracy():
    rows = pd.DataFrame([
        {"row": "baseline", "tokens_per_s": 100.0, "accuracy": 0.70},
        {"row": "packed", "tokens_per_s": 200.0, "accuracy": 0.70},
        {"row": "autocast", "tokens_per_s": 80.0, "accuracy": 0.71},
        {"row": "workers+pin", "tokens_per_s": 103.0, "accuracy": 0.70},
        {"row": "torch.compile", "tokens_per_s": float("nan"), "accuracy": float("nan")},
        {"row": "batch x4", "tokens_per_s": 300.0, "accuracy": 0.50},
        {"row": "frozen encoder", "tokens_per_s": 900.0, "accuracy": 0.70},
    ])
    best = best_lever(rows)
    assert best.bucket and best.packed
    assert not (best.amp or best.workers or best.compile or best.freeze)
    assert best.batch_mult == 1


def test_peak_memory_sees_a_large_allocation():
    release_freed_memory()
    with PeakMemory(torch.device("cpu")) as small:
        torch.ones(1000).sum()
    with PeakMemory(torch.device("cpu")) as big:
        torch.ones(64 * 2**20 // 4).sum()  # 64 MiB
    if big.mb != big.mb:  # NaN: no /proc on this platform
        pytest.skip("no /proc/self/status here")
    assert big.mb > 48 and small.mb < 16


def test_stream_restarts_the_loader_and_counts_padding():
    batches = [(torch.tensor([[5, 6, 0], [5, 0, 0]]), torch.tensor([2, 1]), torch.tensor([0, 1])),
               (torch.tensor([[7, 7]]), torch.tensor([2]), torch.tensor([1]))]

    class Loader(list):
        batch_sampler = sampler = None

    stream = Stream(Loader(batches))
    drawn = list(stream.chunk(5))
    assert len(drawn) == 5 and drawn[2][0].shape == (2, 3) and stream.epoch == 2
    assert stream.real == 3 * 3 + 2 * 2 and stream.padded == 3 * 6 + 2 * 2


def test_compare_levers_trains_every_row_for_the_same_budget():
    from transferlib.bench.train import FAST, compare_levers, load_bench_data
    from transferlib.config import source_model_dir

    data = load_bench_data(source_model_dir(), FAST, torch.device("cpu"), seed=0)
    by_name = {lv.name: lv for lv in SOLO_LEVERS}
    levers = [BASELINE, by_name["bucketing"], by_name["gradual unfreezing"], by_name["batch x4"]]
    frame = compare_levers(levers, data, repeats=2).set_index("row")
    budget = FAST.timed_budget()
    assert frame.loc["baseline", "speedup"] == 1.0
    assert list(frame["steps_trained"]) == [budget, budget, budget, budget // 4]
    assert frame.loc["bucketing", "pad_frac"] < frame.loc["baseline", "pad_frac"]
    assert (frame["peak_mem_mb"] >= 0).all() and frame["note"].str.startswith("FAILED").sum() == 0


def test_softmax_comparison_runs_in_fast_mode(tmp_path):
    """``python -m transferlib.bench.softmax --fast``: one row per output layer, the tied full
    softmax first as the speed reference."""
    from transferlib.bench.softmax import main

    assert main(["--fast", "--steps", "2", "--out", str(tmp_path)]) == 0
    frame = pd.read_csv(tmp_path / "softmax.csv")
    assert len(frame) >= 3 and frame["speed_vs_tied_full"].iloc[0] == 1.0
    assert (frame["tokens_per_s"] > 0).all()
