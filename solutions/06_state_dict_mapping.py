"""Worked solution of notebook 06's exercise: the source LM's LSTM weights into the student's
classifier by name, as one state dict. Open it only after trying the exercise.

The source model's state dict calls its two LSTM layers ``encoder.layers.0.*`` and
``encoder.layers.1.*``; inside each, ``nn.LSTM`` names its tensors ``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0`` and ``bias_hh_l0``. The student's module keeps the same
tensor names under ``lstm1`` and ``lstm2``. So the mapping keeps every tensor of the two layers,
renames the prefix, and leaves the rest out: the embedding (its rows follow the vocabulary, not
the names), the projection and the decoder bias (the language model's head; the classifier's
head is new).

Run: ``python solutions/06_state_dict_mapping.py`` (a few seconds).
"""

import torch
from torch import nn

from transferlib.pipeline import CLASSIFIER_DROPOUT
from transferlib.workbook.exercises.transfer import check_map_source_to_student


def concat_pool(outputs, lengths):
    """[output at the last real token, max, mean] over each row's real tokens → [B, 3·H]."""
    B, T, _ = outputs.shape
    valid = (torch.arange(T, device=outputs.device)[None, :] < lengths[:, None])[..., None]
    last = outputs[torch.arange(B, device=outputs.device), lengths - 1]
    maxed = outputs.masked_fill(~valid, float("-inf")).amax(dim=1)
    mean = (outputs * valid).sum(dim=1) / lengths[:, None]
    return torch.cat([last, maxed, mean], dim=1)


class TextClassifier(nn.Module):
    """The notebook's student module: embedding → LSTM → LSTM → concat pooling → head."""

    def __init__(self, vocab_size, emb_dim=50, hidden_dim=384, out_dim=128, head_hidden=64,
                 n_classes=2, emb_dropout=CLASSIFIER_DROPOUT["emb_dropout"],
                 layer_dropout=CLASSIFIER_DROPOUT["layer_dropout"],
                 out_dropout=CLASSIFIER_DROPOUT["out_dropout"]):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=0)
        self.lstm1 = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.lstm2 = nn.LSTM(hidden_dim, out_dim, batch_first=True)
        self.emb_dropout = nn.Dropout(emb_dropout)
        self.layer_dropout = nn.Dropout(layer_dropout)
        self.head = nn.Sequential(
            nn.Dropout(out_dropout),
            nn.Linear(3 * out_dim, head_hidden),
            nn.ReLU(),
            nn.Dropout(out_dropout / 2),
            nn.Linear(head_hidden, n_classes),
        )

    def forward(self, ids, lengths):
        x = self.emb_dropout(self.embedding(ids))
        x, _ = self.lstm1(x)
        x, _ = self.lstm2(self.layer_dropout(x))
        return self.head(concat_pool(x, lengths.to(ids.device)))


SOURCE_TO_STUDENT = {"encoder.layers.0.": "lstm1.", "encoder.layers.1.": "lstm2."}


def map_source_to_student(source_state):
    mapped = {}
    for name, tensor in source_state.items():
        for source_prefix, student_prefix in SOURCE_TO_STUDENT.items():
            if name.startswith(source_prefix):
                mapped[student_prefix + name[len(source_prefix):]] = tensor
    return mapped


if __name__ == "__main__":
    check_map_source_to_student(map_source_to_student, TextClassifier)
