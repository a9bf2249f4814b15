"""Checker of notebook 02 (the text pipeline): ``last_state(output, lengths)``, the fix of the
seed's bug #5 (reading the LSTM's state after the padding)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from transferlib.model import pool_valid
from transferlib.workbook.exercises._common import answerable, call, verdict


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LSTM-like outputs ``[4, 7, 3]`` of right-padded sentences, their lengths (the longest
    not in the last row, one of length 1) and the same outputs followed by five pad columns."""
    gen = torch.Generator().manual_seed(0)
    output = torch.randn(4, 7, 3, generator=gen)
    lengths = torch.tensor([5, 1, 7, 3])
    padded = torch.cat([output, torch.randn(4, 5, 3, generator=gen)], dim=1)
    return output, lengths, padded


def _hint(got: torch.Tensor, output: torch.Tensor, lengths: torch.Tensor) -> str:
    """Why ``got`` is not the last real state: the common wrong answers, named."""
    rows = torch.arange(output.shape[0])
    if torch.allclose(got, output[:, -1]):
        return ("that is the last *column*, after the padding (the seed's bug); index each row "
                "at its own last real position")
    if torch.allclose(got, output[rows, lengths.clamp(max=output.shape[1] - 1)]):
        return "off by one: positions count from 0, so the last real token is at length − 1"
    if torch.allclose(got, output[:, 0]):
        return "that is the *first* token of every sentence; take each one's last real token"
    return ("not each sentence's last real state: row b of the answer must be the output of "
            "sentence b at its own last real token, wherever the batch's padding starts")


def _calls_pool_valid(fn: Callable, output: torch.Tensor, lengths: torch.Tensor) -> bool:
    """Whether ``fn`` reaches ``transferlib.model.pool_valid`` (however it was imported): a
    profile hook watches the calls while ``fn`` runs once."""
    seen = []

    def watch(frame, event, _arg):
        if event == "call" and frame.f_code is pool_valid.__code__:
            seen.append(True)

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        fn(output, lengths)
    except Exception:  # a half-written answer: judged by the checks that follow
        pass
    finally:
        sys.setprofile(previous)
    return bool(seen)


@answerable
def check_last_state(fn: Callable) -> bool:
    """Notebook 02: ``fn(output, lengths)`` must return, for an LSTM's ``output [B, T, H]`` of
    right-padded sentences and their true ``lengths [B]``, each sentence's output at its own last
    real position, ``[B, H]``, the same however many pads follow. Loops, ``gather`` and advanced
    indexing all pass; the last column, an off-by-one and the first column are named."""
    if not callable(fn):
        return verdict(False, "", "define a function: def last_state(output, lengths): ...")
    output, lengths, padded = _batch()
    truth = torch.stack([output[b, int(n) - 1] for b, n in enumerate(lengths)])
    if _calls_pool_valid(fn, output, lengths):
        return verdict(False, "", "write the indexing yourself: calling transferlib's pool_valid "
                       "(the library version of this step) does not count")
    got = call(fn, output, lengths)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(truth.shape):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return verdict(False, "", f"return one vector per sentence, shape [B, H] = "
                       f"{tuple(truth.shape)}; got {shape}")
    if not torch.allclose(got, truth):
        return verdict(False, "", _hint(got, output, lengths))
    got_padded = call(fn, padded, lengths)
    if not isinstance(got_padded, torch.Tensor) or not torch.allclose(got_padded, truth):
        return verdict(False, "", "right on this batch, but the answer changes when pads are "
                       "appended: index by the lengths, not by the batch's width")
    return verdict(True, "each sentence's state at its last real token, the same vector however "
                   "many pads follow: the first part of what model.pool_valid concatenates.", "")
