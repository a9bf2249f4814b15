"""Tests for transferlib.zeroshot: label-phrase scoring, pooled features, class prototypes."""

from __future__ import annotations

import pytest
import torch

from transferlib import datasets
from transferlib.checkpoint import save_model
from transferlib.errors import DataError
from transferlib.fewshot import (
    class_prototypes,
    encode_features,
    nearest_prototype,
    sample_per_class,
)
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.text import SPECIALS, Vocab, tokenize
from transferlib.zeroshot import phrase_log_probs, run_zeroshot, usable_templates, zero_shot_scores

WORDS = ("it was great terrible the movie is good bad a film . , plot boring fun acting "
         "i thought wonderful awful all in fine poor").split()
CLASSES = ["negative", "positive"]
ONE = (("it was {} .", {"positive": "great", "negative": "terrible"}),)
TEXTS = ["the acting is fun .", "boring plot", "a film", "", "i thought the movie was bad , "
         "the plot was boring and the acting was poor ."]


pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_lm(seed: int = 0) -> tuple[LanguageModel, Vocab]:
    torch.manual_seed(seed)
    vocab = Vocab(list(SPECIALS) + WORDS)
    lm = LanguageModel(ModelConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=12,
                                   num_layers=2))
    return lm.eval(), vocab


@torch.no_grad()
def _brute_force(lm: LanguageModel, vocab: Vocab, text: str, phrase: str) -> float:
    """log p(phrase | <eos> text) from one forward pass over the whole sequence."""
    context = [vocab.eos_id] + vocab.encode(tokenize(text))
    target = vocab.encode(tokenize(phrase))
    logits, _ = lm(torch.tensor([context + target]))
    logp = logits[0].log_softmax(-1)
    return sum(float(logp[len(context) - 1 + j, t]) for j, t in enumerate(target))


def test_phrase_scores_match_a_full_forward_pass_for_a_padded_batch():
    lm, vocab = _tiny_lm()
    phrases = ["it was great .", "bad", "the movie is good ."]
    got = phrase_log_probs(lm, vocab, TEXTS, phrases, batch_size=3)
    want = torch.tensor([[_brute_force(lm, vocab, t, p) for p in phrases] for t in TEXTS])
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # an empty text is the phrase's prior: the phrase right after a sentence boundary
    prior = phrase_log_probs(lm, vocab, [""], phrases[:1])[0, 0]
    assert prior == pytest.approx(_brute_force(lm, vocab, "", phrases[0]), abs=1e-4)


@pytest.mark.parametrize("favoured,expected", [("great", "positive"),
                                               ("terrible", "negative")])
def test_zero_shot_follows_the_word_the_lm_makes_likelier(favoured: str, expected: str):
    lm, vocab = _tiny_lm()
    with torch.no_grad():
        lm.decoder_bias[vocab.stoi[favoured]] = 12.0
    scores, prior = zero_shot_scores(lm, vocab, TEXTS, CLASSES, ONE)
    assert scores.shape == (len(TEXTS), 2) and prior.shape == (2,)
    assert (scores.argmax(1) == CLASSES.index(expected)).all()
    assert prior.argmax() == CLASSES.index(expected)


def test_scores_average_the_templates_per_class():
    lm, vocab = _tiny_lm(seed=1)
    two = ONE + (("the movie is {} .", {"positive": "good", "negative": "bad"}),)
    scores, prior = zero_shot_scores(lm, vocab, TEXTS, CLASSES, two)
    each = phrase_log_probs(lm, vocab, TEXTS, ["it was terrible .", "the movie is bad .",
                                               "it was great .", "the movie is good ."])
    want = torch.stack([each[:, :2].mean(1), each[:, 2:].mean(1)], dim=1)
    torch.testing.assert_close(scores, want)
    assert prior[1] == pytest.approx(float(phrase_log_probs(
        lm, vocab, [""], ["it was great .", "the movie is good ."]).mean()), abs=1e-5)


def test_calibration_removes_a_preference_that_ignores_the_review():
    lm, vocab = _tiny_lm(seed=3)
    with torch.no_grad():
        for layer in lm.encoder.layers:  # zero LSTMs output 0: the LM ignores its context
            for p in layer.parameters():
                p.zero_()
        lm.decoder_bias[vocab.stoi["great"]] = 5.0
    scores, prior = zero_shot_scores(lm, vocab, TEXTS, CLASSES, ONE)
    assert (scores.argmax(1) == CLASSES.index("positive")).all()
    torch.testing.assert_close(scores - prior, torch.zeros_like(scores), atol=1e-5, rtol=0)


def test_templates_with_unknown_words_are_dropped_and_none_left_is_an_error():
    vocab = Vocab(list(SPECIALS) + "it was great terrible .".split())
    kept = usable_templates(vocab, ONE + (("so {} !", {"positive": "good",
                                                        "negative": "bad"}),))
    assert [t for t, _ in kept] == ["it was {} ."]
    with pytest.raises(DataError, match="vocabulary"):
        usable_templates(Vocab(list(SPECIALS) + ["it"]), ONE)


def test_encode_features_equal_classifier_features_whatever_the_batch():
    lm, vocab = _tiny_lm()
    clf = Classifier(ModelConfig(**{**lm.cfg.to_dict(), "n_classes": 2}))
    clf.encoder.load_state_dict(lm.encoder.state_dict())
    clf.eval()
    feats = encode_features(lm.encoder, vocab, TEXTS, batch_size=2)
    for i, text in enumerate(TEXTS):
        ids = torch.tensor([vocab.encode(tokenize(text)) or [vocab.unk_id]])
        one = clf.features(ids, torch.tensor([ids.size(1)]))[0]
        torch.testing.assert_close(feats[i], one, atol=1e-5, rtol=1e-5)


def test_prototypes_separate_linearly_separable_toy_features():
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 40 + [1] * 40)
    feats = torch.randn(80, 6, generator=gen) * 0.5
    feats[:, 0] += torch.where(labels == 1, 3.0, -3.0)  # separable along the first axis
    support = torch.tensor([0, 1, 2, 40, 41, 42])
    protos = class_prototypes(feats[support], labels[support], 2)
    assert protos.shape == (2, 6)
    assert (nearest_prototype(feats, protos) == labels).all()
    with pytest.raises(ValueError, match="no support"):
        class_prototypes(feats[:3], labels[:3], 2)


def test_sample_per_class_is_balanced_seeded_and_checked():
    labels = ["a"] * 30 + ["b"] * 7
    pick = sample_per_class(labels, 5, seed=1)
    assert sorted(labels[i] for i in pick) == ["a"] * 5 + ["b"] * 5
    assert pick == sample_per_class(labels, 5, seed=1) != sample_per_class(labels, 5, seed=2)
    with pytest.raises(DataError, match="fewer than k=8"):
        sample_per_class(labels, 8, seed=0)


def test_run_zeroshot_rows_and_majority_baseline(tmp_path):
    lm, vocab = _tiny_lm()
    save_model(tmp_path / "lm", lm, vocab)
    train = datasets.load_rotten_tomatoes("train").iloc[::50]
    test = datasets.load_rotten_tomatoes("test").head(40)
    runs = run_zeroshot(tmp_path / "lm", train, test, seeds=[0, 1], ks=(1, 3), device="cpu")
    assert list(runs.columns) == ["method", "k", "seed", "accuracy", "n_test",
                                  "pred_share_negative", "pred_share_positive"]
    assert len(runs) == 3 + 2 * 2
    assert (runs["n_test"] == 40).all() and runs["accuracy"].between(0, 1).all()
    majority = train["label"].value_counts().idxmax()
    want = float((test["label"] == majority).mean())
    got = runs.loc[runs["method"] == "majority", "accuracy"].item()
    assert got == pytest.approx(want)
    assert set(runs.loc[runs["method"] == "prototype", "k"]) == {1, 3}
