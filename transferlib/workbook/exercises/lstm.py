"""The checker of notebook 03 (the LSTM classifier from scratch): a GRU cell written from its
equations, compared with ``torch.nn.GRU`` on random weights.

The notebook builds an LSTM cell in front of the student; the exercise asks for the other gated
cell PyTorch ships, the GRU (Cho et al. 2014), in PyTorch's own formulation. The right outputs
come from ``nn.GRU`` itself; the common slips (the gates read in the wrong order, ``z`` and
``1 − z`` swapped, the reset gate placed outside ``b_hn`` or before the matrix product, no
``tanh`` on the candidate) are recomputed here so that the hint can name the one made.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import torch
from torch import nn

from transferlib.workbook.exercises._common import answerable, call, verdict

# (batch, input size, hidden size, steps): a batch of one and a wider hidden state too, so that
# sizes typed into the function fail
_CASES = ((3, 5, 4, 6), (1, 2, 7, 4))


def _gru_step(x, h, W_ih, W_hh, b_ih, b_hh, slip: str = ""):
    """One GRU step as ``nn.GRU`` computes it, or with one named ``slip``."""
    gi, gh = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh
    (i_r, i_z, i_n), (h_r, h_z, h_n) = gi.chunk(3, dim=1), gh.chunk(3, dim=1)
    if slip == "order":  # z read first, as if the rows were z, r, n
        i_r, i_z, h_r, h_z = i_z, i_r, h_z, h_r
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    H = h.shape[1]
    if slip == "bias":  # r ⊙ (W_hn h) + b_hn: the reset gate outside the recurrent bias
        pre = i_n + r * (h @ W_hh[2 * H:].T) + b_hh[2 * H:]
    elif slip == "before":  # W_hn (r ⊙ h) + b_hn: Cho et al.'s original placement
        pre = i_n + (r * h) @ W_hh[2 * H:].T + b_hh[2 * H:]
    else:
        pre = i_n + r * h_n
    n = pre if slip == "no_tanh" else torch.tanh(pre)
    return z * n + (1 - z) * h if slip == "swap_z" else (1 - z) * n + z * h


_HINTS = {
    "order": "the gates are read in the wrong order: PyTorch stacks the rows of weight_ih_l0 "
             "as r, z, n (reset, update, new), so chunk(3) gives r first, then z",
    "swap_z": "z and 1 − z are swapped: PyTorch keeps z of the OLD state, "
              "h' = (1 − z) ⊙ n + z ⊙ h",
    "bias": "the reset gate must multiply the whole recurrent term of n, bias included: "
            "r ⊙ (W_hn h + b_hn)",
    "before": "that is the original GRU of Cho et al. (reset applied to h before the matrix); "
              "PyTorch computes r ⊙ (W_hn h + b_hn) instead",
    "no_tanh": "the candidate n needs its tanh: n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))",
}


def _random_gru(d: int, H: int, seed: int) -> nn.GRU:
    """An ``nn.GRU`` with weights large enough that every gate matters, biases included."""
    torch.manual_seed(seed)
    gru = nn.GRU(d, H, batch_first=True)
    with torch.no_grad():
        for p in gru.parameters():
            p.uniform_(-1.0, 1.0)
    return gru


def _run(fn: Callable, gru: nn.GRU, xs: torch.Tensor, h0: torch.Tensor, slip: str | None):
    """The states ``[B, T, H]`` of ``fn`` (or of ``_gru_step`` with ``slip``) along ``xs``."""
    weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    h, outs = h0, []
    for t in range(xs.shape[1]):
        if slip is None:
            h = call(fn, xs[:, t], h, *weights)
            if isinstance(h, tuple | list):
                raise TypeError("return only the new hidden state h (a GRU has no cell state)")
            h = torch.as_tensor(h)
            if h.shape != h0.shape:
                raise ValueError(f"the new h has shape {tuple(h.shape)}, want {tuple(h0.shape)} "
                                 "[batch, hidden]")
        else:
            h = _gru_step(xs[:, t], h, *weights, slip=slip)
        outs.append(h)
    return torch.stack(outs, dim=1)


def _diagnose(fn: Callable, gru: nn.GRU, xs, h0, got: torch.Tensor) -> str:
    """The hint of the slip whose outputs the learner's function reproduces, if any."""
    for slip, hint in _HINTS.items():
        if torch.allclose(got, _run(fn, gru, xs, h0, slip), atol=1e-5):
            return hint
    return ("the states differ from nn.GRU's; check each equation against the ones above "
            "(gate order r, z, n; n uses r ⊙ (W_hn h + b_hn); h' = (1 − z) ⊙ n + z ⊙ h)")


# a call of PyTorch's own GRU (nn.GRU(...), nn.GRUCell(...), torch.gru_cell(...), _VF.gru(...))
_LIBRARY_GRU = re.compile(r"\bGRU(Cell)?\s*\(|\btorch\.gru\w*\s*\(|\b_VF\.gru")


def _source(fn: Callable) -> str:
    """The learner's source code where Python can find it ('' for a built-in or a lambda
    typed at a prompt)."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


@answerable
def check_gru_cell(fn: Callable) -> bool:
    """``fn(x, h, W_ih, W_hh, b_ih, b_hh) -> h'`` must reproduce ``nn.GRU`` step by step on
    random weights and a random initial state, for two sets of sizes (notebook 03)."""
    if not callable(fn):
        return verdict(False, "", "define a function: def gru_cell(x, h, W_ih, W_hh, b_ih, "
                                  "b_hh): ... that returns the new h")
    if _LIBRARY_GRU.search(_source(fn)):
        return verdict(False, "", "write the cell from its equations with tensor operations; "
                                  "calling PyTorch's own GRU only copies the reference")
    worst = 0.0
    with torch.random.fork_rng(devices=[]):  # the check must not move the notebook's seeds
        for k, (B, d, H, T) in enumerate(_CASES):
            gru = _random_gru(d, H, seed=k)
            xs, h0 = torch.randn(B, T, d), torch.randn(B, H)
            with torch.no_grad():
                expected, _ = gru(xs, h0[None])
                got = _run(fn, gru, xs, h0, None).float()
                if not torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
                    return verdict(False, "", _diagnose(fn, gru, xs, h0, got))
            worst = max(worst, float((got - expected).abs().max()))
    return verdict(True, f"your GRU cell reproduces nn.GRU over {sum(c[3] for c in _CASES)} "
                         f"steps at two sizes (largest difference {worst:.1e})", "")
