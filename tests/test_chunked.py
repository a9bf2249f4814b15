"""Whole-document reading in chunks (transferlib.chunked, ULMFiT's BPT3C; notebook 06)."""

import pytest
import torch

from transferlib.chunked import chunked_pool
from transferlib.errors import ArgumentError
from transferlib.model import Classifier, ModelConfig, pool_valid


def _batch(lengths: list[int], vocab_size: int, seed: int = 0) -> torch.Tensor:
    """Right-padded random ids (>= 4: no specials) of the given lengths."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(4, vocab_size, (n,), generator=gen)
    return ids


def test_chunked_logits_equal_the_unchunked_ones_padding_included(tiny_cfg):
    """Dropout off: reading in chunks of 5 (state carried) = reading the whole text at once,
    for texts of 2-5 chunks padded to a common width, and for the pooled vector itself."""
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).eval()
    lengths = torch.tensor([23, 9, 17, 11])
    ids = _batch(lengths.tolist(), tiny_cfg.vocab_size)
    with torch.no_grad():
        whole = model(ids, lengths)
        for chunk_len in (5, 7, 22):
            torch.testing.assert_close(model(ids, lengths, chunk_len=chunk_len), whole)
        out, _ = model.encoder(ids)
        torch.testing.assert_close(chunked_pool(model.encoder, ids, lengths, 5),
                                   pool_valid(out, lengths))


def test_texts_within_one_chunk_give_exactly_the_unchunked_logits(tiny_cfg):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).eval()
    lengths = torch.tensor([6, 3])
    ids = _batch(lengths.tolist(), tiny_cfg.vocab_size)
    assert torch.equal(model(ids, lengths, chunk_len=6), model(ids, lengths))


def test_gradients_flow_only_through_the_last_chunks(tiny_cfg):
    """grad_chunks=1: words read only in the earlier chunks get no embedding gradient, the
    last chunk's words do, and every parameter still receives a gradient."""
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).train()
    early, late = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18]
    ids = torch.tensor([early + late])
    model(ids, torch.tensor([15]), chunk_len=5, grad_chunks=1).sum().backward()
    grad = model.encoder.embedding.weight.grad
    assert grad[early].abs().sum() == 0
    assert (grad[late].abs().sum(dim=1) > 0).all()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_a_budget_covering_every_chunk_gives_the_unchunked_gradients(tiny_cfg):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).train()  # tiny_cfg has no dropout
    lengths = torch.tensor([13, 8])
    ids = _batch(lengths.tolist(), tiny_cfg.vocab_size)
    grads = []
    for kwargs in ({}, {"chunk_len": 4, "grad_chunks": 4}):
        model.zero_grad()
        model(ids, lengths, **kwargs).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_a_batch_of_mixed_lengths_matches_each_text_read_alone(tiny_cfg):
    """Lengths 1, 12 and 30 in one batch (rows that ended still run through later chunks,
    masked): each row's logits = that text alone; training on the batch back-propagates."""
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).eval()
    lengths = torch.tensor([1, 12, 30])
    ids = _batch(lengths.tolist(), tiny_cfg.vocab_size, seed=1)
    with torch.no_grad():
        batch = model(ids, lengths, chunk_len=7)
        for row, n in enumerate(lengths.tolist()):
            alone = model(ids[row:row + 1, :n], lengths[row:row + 1], chunk_len=7)
            torch.testing.assert_close(batch[row:row + 1], alone)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(ids, lengths, chunk_len=7, grad_chunks=2),
                                             torch.tensor([0, 1, 0]))
    loss.backward()
    assert torch.isfinite(loss)


def test_state_dict_names_are_unchanged(tiny_cfg):
    """Chunking is a way of calling the model, not new weights: the course's saved
    classifiers still load."""
    lstm = [f"encoder.layers.{i}.{w}_{k}_l0" for i in range(tiny_cfg.num_layers)
            for w in ("weight", "bias") for k in ("ih", "hh")]
    head = [f"head.{i}.{w}" for i in (1, 4) for w in ("weight", "bias")]
    expected = {"encoder.embedding.weight", *lstm, *head}
    assert set(Classifier(ModelConfig(**tiny_cfg.to_dict())).state_dict()) == expected


@pytest.mark.parametrize("kwargs,word", [({"chunk_len": -1}, "chunk_len"),
                                         ({"chunk_len": 3, "grad_chunks": 0}, "grad_chunks")])
def test_a_bad_chunk_setting_is_one_clear_error(tiny_cfg, kwargs, word):
    model = Classifier(tiny_cfg)
    with pytest.raises(ArgumentError, match=word):
        model(_batch([9], tiny_cfg.vocab_size), torch.tensor([9]), **kwargs)
