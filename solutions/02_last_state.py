"""Notebook 02, exercise: ``last_state(output, lengths)``, each sentence's LSTM output at its own
last real token (the fix of the seed's bug #5). Open this only after trying the exercise."""

import torch

from transferlib.workbook.exercises.text import check_last_state


def last_state(output, lengths):
    """output [B, T, H], lengths [B] → [B, H]: the output at each sentence's last real token."""
    rows = torch.arange(output.shape[0])   # one row index per sentence: 0, 1, …, B − 1
    return output[rows, lengths - 1]       # paired with its own last position (counted from 0)


check_last_state(last_state)
