"""Tests for ``workbook.widgets`` (notebooks 06-10): each widget callback is called directly
and the test asserts on what it changes. Models are tiny and built
here, never the shipped source model, so the tests stay fast whatever its size.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from transferlib.datasets import load_rotten_tomatoes
from transferlib.model import Classifier, ModelConfig
from transferlib.training import set_seed
from transferlib.workbook import widgets as wf


@pytest.fixture()
def tiny_clf(rt_vocab) -> Classifier:
    set_seed(0)
    return Classifier(ModelConfig(vocab_size=len(rt_vocab), emb_dim=8, hidden_dim=12,
                                  num_layers=2, n_classes=2, head_hidden=8))


# -- notebook 06 ---------------------------------------------------------------------------------

def test_live_plot_draws_every_epoch_it_is_given():
    live = wf.LivePlot(show=False)
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.7, 0.6, 0.5],
                            "valid_loss": [0.69, 0.65, 0.6], "train_accuracy": [0.5, 0.6, 0.7],
                            "valid_accuracy": [0.55, 0.6, 0.62]})
    live(2, history)
    assert live.epochs_seen == 3
    loss_ax, acc_ax = live.axes
    assert list(loss_ax.lines[1].get_ydata()) == [0.69, 0.65, 0.6]
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.6, 0.7]
    assert live.png().startswith(b"\x89PNG")


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    table = wf.confusion_matrix(["pos", "pos", "neg", "neg", "neg"],
                                ["pos", "neg", "neg", "neg", "pos"], ["neg", "pos"])
    assert table.loc["neg", "neg"] == 2 and table.loc["neg", "pos"] == 1
    assert table.loc["pos", "neg"] == 1 and table.loc["pos", "pos"] == 1
    empty = wf.confusion_matrix(["neg"], ["neg"], ["neg", "pos"])
    assert empty.loc["pos", "pos"] == 0  # a class never seen still gets its row and column
    with pytest.raises(ValueError, match="2 true labels but 1"):
        wf.confusion_matrix(["a", "b"], ["a"], ["a", "b"])


def test_describe_prediction_follows_the_model_and_flags_unknown_words(tiny_clf, rt_vocab):
    classes = ["negative", "positive"]
    with torch.no_grad():  # make the head always answer 'positive'
        last = tiny_clf.head[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-5.0, 5.0]))
    text = wf.describe_prediction(tiny_clf, rt_vocab, classes, "a fine film zzqxv")
    assert text.startswith("positive (negative 0.00, positive 1.00)")
    assert "zzqxv" in text
    assert wf.describe_prediction(tiny_clf, rt_vocab, classes, "   ") == "type a sentence first"
    assert wf.predict_labels(tiny_clf, rt_vocab, classes, ["good", "bad"]) == ["positive"] * 2


# -- notebook 07 ---------------------------------------------------------------------------------

def test_schedule_rates_stlr_rises_then_falls_and_constant_stays():
    stlr = wf.schedule_rates("stlr", 100, lr=0.01)
    peak = stlr.index(max(stlr))
    assert peak == 10 and stlr[0] == pytest.approx(0.01 / 32)
    assert all(a < b for a, b in zip(stlr[:peak], stlr[1:peak + 1]))
    assert all(a >= b for a, b in zip(stlr[peak:], stlr[peak + 1:]))
    assert set(wf.schedule_rates("constant", 10, lr=0.5)) == {0.5}
    with pytest.raises(ValueError, match="unknown schedule"):
        wf.schedule_rates("cosine", 10)


def test_rate_table_divides_by_2_6_per_group_only_when_discriminative(tiny_clf):
    table = wf.rate_table(tiny_clf, 0.01)
    assert list(table["group"]) == ["embedding", "lstm 0", "lstm 1", "head"]
    assert table["lr"].iloc[0] == pytest.approx(0.01 / 2.6 ** 3)
    assert set(wf.rate_table(tiny_clf, 0.01, discriminative=False)["lr"]) == {0.01}


def test_unfreezing_table_adds_one_group_per_epoch_and_leaves_all_trainable(tiny_clf):
    table = wf.unfreezing_table(tiny_clf, 5)
    assert list(table["head"]) == ["trains"] * 5
    assert list(table["embedding"]) == ["frozen"] * 3 + ["trains"] * 2
    assert table["trainable"].is_monotonic_increasing
    assert all(p.requires_grad for p in tiny_clf.parameters())


def test_run_strategies_trains_each_picked_strategy_on_n_labels(lm_dir):
    rt = load_rotten_tomatoes("train")
    valid, test = load_rotten_tomatoes("valid").head(40), load_rotten_tomatoes("test").head(40)
    table = wf.run_strategies(["scratch", "feature-extraction"], 30, rt, valid, test, lm_dir,
                              epochs=1, min_steps=6)
    assert list(table["strategy"]) == ["scratch", "feature-extraction"]
    assert set(table["n_labels"]) == {30}
    assert set(table["epochs"]) == {3}  # 30 labels in batches of 16: 2 steps an epoch, 6 needed
    assert table["test_top_share"].between(0.5, 1).all()
    assert table["test_accuracy"].between(0, 1).all()
    frozen = table.set_index("strategy")["trainable_params"]
    assert frozen["feature-extraction"] < frozen["scratch"]  # only the head trains
    with pytest.raises(ValueError, match="at least one"):
        wf.run_strategies([], 30, rt, valid, test, lm_dir)


# -- notebook 08 ---------------------------------------------------------------------------------

def test_run_levers_measures_the_baseline_plus_the_picked_levers(lm_dir):
    from dataclasses import replace

    from transferlib.bench.train import FAST, load_bench_data

    sizes = replace(FAST, n_train=64, n_valid=32, budget=4, repeats=1, steps=2)
    data = load_bench_data(lm_dir, sizes, torch.device("cpu"), 0)
    table = wf.run_levers(["frozen encoder"], data, repeats=1)
    assert list(table["row"]) == ["baseline", "frozen encoder"]
    assert table["speedup"].iloc[0] == 1.0
    params = table.set_index("row")["trainable_params"]
    assert params["frozen encoder"] < params["baseline"]
    assert "frozen encoder" in wf.lever_names()
    with pytest.raises(ValueError, match="unknown lever"):
        wf.run_levers(["warp drive"], data)


# -- notebook 09 ---------------------------------------------------------------------------------

def test_rank_shards_split_the_batches_between_ranks():
    lengths = list(range(1, 25))
    shards = wf.rank_shards(lengths, batch_size=3, world_size=2)
    assert set(shards["rank"]) == {0, 1}
    per_rank = [sum(shards[shards["rank"] == r]["examples"], []) for r in (0, 1)]
    assert not set(per_rank[0]) & set(per_rank[1])  # 8 batches: no example read twice
    assert sorted(per_rank[0] + per_rank[1]) == list(range(24))
    assert wf.rank_shards(lengths, 3, 1)["rank"].eq(0).all()


def test_accumulation_matches_the_big_batch_and_small_batches_do_not():
    gap = wf.accumulation_gap(4, batch_size=4)
    assert gap["accumulated_vs_big"] < 1e-5
    assert gap["small_vs_big"] > 100 * max(gap["accumulated_vs_big"], 1e-7)
    with pytest.raises(ValueError):
        wf.accumulation_gap(0)


# -- notebook 10 ---------------------------------------------------------------------------------

def test_prototype_accuracy_one_row_per_seed_and_depends_on_k(tiny_lm, rt_vocab):
    train = load_rotten_tomatoes("train")
    test = load_rotten_tomatoes("test").head(60)
    small = wf.prototype_accuracy(tiny_lm, rt_vocab, train, test, 1, seeds=(0, 1))
    assert list(small["seed"]) == [0, 1] and set(small["k"]) == {1}
    assert small["accuracy"].between(0, 1).all()
    big = wf.prototype_accuracy(tiny_lm, rt_vocab, train, test, 20, seeds=(0, 1))
    assert not big["accuracy"].equals(small["accuracy"])
