"""Worked solution of notebook 03's exercise: a GRU cell from its equations, checked against
``torch.nn.GRU`` (open it only after trying).

PyTorch stacks the GRU's three gates in the rows of ``weight_ih_l0`` as r, z, n (reset, update,
new); the reset gate multiplies the whole recurrent term of the candidate, bias included, and the
update gate z keeps the *old* state."""

import torch
from torch import nn

from transferlib.workbook.exercises.lstm import check_gru_cell


def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
    """x [B, D], h [B, H] → the new h [B, H] (PyTorch's GRU, gate order r, z, n)."""
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)          # reset gate: how much of the old state n may read
    z = torch.sigmoid(x_z + h_z)          # update gate: how much of the old state to keep
    n = torch.tanh(x_n + r * h_n)         # candidate state
    return (1 - z) * n + z * h


check_gru_cell(gru_cell)

# the measured effect: a GRU has three weight blocks where an LSTM has four
for cls in (nn.LSTM, nn.GRU):
    layer = cls(64, 128, batch_first=True)
    print(f"{cls.__name__}(64 → 128): {sum(p.numel() for p in layer.parameters()):,} parameters")
