"""The checker of notebook 03's exercise (a GRU cell from its equations): a placeholder is not
answered, the usual slips are rejected with their own hint, the right cell is accepted, and a
half-written cell never makes the checker raise."""

from __future__ import annotations

import torch

from transferlib.workbook.exercises.lstm import _gru_step, check_gru_cell


def right(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return (1 - z) * torch.tanh(x_n + r * h_n) + z * h


def placeholder(x, h, W_ih, W_hh, b_ih, b_hh):
    return ...


def swapped_order(x, h, W_ih, W_hh, b_ih, b_hh):
    x_z, x_r, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
    h_z, h_r, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return (1 - z) * torch.tanh(x_n + r * h_n) + z * h


def swapped_z(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return z * torch.tanh(x_n + r * h_n) + (1 - z) * h


def no_tanh(x, h, W_ih, W_hh, b_ih, b_hh):
    return _gru_step(x, h, W_ih, W_hh, b_ih, b_hh, slip="no_tanh")


def library(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.gru_cell(x, h, W_ih, W_hh, b_ih, b_hh)


def half_written(x, h, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih
    r, z, n = gates.chunk(4, dim=1)  # noqa: F841 - unfinished: four chunks of a GRU's three
    raise NotImplementedError


def test_a_placeholder_is_not_answered(capsys):
    assert check_gru_cell(...) is None
    assert check_gru_cell(placeholder) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_right_cell_is_accepted(capsys):
    assert check_gru_cell(right) is True
    assert "✅ Right" in capsys.readouterr().out


def test_the_usual_slips_are_rejected_with_their_hint(capsys):
    for fn, hint in ((swapped_order, "wrong order"), (swapped_z, "z and 1 − z are swapped"),
                     (no_tanh, "needs its tanh")):
        assert check_gru_cell(fn) is False, fn.__name__
        assert hint in capsys.readouterr().out, fn.__name__
    for slip in ("bias", "before"):
        assert check_gru_cell(lambda *a, s=slip: _gru_step(*a, slip=s)) is False, slip


def test_other_wrong_answers_are_rejected(capsys):
    assert check_gru_cell(lambda x, h, *weights: h) is False  # the state never changes
    assert check_gru_cell(lambda x, h, *weights: (h, h)) is False  # an LSTM's (h, c)
    assert check_gru_cell(3) is False
    out = capsys.readouterr().out
    assert "return only the new hidden state" in out and "define a function" in out


def test_calling_pytorchs_own_gru_is_not_an_answer(capsys):
    assert check_gru_cell(library) is False
    assert "from its equations" in capsys.readouterr().out


def test_a_half_written_cell_is_rejected_without_raising(capsys):
    assert check_gru_cell(half_written) is False
    assert check_gru_cell(lambda x, h, *w: x @ w[0]) is False  # wrong shapes
    assert capsys.readouterr().out.count("❌ Not yet") == 2


def test_the_check_leaves_the_global_seed_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_gru_cell(right)
    assert torch.equal(torch.rand(3), expected)
