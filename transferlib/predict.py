"""Predictions for raw sentences (taught in notebook 06: "try your own sentence")."""

from __future__ import annotations

import torch

from transferlib.batching import DEFAULT_MAX_LEN, encode_texts
from transferlib.chunked import chunk_kwargs
from transferlib.model import Classifier
from transferlib.text import Vocab


@torch.no_grad()
def predict_texts(model: Classifier, vocab: Vocab, texts: list[str],
                  max_len: int | None = DEFAULT_MAX_LEN, chunk_len: int = 0) -> list[list[float]]:
    """Class probabilities for each text (one list per text, in the model's class order);
    ``chunk_len > 0`` reads texts longer than that in chunks (``chunked``, notebook 06)."""
    if not texts:
        return []
    model.eval()
    device = next(model.parameters()).device
    ids, lengths = encode_texts(texts, vocab, max_len)
    logits = model(ids.to(device), lengths.to(device), **chunk_kwargs(chunk_len))
    probs = logits.float().softmax(dim=-1)
    return probs.cpu().tolist()
