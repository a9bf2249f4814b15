"""Predictions for raw sentences (taught in notebook 06: "try your own sentence")."""

from __future__ import annotations

import torch

from transferlib.batching import collate_padded
from transferlib.model import Classifier
from transferlib.text import Vocab, numericalize


@torch.no_grad()
def predict_texts(model: Classifier, vocab: Vocab, texts: list[str],
                  max_len: int = 96) -> list[list[float]]:
    """Class probabilities for each text (one list per text, in the model's class order)."""
    if not texts:
        return []
    model.eval()
    device = next(model.parameters()).device
    batch = [(torch.tensor(numericalize(t, vocab, max_len)), torch.tensor(0)) for t in texts]
    ids, lengths, _ = collate_padded(batch, vocab.pad_id)
    probs = model(ids.to(device), lengths.to(device)).float().softmax(dim=-1)
    return probs.cpu().tolist()
