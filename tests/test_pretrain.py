"""The source LM's options: a share of the source text, and GloVe vectors fine-tuned at a small
rate instead of frozen (``transferlib.pretrain``, notebook 05)."""

from __future__ import annotations

import pytest
import torch

from transferlib.errors import ArgumentError
from transferlib.pretrain import (
    PretrainConfig,
    load_source_corpus,
    parameter_groups,
    pretrain_language_model,
    take_fraction,
)
from transferlib.vectors import WordVectors

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_fraction_keeps_evenly_spread_blocks():
    sentences = [f"s{i}" for i in range(1000)]
    tenth = take_fraction(sentences, 0.1, block=10)
    assert len(tenth) == 100 and len(set(tenth)) == 100
    kept_blocks = sorted({int(s[1:]) // 10 for s in tenth})
    assert kept_blocks == list(range(9, 100, 10))  # one block in every ten, start to end
    third = take_fraction(sentences, 0.3, block=10)
    assert 290 <= len(third) <= 310 and third == sorted(third, key=lambda s: int(s[1:]))
    assert take_fraction(sentences, 1.0) == sentences
    for bad in (0, -0.5, 1.5):
        with pytest.raises(ArgumentError, match="fraction"):
            take_fraction(sentences, bad)


def test_source_corpus_fraction_is_a_subset_of_the_whole():
    whole = load_source_corpus("brown", fast=True)
    part = load_source_corpus("brown", fast=True, fraction=0.3)
    assert 0.2 * len(whole) < len(part) < 0.4 * len(whole) and set(part) <= set(whole)


def _vectors(words: list[str], dim: int = 6) -> WordVectors:
    gen = torch.Generator().manual_seed(0)
    return WordVectors(words, torch.randn(len(words), dim, generator=gen))


@pytest.mark.parametrize("factor", [0.0, 0.1])
def test_vectors_stay_frozen_or_move_at_their_own_rate(factor):
    texts = ["the cat sat on the mat", "a dog sat on a log", "the dog saw the cat"] * 30
    words = sorted({w for t in texts for w in t.split()})
    vectors = _vectors(words)
    cfg = PretrainConfig(hidden_dim=8, out_dim=0, output_vocab_size=0, epochs=1, batch_size=4,
                         bptt=8, embedding_lr_factor=factor, amp=False, device="cpu")
    result = pretrain_language_model(texts, texts[:6], cfg, vectors=vectors, progress=False)
    emb, vocab = result.model.encoder.embedding.weight.detach(), result.vocab
    start = vectors.vectors[[vectors.index[vocab.itos[i]] for i in range(4, len(vocab))]]
    moved = (emb[4:] - start).abs().max().item()
    if factor == 0:
        assert moved == 0 and result.metrics["embedding"] == "frozen pretrained vectors"
    else:
        assert moved > 0 and "fine-tuned at 0.1" in result.metrics["embedding"]
        groups = parameter_groups(result.model, 1e-3, factor)
        assert groups[1]["params"][0] is result.model.encoder.embedding.weight
        assert groups[1]["lr"] == pytest.approx(1e-4) and groups[1]["weight_decay"] == 0
        assert all(p is not groups[1]["params"][0] for p in groups[0]["params"])
    with pytest.raises(ArgumentError, match="embedding_lr_factor"):
        pretrain_language_model(texts, texts, PretrainConfig(embedding_lr_factor=-1),
                                vectors=vectors)
