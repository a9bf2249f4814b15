"""The seed's naive classifier, rendered in modern PyTorch, to measure its bugs (notebook 02).

The blog post this workbook grew from trains ``embedding → nn.LSTM → hidden.squeeze(0) → fc``
on batches from the long-deleted ``torchtext.data`` API. ``NaiveTextClassifier`` keeps that
model exactly (sequence-first batches, no ``padding_idx``, the final hidden state read *after*
the padding, ``hidden.squeeze(0)``) so that notebook 02 can show, with numbers, what each bug
does next to transferlib's ``Classifier``, which pools over the valid positions only
(``model.pool_valid``). Besides notebook 02, only ``bench.tta`` uses it: the seed's model and
loop are that benchmark's baseline arm (notebook 08).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from transferlib.batching import encode_texts
from transferlib.errors import ArgumentError
from transferlib.model import Classifier, LanguageModel
from transferlib.text import Vocab, numericalize


class NaiveTextClassifier(nn.Module):
    """The seed's ``TextClassifier``: ``ids [T, B]`` (sequence first) → ``fc(hidden.squeeze(0))``.

    ``num_layers`` and ``dropout`` are not in the seed (it has one layer and no dropout); they
    exist here to show that ``squeeze(0)`` breaks with two layers and that forgetting
    ``model.eval()`` makes predictions random as soon as the model has dropout.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, output_dim: int,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=num_layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The seed's forward pass plus an embedding dropout (identity by default); ``x`` is
        ``[T, B]``, as legacy torchtext gave."""
        embedded = self.dropout(self.embedding(x))
        output, (hidden, _) = self.lstm(embedded)
        hidden = hidden.squeeze(0)  # [num_layers, B, H] → [B, H] only when num_layers == 1
        return self.fc(hidden)

    def final_state(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's final hidden state ``[B, H]``: what ``fc`` sees for one layer
        (notebook 02)."""
        _, (hidden, _) = self.lstm(self.dropout(self.embedding(x)))
        return hidden[-1]

    @classmethod
    def from_language_model(cls, lm: LanguageModel, output_dim: int = 2,
                            seed: int = 0) -> NaiveTextClassifier:
        """A one-layer naive model whose embedding and LSTM are copied from ``lm``'s embedding
        and first LSTM layer (the seed had no pretrained weights; this makes the padding demo
        use realistic hidden states). ``fc`` is random, seeded (notebook 02)."""
        torch.manual_seed(seed)
        emb = lm.encoder.embedding
        first = lm.encoder.layers[0]
        model = cls(emb.num_embeddings, emb.embedding_dim, first.hidden_size, output_dim)
        with torch.no_grad():
            model.embedding.weight.copy_(emb.weight)
            model.lstm.load_state_dict(first.state_dict())
        return model.eval()


def naive_batch(texts: Sequence[str], vocab: Vocab, n_pads: int = 0) -> torch.Tensor:
    """Right-padded ids in the legacy torchtext layout ``[T, B]`` (sequence first), with
    ``n_pads`` extra padding columns appended after the longest text (notebook 02)."""
    if n_pads < 0:
        raise ArgumentError(f"n_pads must be >= 0, got {n_pads}")
    ids, _ = encode_texts(texts, vocab, max_len=None)
    pads = torch.full((ids.size(0), n_pads), vocab.pad_id, dtype=torch.long)
    return torch.cat([ids, pads], dim=1).t().contiguous()


@torch.no_grad()
def compare_padding(sentence: str, n_pads: int, naive: NaiveTextClassifier,
                    classifier: Classifier, vocab: Vocab) -> dict:
    """One sentence alone vs the same sentence followed by ``n_pads`` padding tokens.

    Returns the largest absolute change of each model's output logits (and of the naive final
    hidden state) and both models' positive-class probability (class 1) in the two cases. The
    naive model reads its state after the pads, so it changes; ``Classifier`` pools over the
    valid positions and does not. Widget callback of notebook 02.
    """
    naive.eval()
    classifier.eval()
    ids = torch.tensor([numericalize(sentence, vocab)])
    length = torch.tensor([ids.size(1)])
    padded = torch.cat([ids, torch.full((1, n_pads), vocab.pad_id, dtype=torch.long)], dim=1)
    naive_alone, naive_padded = naive(ids.t()), naive(padded.t())
    state_alone, state_padded = naive.final_state(ids.t()), naive.final_state(padded.t())
    ours_alone, ours_padded = classifier(ids, length), classifier(padded, length)

    def positive(logits: torch.Tensor) -> float:
        return float(logits.softmax(dim=-1)[0, 1])

    return {
        "sentence": sentence, "tokens": int(length), "n_pads": n_pads,
        "naive_logit_change": float((naive_alone - naive_padded).abs().max()),
        "naive_state_change": float((state_alone - state_padded).abs().max()),
        "naive_p_positive_alone": positive(naive_alone),
        "naive_p_positive_padded": positive(naive_padded),
        "pooled_logit_change": float((ours_alone - ours_padded).abs().max()),
        "pooled_p_positive_alone": positive(ours_alone),
        "pooled_p_positive_padded": positive(ours_padded),
    }


@torch.no_grad()
def padding_sweep(naive: NaiveTextClassifier, vocab: Vocab, sentences: Sequence[str],
                  max_pads: int = 40, step: int = 5) -> pd.DataFrame:
    """How the naive final state moves as padding is appended: one row per pad count with,
    for each sentence, the distance of its padded state from its unpadded state
    (``drift_i``), the distance between the first two sentences' padded states
    (``distance_0_1``) and that distance as a fraction of the unpadded one (``separation``:
    1 = as distinguishable as without pads, 0 = the model can no longer tell them apart).
    Plotted in notebook 02."""
    if len(sentences) < 2:
        raise ArgumentError("padding_sweep needs at least two sentences")
    naive.eval()
    alone = [naive.final_state(naive_batch([s], vocab)) for s in sentences]
    rows = []
    for n in range(0, max_pads + 1, step):
        states = [naive.final_state(naive_batch([s], vocab, n_pads=n)) for s in sentences]
        row = {"n_pads": n}
        for i, (a, s) in enumerate(zip(alone, states)):
            row[f"drift_{i}"] = float((s - a).norm())
        row["distance_0_1"] = float((states[0] - states[1]).norm())
        rows.append(row)
    frame = pd.DataFrame(rows)
    start = float((alone[0] - alone[1]).norm())
    frame["separation"] = frame["distance_0_1"] / start if start > 0 else float("nan")
    return frame


def pad_fraction(loader) -> float:
    """Share of padding tokens among all positions in one pass over a classification loader:
    the computation a batching scheme wastes (random batches vs length buckets); the
    callback of notebook 02's batch-size widget."""
    pads = total = 0
    for ids, lengths, _ in loader:
        total += ids.numel()
        pads += ids.numel() - int(lengths.sum())
    if total == 0:
        raise ArgumentError("pad_fraction got an empty loader")
    return pads / total
