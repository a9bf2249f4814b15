"""Notebook 06's exercise checker: the state-dict mapping from the source LM to the student's
classifier. Placeholder → None; the common wrong mappings → False; the right one → True; a
half-written one that raises → False without raising."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from transferlib.workbook.exercises.transfer import check_map_source_to_student


def pool_valid_positions(out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    B, T, _ = out.shape
    valid = (torch.arange(T)[None, :] < lengths[:, None])[..., None]
    last = out[torch.arange(B), lengths - 1]
    maxed = out.masked_fill(~valid, float("-inf")).amax(dim=1)
    mean = (out * valid).sum(dim=1) / lengths[:, None]
    return torch.cat([last, maxed, mean], dim=1)


class TextClassifier(nn.Module):
    """The notebook's student module (embedding → LSTM → LSTM → pooling → head)."""

    def __init__(self, vocab_size: int, emb_dim: int = 50, hidden_dim: int = 384,
                 out_dim: int = 128, head_hidden: int = 64, n_classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.lstm1 = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.lstm2 = nn.LSTM(hidden_dim, out_dim, batch_first=True)
        self.hidden = nn.Linear(3 * out_dim, head_hidden)
        self.output = nn.Linear(head_hidden, n_classes)

    def forward(self, ids, lengths):
        x, _ = self.lstm1(self.embedding(ids))
        x, _ = self.lstm2(x)
        return self.output(F.relu(self.hidden(pool_valid_positions(x, lengths))))


def right(state):
    names = {"encoder.layers.0.": "lstm1.", "encoder.layers.1.": "lstm2."}
    return {names[k[:17]] + k[17:]: v for k, v in state.items() if k[:17] in names}


def swapped_ih_hh(state):
    return {re.sub(r"_(ih|hh)_", lambda m: "_hh_" if m.group(1) == "ih" else "_ih_", k): v
            for k, v in right(state).items()}


def no_biases(state):
    return {k: v for k, v in right(state).items() if "bias" not in k}


def layers_swapped(state):
    return {k.replace("lstm1", "LSTMX").replace("lstm2", "lstm1").replace("LSTMX", "lstm2"): v
            for k, v in right(state).items()}


def source_names(state):
    return dict(state)


def with_embedding(state):
    return {**right(state), "embedding.weight": state["encoder.embedding.weight"]}


def random_weights(state):
    return {k: torch.randn_like(v) for k, v in right(state).items()}


def placeholder(state):
    return ...


def half_written(state):
    raise NotImplementedError("not yet")


def test_placeholder_is_not_answered(capsys):
    assert check_map_source_to_student(placeholder, TextClassifier) is None
    assert check_map_source_to_student(..., TextClassifier) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_common_wrong_mappings_are_rejected_with_a_hint(capsys):
    for wrong, hint in ((swapped_ih_hh, "swapped"), (no_biases, "biases are missing"),
                        (layers_swapped, "wrong layer"), (source_names, "source's names"),
                        (with_embedding, "only the LSTM"), (random_weights, "logits differ")):
        assert check_map_source_to_student(wrong, TextClassifier) is False, wrong.__name__
        assert hint in capsys.readouterr().out, wrong.__name__


def test_a_half_written_answer_is_wrong_without_raising(capsys):
    assert check_map_source_to_student(half_written, TextClassifier) is False
    assert check_map_source_to_student(lambda s: [1, 2], TextClassifier) is False
    assert "Not yet" in capsys.readouterr().out


def test_the_right_mapping_passes(capsys):
    assert check_map_source_to_student(right, TextClassifier) is True
    assert "✅ Right" in capsys.readouterr().out
