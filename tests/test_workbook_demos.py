"""Tests for the demos of notebooks 02, 04 and 05 (``workbook.objective``, the padding and
temperature widgets, sampling): each is called directly and the test asserts on what it
changes. Models are tiny and built here, never the shipped source model, so the tests stay fast
whatever its size.
"""

from __future__ import annotations

import math

import pytest
import torch

from transferlib import generate, naive
from transferlib.batching import TextClassificationDataset, make_loader
from transferlib.datasets import load_rotten_tomatoes
from transferlib.model import Classifier, ModelConfig
from transferlib.pipeline import default_sizes
from transferlib.pretrain import PretrainConfig
from transferlib.training import set_seed
from transferlib.transfer import transfer_encoder
from transferlib.workbook import objective

# -- notebook 00 ---------------------------------------------------------------------------------

def test_fast_mode_widget_shrinks_every_size():
    fast, full = default_sizes(fast=True), default_sizes(fast=False)
    assert fast.epochs < full.epochs and fast.pretrain.epochs < full.pretrain.epochs
    for key in ("vocab_size", "emb_dim", "hidden_dim", "batch_size"):
        assert getattr(fast.pretrain, key) < getattr(full.pretrain, key)
    assert fast.max_train is not None and full.max_train is None
    assert full.pretrain == PretrainConfig()  # the shipped model's recipe, defined once












# -- notebook 01 ---------------------------------------------------------------------------------



def test_label_count_widget_changes_the_training_set_only(small_settings):
    few = objective.compare_with_scratch(16, small_settings)
    more = objective.compare_with_scratch(40, small_settings)
    assert (few["n_labels"], more["n_labels"]) == (16, 40)
    assert few["epochs"] > more["epochs"] >= small_settings.epochs  # ≥ 40 steps when possible
    assert few["n_valid"] == more["n_valid"] == 40
    for r in (few, more):
        assert 0.0 <= r["transfer_accuracy"] <= 1.0 and 0.0 <= r["scratch_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="n_labels"):
        objective.compare_with_scratch(1, small_settings)


def test_labelled_splits_are_nested_and_stratified(small_settings):
    from dataclasses import replace

    small, _ = objective.labelled_splits(replace(small_settings, n_train=20))
    large, valid = objective.labelled_splits(replace(small_settings, n_train=60))
    assert set(small["text"]) <= set(large["text"])
    assert abs((large["label"] == "positive").mean() - 0.584) < 0.05
    assert len(valid) == small_settings.n_valid
    large.loc[0, "text"] = "changed"  # a copy: the cached split is untouched
    assert objective.labelled_splits(replace(small_settings, n_train=60))[0].loc[0, "text"] \
        != "changed"


def test_similar_words_finds_the_closest_embedding(tiny_lm, rt_vocab):
    import copy

    lm = copy.deepcopy(tiny_lm)
    good, great = rt_vocab.stoi["good"], rt_vocab.stoi["great"]
    with torch.no_grad():
        lm.encoder.embedding.weight[great] = 2 * lm.encoder.embedding.weight[good]
    table = generate.similar_words(lm, rt_vocab, "good", top=5)
    assert table["word"].iloc[0] == "great" and table["cosine"].iloc[0] == pytest.approx(1.0)
    assert "good" not in set(table["word"]) and not set(table["word"]) & {"<pad>", "<unk>"}
    assert table["cosine"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        generate.similar_words(lm, rt_vocab, "zorblax")


# -- notebook 04 ---------------------------------------------------------------------------------



def test_toy_solutions_l2_goes_to_zero_and_l2sp_to_w0():
    toy = objective.toy_solutions([0.0, 1.0, 1e6], w_star=(2.0, 1.0), w0=(1.0, 3.0))
    at0 = toy[toy["lam"] == 0.0]
    assert at0[["w1", "w2"]].values.tolist() == [[2.0, 1.0], [2.0, 1.0]]  # λ = 0: data optimum
    big = toy[toy["lam"] == 1e6].set_index("regularizer")
    assert big.loc["l2", ["w1", "w2"]].abs().max() < 1e-4
    assert big.loc["l2sp", "distance_to_w0"] < 1e-4
    l2sp = toy[toy["regularizer"] == "l2sp"]["distance_to_w0"].tolist()
    assert l2sp[0] > l2sp[1] > l2sp[2]


def test_objective_terms_l2sp_is_zero_at_w0(tiny_lm, rt_vocab):
    from transferlib.batching import collate_padded
    from transferlib.regularizers import L2, L2SP

    set_seed(0)
    clf = Classifier(ModelConfig(**{**tiny_lm.cfg.to_dict(), "n_classes": 2}))
    transfer_encoder(clf, tiny_lm, rt_vocab, rt_vocab)
    batch = collate_padded([(torch.tensor([5, 6, 7]), torch.tensor(1)),
                            (torch.tensor([8, 9]), torch.tensor(0))])
    sp = objective.objective_terms(clf, batch, L2SP(clf, lam=0.1, beta=0.0))
    l2 = objective.objective_terms(clf, batch, L2(clf, lam=0.1))
    none = objective.objective_terms(clf, batch)
    assert sp["R"] == 0.0 and sp["objective"] == pytest.approx(none["data_term"])
    assert l2["R"] > 0 and l2["objective"] == pytest.approx(l2["data_term"] + 0.1 * l2["R"])
    assert none["data_term"] == pytest.approx(l2["data_term"])
    table = objective.parameter_table(clf)
    assert table["count"].sum() == sum(p.numel() for p in clf.parameters())
    assert set(table["part"]) == {"encoder (pretrained)", "head (new)"}


@pytest.fixture(scope="module")
def small_settings(lm_dir):
    return objective.retrain_settings(fast=True, n_train=48, n_valid=40, epochs=2,
                                      batch_size=16, max_len=24, pretrained=lm_dir, amp=False)


def test_lambda_widget_smaller_lambda_drifts_more_with_l2sp(small_settings):
    loose = objective.retrain_with_lambda(1e-4, "l2sp", small_settings)
    tight = objective.retrain_with_lambda(10.0, "l2sp", small_settings)
    free = objective.retrain_with_lambda(0.0, "none", small_settings)
    assert loose["drift"] > tight["drift"] > 0
    assert free["drift"] >= loose["drift"] * 0.9
    assert loose["lam"] == 1e-4 and tight["regularizer"] == "l2sp"
    assert 0.0 <= tight["valid_accuracy"] <= 1.0 and loose["n_train"] == 48


def test_l2_pulls_toward_zero_and_moves_further_than_l2sp(small_settings):
    l2 = objective.retrain_with_lambda(1.0, "l2", small_settings)
    sp = objective.retrain_with_lambda(1.0, "l2sp", small_settings)
    assert l2["w_norm"] < l2["w0_norm"]            # weights shrink toward 0
    assert l2["drift"] > 5 * sp["drift"]           # ... far from what pretraining learned


def test_retrain_is_cached_and_lambda_normalised(small_settings):
    first = objective.retrain_with_lambda(10 ** -3, "l2sp", small_settings)
    again = objective.retrain_with_lambda(0.001, "l2sp", small_settings)
    assert again == first                          # same cache entry, identical result
    again["drift"] = -1.0                          # callers get copies
    assert objective.retrain_with_lambda(0.001, "l2sp", small_settings)["drift"] >= 0
    with pytest.raises(ValueError, match="unknown regularizer"):
        objective.retrain_with_lambda(0.1, "l1", small_settings)
    with pytest.raises(ValueError, match=">= 0"):
        objective.retrain_with_lambda(-1.0, "l2", small_settings)


def test_tradeoff_curve_has_one_row_per_setting(small_settings):
    curve = objective.tradeoff_curve([1e-4, 10.0], ("l2sp",), small_settings)
    assert curve["regularizer"].tolist() == ["none", "l2sp", "l2sp"]
    sp = curve[curve["regularizer"] == "l2sp"]
    assert sp["drift"].iloc[0] > sp["drift"].iloc[1]
    fig = objective.plot_tradeoff(curve, scratch=0.5)
    assert len(fig.axes) == 2


# -- notebook 02 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def padding_models(tiny_lm):
    set_seed(0)
    clf = Classifier(ModelConfig(**{**tiny_lm.cfg.to_dict(), "n_classes": 2})).eval()
    return naive.NaiveTextClassifier.from_language_model(tiny_lm, output_dim=2), clf


def test_padding_widget_changes_the_naive_model_only(padding_models, rt_vocab):
    nv, clf = padding_models
    none = naive.compare_padding("a gripping film", 0, nv, clf, rt_vocab)
    assert none["naive_logit_change"] == 0.0 and none["pooled_logit_change"] == 0.0
    padded = naive.compare_padding("a gripping film", 15, nv, clf, rt_vocab)
    assert padded["naive_state_change"] > 1e-4
    assert padded["naive_logit_change"] > 1e-5
    assert padded["pooled_logit_change"] < 1e-5
    assert padded["pooled_p_positive_alone"] == pytest.approx(padded["pooled_p_positive_padded"],
                                                              abs=1e-6)
    assert padded["tokens"] == 3 and padded["n_pads"] == 15


def test_padding_sweep_forgets_the_sentence(padding_models, rt_vocab):
    nv, _ = padding_models
    sweep = naive.padding_sweep(nv, rt_vocab, ["a great film", "a dull film"], max_pads=40,
                                step=10)
    assert sweep["n_pads"].tolist() == [0, 10, 20, 30, 40]
    assert sweep["drift_0"].iloc[0] == 0.0 and sweep["drift_0"].iloc[-1] > 0
    assert sweep["separation"].iloc[0] == pytest.approx(1.0)
    assert sweep["separation"].iloc[-1] < 0.5


def test_naive_model_squeeze_bug_and_layout(rt_vocab):
    x = naive.naive_batch(["a great film", "dull"], rt_vocab, n_pads=2)
    assert tuple(x.shape) == (5, 2) and int(x[-1, 0]) == rt_vocab.pad_id
    one = naive.NaiveTextClassifier(len(rt_vocab), 8, 6, 2)
    two = naive.NaiveTextClassifier(len(rt_vocab), 8, 6, 2, num_layers=2)
    assert tuple(one(x).shape) == (2, 2)
    assert tuple(two(x).shape) == (2, 2, 2)  # squeeze(0) left the layer axis in place
    with pytest.raises(ValueError):
        naive.naive_batch(["x"], rt_vocab, n_pads=-1)


def test_padding_slider_bucketing_reduces_padding(rt_vocab):
    df = load_rotten_tomatoes("valid")
    ds = TextClassificationDataset(df["text"], df["label"], rt_vocab, ["negative", "positive"])
    shares = {b: naive.pad_fraction(make_loader(ds, 64, bucket=b, seed=0)) for b in (False, True)}
    assert shares[True] < shares[False] / 3
    assert naive.pad_fraction(make_loader(ds, 1, bucket=False)) == 0.0  # batch of one: no pads




# -- notebook 05 ---------------------------------------------------------------------------------

def test_temperature_widget_higher_temperature_higher_entropy(tiny_lm, rt_vocab):
    cold = generate.sample_text(tiny_lm, rt_vocab, "the film is", 20, temperature=0.3, seed=1)
    warm = generate.sample_text(tiny_lm, rt_vocab, "the film is", 20, temperature=1.0, seed=1)
    hot = generate.sample_text(tiny_lm, rt_vocab, "the film is", 20, temperature=2.0, seed=1)
    assert cold.mean_entropy < warm.mean_entropy < hot.mean_entropy
    # the first step has the same context at every temperature: entropy strictly increases
    assert cold.entropies[0] < warm.entropies[0] < hot.entropies[0]
    assert len(hot.tokens) == 20 and hot.text.startswith("the film is")


def test_sampling_is_seeded_and_never_emits_banned_tokens(tiny_lm, rt_vocab):
    a = generate.sample_text(tiny_lm, rt_vocab, "a", 30, temperature=1.5, seed=3)
    b = generate.sample_text(tiny_lm, rt_vocab, "a", 30, temperature=1.5, seed=3)
    c = generate.sample_text(tiny_lm, rt_vocab, "a", 30, temperature=1.5, seed=4)
    assert a == b and a.tokens != c.tokens
    assert not {"<pad>", "<bos>", "<unk>"} & set(a.tokens + c.tokens)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            generate.sample_text(tiny_lm, rt_vocab, "a", 5, temperature=bad)


def test_next_words_sharpen_at_low_temperature(tiny_lm, rt_vocab):
    cold = generate.next_words(tiny_lm, rt_vocab, "it was", top=5, temperature=0.2)
    warm = generate.next_words(tiny_lm, rt_vocab, "it was", top=5, temperature=1.0)
    assert cold["word"].tolist() == warm["word"].tolist()  # same ranking
    assert cold["probability"].iloc[0] > warm["probability"].iloc[0]
    assert warm["probability"].is_monotonic_decreasing


def test_perplexity_matches_the_mean_loss(tiny_lm, rt_vocab):
    texts = list(load_rotten_tomatoes("valid")["text"][:100])
    result = generate.perplexity(tiny_lm, rt_vocab, texts, batch_size=4, bptt=16)
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    # an untrained model is close to a uniform guess over the vocabulary
    assert 0.5 * len(rt_vocab) < result["perplexity"] < 1.5 * len(rt_vocab)
    capped = generate.perplexity(tiny_lm, rt_vocab, texts, batch_size=4, bptt=16, max_tokens=200)
    assert capped["tokens"] < result["tokens"]


def test_detokenize():
    assert generate.detokenize(["hello", ",", "world", "!", "<eos>", "bye", "."]) == \
        "hello, world!\nbye."




