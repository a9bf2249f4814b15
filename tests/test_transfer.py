import pytest
import torch

from transferlib.errors import CheckpointError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.text import Vocab
from transferlib.transfer import build_target_vocab, transfer_encoder


def _source(tiny_cfg):
    src_vocab = Vocab.build([["film", "good", "bad", "the"]])
    cfg = ModelConfig(**{**tiny_cfg.to_dict(), "vocab_size": len(src_vocab), "n_classes": 0})
    torch.manual_seed(1)
    return LanguageModel(cfg), src_vocab


def test_vocabulary_transfer_maps_known_words_exactly(tiny_cfg):
    source, src_vocab = _source(tiny_cfg)
    tgt_vocab = build_target_vocab(src_vocab, ["a film , a movie", "movie movie"], min_freq=2)
    assert tgt_vocab.itos[: len(src_vocab)] == src_vocab.itos and "movie" in tgt_vocab
    target = Classifier(ModelConfig(**{**tiny_cfg.to_dict(), "vocab_size": len(tgt_vocab)}))
    report = transfer_encoder(target, source, src_vocab, tgt_vocab)
    src_emb, tgt_emb = source.encoder.embedding.weight, target.encoder.embedding.weight
    for word in ["film", "good", "bad", "the"]:
        assert torch.equal(tgt_emb[tgt_vocab.stoi[word]], src_emb[src_vocab.stoi[word]])
    mean = src_emb[4:].mean(dim=0)
    torch.testing.assert_close(tgt_emb[tgt_vocab.stoi["movie"]], mean)
    assert report.copied == len(src_vocab) and report.new == len(tgt_vocab) - len(src_vocab)
    assert "movie" in report.new_examples
    for t_layer, s_layer in zip(target.encoder.layers, source.encoder.layers):
        for (n, a), (_, b) in zip(t_layer.named_parameters(), s_layer.named_parameters()):
            assert torch.equal(a, b), n


def test_transfer_refuses_mismatched_sizes(tiny_cfg):
    source, src_vocab = _source(tiny_cfg)
    target = Classifier(ModelConfig(**{**tiny_cfg.to_dict(), "vocab_size": len(src_vocab),
                                       "hidden_dim": 7}))
    with pytest.raises(CheckpointError, match="hidden_dim"):
        transfer_encoder(target, source, src_vocab, src_vocab)


def test_word_vectors_of_another_width_are_reported_not_silently_dropped(tiny_cfg):
    from transferlib.vectors import WordVectors

    source, src_vocab = _source(tiny_cfg)
    tgt_vocab = build_target_vocab(src_vocab, ["a movie", "movie movie"], min_freq=2)
    target = Classifier(ModelConfig(**{**tiny_cfg.to_dict(), "vocab_size": len(tgt_vocab)}))
    width = tiny_cfg.emb_dim + 3
    vectors = WordVectors(["movie"], torch.ones(1, width))
    report = transfer_encoder(target, source, src_vocab, tgt_vocab, vectors)
    assert report.from_vectors == 0
    assert f"{width}-d" in report.vectors_unused and f"{tiny_cfg.emb_dim}-d" in str(report)
    same = WordVectors(["movie"], torch.ones(1, tiny_cfg.emb_dim))
    assert transfer_encoder(target, source, src_vocab, tgt_vocab, same).vectors_unused == ""
