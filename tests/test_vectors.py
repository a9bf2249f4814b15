"""The shipped GloVe vectors, word composition, vocabulary transfer from GloVe, the v2 LM's
projection and limited softmax, and the baselines written into metrics.json."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
import torch

from transferlib import config, datasets
from transferlib.baselines import (
    choose_max_len,
    count_truncated,
    majority_accuracy,
    tfidf_logreg_accuracy,
)
from transferlib.errors import DataError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.param_groups import layer_groups
from transferlib.text import Vocab, tokenize
from transferlib.transfer import embedding_from_vectors, transfer_encoder, vocab_from_vectors
from transferlib.vectors import VECTORS_CARD, WordVectors, load_word_vectors, word_parts


@pytest.fixture(scope="module")
def glove() -> WordVectors:
    return load_word_vectors()


def test_word_parts_split_like_glove():
    assert word_parts("isn't") == ["is", "n't"]
    assert word_parts("can't") == ["ca", "n't"]
    assert word_parts("film's") == ["film", "'s"]
    assert word_parts("well-made") == ["well", "made"]
    assert word_parts("film") == ["film"]


def test_shipped_vectors_are_glove_and_cover_every_shipped_dataset(glove):
    assert glove.dim == 50 and len(glove) > 30_000
    assert glove.words[:3] == ["the", ",", "."]
    card = json.loads((config.data_dir() / VECTORS_CARD).read_text("utf-8"))
    assert "PDDL" in card["source"]["licence"] and "Pennington" in card["source"]["citation"]
    for name, cov in card["coverage"].items():
        assert cov["shipped"]["token_coverage"] >= 0.97, name
    # recompute one coverage figure from the files themselves
    counts = Counter(t for s in datasets.load_rotten_tomatoes("train")["text"]
                     for t in tokenize(s))
    assert glove.coverage(counts)["token_coverage"] >= 0.97


def test_neighbours_and_composition(glove):
    words = [w for w, _ in glove.nearest("excellent", 10)]
    assert "excellent" not in words and {"good", "superb", "outstanding"} & set(words)
    vec, how = glove.get("isn't")
    assert how in ("glove", "composed") and vec is not None
    assert glove.get("qzxqzxq")[1] == "unknown"


def test_tampered_vectors_are_refused(tmp_path):
    root = config.data_dir()
    shutil.copytree(root / "vectors", tmp_path / "vectors")
    path = tmp_path / "vectors" / "words.json"
    path.write_text(path.read_text("utf-8").replace('"the"', '"teh"', 1), "utf-8")
    with pytest.raises(DataError, match="SHA-256"):
        load_word_vectors(tmp_path)


def test_vocabulary_transfer_takes_new_words_from_glove(glove):
    source_vocab = vocab_from_vectors(["the film was good . the film was bad ."] * 2, glove)
    cfg = ModelConfig(vocab_size=len(source_vocab), emb_dim=50, hidden_dim=8, num_layers=2,
                      out_dim=6)
    source = LanguageModel(cfg)
    counts = embedding_from_vectors(source.encoder.embedding, source_vocab, glove)
    assert counts == {"glove": len(source_vocab) - 4}
    target_vocab = source_vocab.extend(Counter(["masterpiece", "masterpiece", "zzqqxx"]))
    target = Classifier(ModelConfig(**{**cfg.to_dict(), "vocab_size": len(target_vocab),
                                       "n_classes": 2}))
    report = transfer_encoder(target, source, source_vocab, target_vocab, glove)
    assert (report.copied, report.new, report.from_vectors) == (len(source_vocab), 2, 1)
    row = target.encoder.embedding.weight[target_vocab.stoi["masterpiece"]]
    assert torch.allclose(row, glove.get("masterpiece")[0])
    assert report.new_examples == ["zzqqxx"] and "from GloVe" in str(report)


def test_lm_projection_and_limited_softmax():
    cfg = ModelConfig(vocab_size=30, emb_dim=6, hidden_dim=8, num_layers=2, out_dim=10,
                      output_vocab_size=12)
    lm = LanguageModel(cfg)
    logits, _ = lm(torch.randint(0, 30, (2, 5)))
    assert logits.shape == (2, 5, 12) and lm.projection is not None
    targets = torch.tensor([3, 11, 12, 29])
    assert lm.output_targets(targets).tolist() == [3, 11, 1, 1]
    assert any(p is lm.projection.weight for p in layer_groups(lm)[-1])
    clf = Classifier(ModelConfig(**{**cfg.to_dict(), "n_classes": 2, "output_vocab_size": 0}))
    assert clf.head[1].in_features == 3 * 10


def test_baselines():
    assert majority_accuracy(["a", "a", "b"], ["a", "b", "b", "b"]) == 0.25
    texts = [f"{w} movie number {i}" for i, w in enumerate(["great", "awful"] * 40)]
    labels = ["pos", "neg"] * 40
    assert tfidf_logreg_accuracy(texts[:60], labels[:60], texts[60:], labels[60:]) == 1.0
    assert choose_max_len(["one two"] * 10) == 32
    assert choose_max_len(["w " * 1000] * 10) == 400
    assert count_truncated(["a b c", "a"], 2) == 1


def test_long_reviews_are_long_unbalanced_and_split_apart():
    frame = datasets.make_long_reviews(200, 0.65, seed=1)
    assert set(frame["split"]) == {"train", "valid", "test"}
    train = frame[frame["split"] == "train"]
    assert abs((train["label"] == "positive").mean() - 0.65) < 0.02
    assert frame["text"].map(lambda t: len(tokenize(t))).median() > 100
    vocab = Vocab.build([tokenize(t) for t in frame["text"]])
    assert len(vocab) > 1000
