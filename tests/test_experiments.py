"""Tests for transferlib.experiments: subsampling, the cached target LM, every experiment's files.

The experiments run in fast mode with a tiny random source LM (not the shipped one, whose size
changes), so the whole file takes seconds.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from transferlib import datasets
from transferlib.checkpoint import load_model, save_model
from transferlib.cli import build_parser
from transferlib.errors import DataError
from transferlib.experiments.command import cmd_experiments
from transferlib.experiments.report import transfer_vs_scratch
from transferlib.experiments.runs import (
    Context,
    experiment_sizes,
    lowres_epochs,
    run_experiment,
)
from transferlib.experiments.samples import stratified_order, stratified_subsample
from transferlib.model import LanguageModel, ModelConfig
from transferlib.strategies import PRESETS
from transferlib.text import Vocab, tokenize

SIZES = {"max_train": 120, "max_eval": 60, "max_plots": 8, "lowres_counts": (20, 50, None),
         "lowres_min_steps": 4, "lowres_max_epochs": 2,
         "domain_ks": (10, 20), "max_domain": 60, "domain_epochs": 1, "fewshot_ks": (1, 4)}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Context:
    """A context around a tiny random source LM whose vocabulary comes from RT train texts."""
    torch.manual_seed(0)
    texts = datasets.load_rotten_tomatoes("train")["text"][:1500]
    vocab = Vocab.build((tokenize(t) for t in texts), min_freq=2, max_size=600)
    lm = LanguageModel(ModelConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=12,
                                   num_layers=2))
    folder = save_model(tmp_path_factory.mktemp("src") / "lm", lm, vocab)
    return Context(folder, replace(experiment_sizes(True), **SIZES), device="cpu",
                   keep_models={"ulmfit"})


def _read(paths: dict[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads(paths["json"].read_text())
    assert meta["seconds"] > 0 and "cpu" in meta["machine"] and meta["seeds"]
    return pd.read_csv(paths["runs"]), pd.read_csv(paths["summary"]), meta


def test_stratified_order_prefixes_are_stratified_nested_and_seeded():
    labels = ["pos"] * 140 + ["neg"] * 60
    order = stratified_order(labels, seed=4)
    assert sorted(order) == list(range(200))
    for n in (10, 25, 50, 100, 199):
        n_pos = sum(labels[i] == "pos" for i in order[:n])
        assert abs(n_pos - 0.7 * n) <= 1, n
    assert order == stratified_order(labels, seed=4) != stratified_order(labels, seed=5)
    frame = pd.DataFrame({"text": [str(i) for i in range(200)], "label": labels})
    small, big = (stratified_subsample(frame, n, seed=4) for n in (30, 90))
    assert set(small.index) < set(big.index)  # nested: the 30 are among the 90
    assert list(small.index) == sorted(small.index)  # the frame's own row order
    with pytest.raises(DataError, match="cannot take 201"):
        stratified_subsample(frame, 201, seed=0)


def test_lm_texts_come_from_the_train_split_only(ctx: Context):
    plots = datasets.load_rotten_tomatoes_plots()
    held_out = set(plots.loc[plots["split"] != "train", "text"])
    assert ctx.plots and not set(ctx.plots) & held_out
    rt = datasets.load_rotten_tomatoes()
    assert set(ctx.pool["text"]) <= set(rt.loc[rt["split"] == "train", "text"])
    assert not set(ctx.pool["text"]) & set(ctx.test["text"])
    assert len(ctx.pool) == SIZES["max_train"] and len(ctx.test) == SIZES["max_eval"]


def test_cached_target_lm_is_shared_and_its_vocabulary_fully_reused(ctx: Context):
    folder = ctx.adapted_lm(0)
    assert ctx.adapted_lm(0) == folder  # trained once per seed
    lm, vocab, _ = load_model(folder)
    source, source_vocab, _ = load_model(ctx.pretrained)
    assert vocab.itos[:len(source_vocab)] == source_vocab.itos and len(vocab) > len(source_vocab)
    changed = [not torch.equal(a, b) for a, b in zip(lm.encoder.layers.parameters(),
                                                     source.encoder.layers.parameters())]
    assert any(changed)  # stage (b) really trained the LSTM


def test_ablation_writes_every_preset(ctx: Context, tmp_path: Path):
    runs, summary, meta = _read(run_experiment("ablation", tmp_path, [0], ctx=ctx,
                                               command="test"))
    assert list(runs["strategy"]) == list(PRESETS) == list(summary["strategy"])
    assert {"test_accuracy_mean", "test_accuracy_std", "valid_accuracy", "seconds_per_epoch",
            "trainable_params", "description", "lm_seconds"} <= set(summary.columns)
    assert runs["test_accuracy"].between(0, 1).all() and (runs["n_test"] == 60).all()
    by = runs.set_index("strategy")
    ulm = by.loc[["ulmfit", "ulmfit-l2", "ulmfit-l2sp"]]
    assert (ulm["new_words"] == 0).all()  # the classifier reuses the adapted LM's vocabulary
    assert ulm["lm_seconds"].nunique() == 1 and ulm["lm_seconds"].iloc[0] > 0
    assert np.isnan(by.loc["full", "lm_seconds"])
    assert by.loc["feature-extraction", "trainable_params"] < by.loc["full",
                                                                     "trainable_params"]
    assert meta["source_model"]["emb_dim"] == 8 and meta["command"] == "test"


def test_lowres_curve_rows_and_answer(ctx: Context, tmp_path: Path):
    runs, summary, meta = _read(run_experiment("lowres", tmp_path, [0, 1], ctx=ctx))
    assert len(runs) == 3 * 2 * 2  # label counts x seeds x (scratch, ulmfit)
    assert sorted(set(runs["n_labels"])) == [20, 50, 120] and (runs["n_labels"]
                                                               == runs["n_train"]).all()
    assert len(summary) == 6 and (summary["n_seeds"] == 2).all()
    # 20 labels in batches of 16 make 2 steps an epoch: 2 epochs reach the 4 minimum steps
    assert runs.groupby("n_labels")["epochs"].first().to_dict() == {20: 2, 50: 1, 120: 1}
    assert (runs["epochs_run"] <= runs["epochs"]).all()
    # every label count reuses the seed's adapted LM with its whole vocabulary
    assert (runs.loc[runs["strategy"] == "ulmfit", "new_words"] == 0).all()
    assert meta["answer"].startswith("cannot answer")  # 1000 labels are not in this pool


def test_four_arm_curve_compares_the_lm_with_its_vectors_at_every_count(ctx: Context,
                                                                        tmp_path: Path):
    arms = ["scratch", "vectors", "full", "full-lm"]
    runs, summary, meta = _read(run_experiment("lowres", tmp_path, [0, 1], ctx=ctx, arms=arms))
    assert len(runs) == 3 * 2 * 4 and set(runs["strategy"]) == set(arms)
    assert (summary["n_seeds"] == 2).all()
    by_count = {}
    for c in meta["comparisons"]:
        by_count.setdefault(c["n_labels"], []).append((c["a"], c["b"]))
    assert sorted(by_count) == [20, 50, 120]
    for pairs in by_count.values():  # the LM against its vectors, the best (by valid) v scratch
        assert pairs[:2] == [("full", "vectors"), ("full-lm", "vectors")]
        assert pairs[2][1] == "scratch" and pairs[2][0] in arms[1:]
    assert all(c["paired"] for c in meta["comparisons"])
    records = pd.read_csv(tmp_path / "lowres_correct.csv", dtype={"test_correct": str})
    assert len(records) == len(runs) and records["test_correct"].str.len().eq(60).all()


def _source_folder(ctx: Context, folder: Path, tokens: int, seed: int) -> Path:
    """A tiny source LM with the metrics.json that `pretrain` writes."""
    torch.manual_seed(seed)
    _, vocab, _ = load_model(ctx.pretrained)
    lm = LanguageModel(ModelConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=12,
                                   num_layers=2))
    save_model(folder, lm, vocab)
    (folder / "metrics.json").write_text(json.dumps({
        "train_tokens": tokens, "epochs": 1, "vocab_size": len(vocab), "valid_perplexity": 50.0,
        "seconds": 1.0, "embedding": "trained from random init", "source_fraction": 0.1}))
    return folder


def test_source_size_curve_compares_sources_and_vectors(ctx: Context, tmp_path: Path):
    from transferlib.experiments.sources import run_sources_experiment

    sources = {"small": _source_folder(ctx, tmp_path / "small", 100, 1),
               "big": _source_folder(ctx, tmp_path / "big", 1000, 2)}
    sizes = replace(ctx.sizes, lowres_counts=(20, None))
    lowres = run_experiment("lowres", tmp_path / "low", [0, 1], ctx=ctx,
                            arms=["vectors", "full"])
    runs, summary, meta = _read(run_sources_experiment(
        tmp_path / "out", sources, [0, 1], sizes, "big", fast=True, device="cpu",
        lowres_runs=lowres["runs"]))
    assert len(runs) == 2 * 2 * 2 and set(runs["n_labels"]) == {20, 120}  # sources x counts x seeds
    assert (summary["n_seeds"] == 2).all()
    assert summary.set_index("source")["source_tokens"].to_dict() == {"small": 100, "big": 1000}
    assert meta["sources"]["small"]["train_tokens"] == 100 and meta["reference"] == "big"
    pairs = {(c["n_labels"], c["a"], c["b"]) for c in meta["comparisons"]}
    assert (20, "full from small", "full from big") in pairs
    assert {(n, f"full from {s}", "vectors") for n in (20, 120) for s in sources} <= pairs
    assert not any(c["n_labels"] == 50 for c in meta["comparisons"])  # no source ran 50
    assert all(c["paired"] for c in meta["comparisons"])
    assert not (tmp_path / "out" / "sources_runs.partial.csv").exists()


def test_small_label_counts_get_enough_steps_within_the_cap():
    sizes = experiment_sizes(False)  # the full experiments: 6 epochs, >= 150 steps, <= 30 epochs
    assert lowres_epochs(50, 16, sizes) == (30, 10)   # 4 steps/epoch: 38 wanted, capped
    assert lowres_epochs(100, 16, sizes) == (22, 8)   # 7 steps/epoch
    assert lowres_epochs(500, 16, sizes) == (6, 2)    # 32 steps/epoch: the usual 6 suffice
    assert lowres_epochs(10219, 64, sizes) == (6, 2)


def test_transfer_vs_scratch_sentence_follows_the_numbers():
    summary = pd.DataFrame({"strategy": ["ulmfit", "scratch"], "n_labels": [100, 1000],
                            "test_accuracy_mean": [0.71, 0.68],
                            "test_accuracy_std": [0.01, 0.02], "n_seeds": [3, 3]})
    assert transfer_vs_scratch(summary, "ulmfit").startswith("yes: ulmfit with 100 labels "
                                                             "reaches 0.710 ± 0.010")
    summary.loc[1, "test_accuracy_mean"] = 0.75
    assert transfer_vs_scratch(summary, "ulmfit").startswith("no:")
    assert transfer_vs_scratch(summary, "gradual").startswith("cannot answer")


def test_domains_never_score_on_the_k_training_sentences(ctx: Context, tmp_path: Path):
    runs, summary, meta = _read(run_experiment("domains", tmp_path, [0, 1], ctx=ctx))
    assert len(runs) == 2 * 3 * (1 + 2 * 3)  # seeds x domains x (as-is on all + k x 3 methods)
    # per domain and k: adapted vs as is and vs scratch, on the same held-out sentences
    assert len(meta["comparisons"]) == 3 * 2 * 2
    for c in meta["comparisons"]:
        assert c["n_test"] == 60 - c["k"] and c["seeds_a"] == 2 and c["low"] <= c["high"]
        assert c["versus"] in c["b"] and f"{c['domain']} sentences" in c["text"]
        assert c["paired"]  # over the held-out sentences, from each run's record
    records = pd.read_csv(tmp_path / "domains_correct.csv", dtype={"test_correct": str})
    assert len(records) == len(runs) and (records["test_correct"].str.len()
                                          == runs["n_eval"].to_numpy()).all()
    assert set(runs["method"]) == {"rt-as-is", "rt-adapted", "scratch"}
    assert (runs["n_eval"] == 60 - runs["k"]).all()
    assert runs["accuracy"].between(0, 1).all()
    assert len(summary) == len(runs) // 2 and (summary["n_seeds"] == 2).all()


def test_zeroshot_experiment_files(ctx: Context, tmp_path: Path):
    runs, summary, meta = _read(run_experiment("zeroshot", tmp_path, [0, 1], ctx=ctx))
    assert len(runs) == 5 + 2 * 2 and len(summary) == 5 + 2
    assert set(summary["method"]) == {"majority", "lm-zero-shot", "lm-zero-shot-calibrated",
                                      "glove-similarity", "glove-similarity-calibrated",
                                      "prototype"}
    assert (runs["n_test"] == 60).all() and meta["templates"]
    against = {c["a"]: c for c in meta["comparisons"]}
    assert set(against) == {"lm-zero-shot", "lm-zero-shot-calibrated", "glove-similarity",
                            "glove-similarity-calibrated", "prototype (k = 1)", "prototype (k = 4)"}
    assert all(c["b"] == "majority" for c in against.values())
    assert against["prototype (k = 4)"]["seeds_a"] == 2
    shares = runs[["pred_share_negative", "pred_share_positive"]].sum(axis=1)
    assert shares.round(6).eq(1).all() and "pred_share_positive" in summary
    calibrated = runs[runs["method"] == "glove-similarity-calibrated"].iloc[0]
    assert 0 < calibrated["pred_share_positive"] < 1  # a median threshold answers both classes


def test_cli_registers_experiments():
    args = build_parser().parse_args(["experiments", "lowres", "--fast", "--seeds", "0", "1",
                                      "--strategy", "gradual"])
    assert args.func is cmd_experiments and args.seeds == [0, 1] and args.fast
    with pytest.raises(SystemExit):
        build_parser().parse_args(["experiments", "lowres", "--strategy", "scratch"])


def test_best_strategy_is_chosen_on_valid_never_scratch_or_v1(tmp_path: Path):
    from transferlib.experiments.command import best_strategy

    path = tmp_path / "ablation.csv"
    pd.DataFrame({"strategy": ["scratch", "full", "ulmfit", "full-v1"],
                  "valid_accuracy": [0.9, 0.7, 0.8, 0.95],
                  "test_accuracy_mean": [0.5, 0.9, 0.6, 0.99]}).to_csv(path, index=False)
    assert best_strategy(path) == "ulmfit"
    with pytest.raises(DataError, match="ablation summary"):
        best_strategy(tmp_path / "missing.csv")


def test_markdown_tables_quote_the_csvs(ctx: Context, tmp_path: Path):
    from transferlib.experiments.report import markdown_tables

    run_experiment("ablation", tmp_path, [0], ctx=ctx, strategies=["scratch", "full"])
    run_experiment("zeroshot", tmp_path, [0], ctx=ctx)
    text = markdown_tables(tmp_path)
    zeroshot = pd.read_csv(tmp_path / "zeroshot.csv").set_index("method")
    assert f"| {100 * zeroshot.loc['majority', 'accuracy_mean']:.1f} % | 1 | – |" in text
    summary = pd.read_csv(tmp_path / "ablation.csv")
    first = summary.iloc[0]
    assert f"| {first['strategy']} | {100 * first['test_accuracy_mean']:.1f} %" in text


def test_an_interrupted_run_resumes_only_with_its_own_settings(tmp_path: Path):
    from transferlib.errors import DataError
    from transferlib.experiments.records import check_partial

    partial = tmp_path / "ablation_runs.partial.csv"
    meta = {"sizes": {"epochs": 2}, "pretrained": "data/source_model", "fast": True}
    check_partial(partial, meta)  # a fresh run records its settings
    partial.write_text("strategy,seed,test_accuracy\nscratch,0,0.5\n")
    check_partial(partial, meta)  # the same settings resume
    with pytest.raises(DataError, match="other settings"):
        check_partial(partial, {**meta, "sizes": {"epochs": 3}})


def test_sources_record_no_folder_of_the_machine(ctx: Context, tmp_path: Path):
    from transferlib.experiments.sources import source_facts

    folder = _source_folder(ctx, tmp_path / "elsewhere" / "p10", 100, 3)
    assert source_facts(folder)["folder"] == "…/p10"


def test_tables_read_the_records_for_paired_intervals(ctx: Context, tmp_path: Path):
    from transferlib.experiments.report import markdown_tables, read_runs

    run_experiment("domains", tmp_path, [0, 1], ctx=ctx)
    runs = read_runs(tmp_path / "domains_runs.csv")
    assert runs["test_correct"].notna().all()  # merged back from domains_correct.csv
    meta = json.loads((tmp_path / "domains.json").read_text())
    first = meta["comparisons"][0]
    assert f"{100 * first['delta']:+.1f} ({100 * first['low']:+.1f} … " in markdown_tables(tmp_path)
