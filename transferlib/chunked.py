"""Whole-document reading in chunks (ULMFiT's BPT3C: back-propagation through time for text
classification).

Taught in notebook 06 ("Fine-tuning, by hand and with the pipeline"). A long text does not go
through the encoder in one piece: it is read in chunks of ``chunk_len`` tokens, the LSTM's
hidden state carried from each chunk to the next, so the last chunk's outputs still depend on
the first word. The pooling (last valid state, max and mean over every valid position) is kept
as running values over the chunks, so with dropout off it equals ``model.pool_valid`` on the
unchunked text. Memory budget: back-propagation runs through the last ``grad_chunks`` chunks
only (``grad_chunks * chunk_len`` tokens of activations per text); the earlier chunks run under
``torch.no_grad()``, so the state they hand on and their share of the pooling are constants to
the optimizer (fastai's ``MultiBatchEncoder`` keeps a graph for the last ``max_len`` tokens
alike).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from transferlib.errors import ArgumentError

State = list[tuple[torch.Tensor, torch.Tensor]]
# encoder(ids [B, t], lengths, state) -> (outputs [B, t, D], state): ``LSTMEncoder``'s call
Encoder = Callable[..., tuple[torch.Tensor, State]]

DEFAULT_CHUNK_LEN = 70  # ULMFiT's bptt
DEFAULT_GRAD_CHUNKS = 8  # back-propagate through the last 8 chunks (560 tokens at 70)


@dataclass
class RunningPool:
    """Last valid output, max and sum over the valid positions seen so far, per row."""

    last: torch.Tensor
    maxed: torch.Tensor
    total: torch.Tensor

    @classmethod
    def empty(cls, rows: int, dim: int, like: torch.Tensor) -> RunningPool:
        zeros = like.new_zeros(rows, dim)
        return cls(zeros, zeros.new_full((rows, dim), torch.finfo(like.dtype).min), zeros)

    def add(self, out: torch.Tensor, lengths: torch.Tensor, start: int) -> RunningPool:
        """Fold in the outputs ``out [B, t, D]`` of positions ``start .. start + t - 1``."""
        B, t, _ = out.shape
        positions = start + torch.arange(t, device=out.device)
        mask = positions[None, :] < lengths[:, None]  # [B, t]
        neg_inf = torch.finfo(out.dtype).min
        maxed = torch.maximum(self.maxed.to(out.dtype),
                              out.masked_fill(~mask[..., None], neg_inf).amax(dim=1))
        total = self.total.to(out.dtype) + (out * mask[..., None]).sum(dim=1)
        ends_here = (lengths - 1 >= start) & (lengths - 1 < start + t)
        at = (lengths - 1 - start).clamp(0, t - 1)
        last_here = out[torch.arange(B, device=out.device), at]
        last = torch.where(ends_here[:, None], last_here, self.last.to(out.dtype))
        return RunningPool(last, maxed, total)

    def pooled(self, lengths: torch.Tensor) -> torch.Tensor:
        """``[last, max, mean]`` → ``[B, 3*D]``, as ``model.pool_valid`` gives."""
        mean = self.total / lengths[:, None].to(self.total.dtype)
        return torch.cat([self.last, self.maxed, mean], dim=1)


def check_chunking(chunk_len: int, grad_chunks: int) -> None:
    """One clear error for a chunk length or gradient budget below 1."""
    if chunk_len < 1:
        raise ArgumentError(f"chunk_len must be >= 1 (0 means: no chunking), got {chunk_len}")
    if grad_chunks < 1:
        raise ArgumentError(f"grad_chunks must be >= 1, got {grad_chunks}")


def chunk_kwargs(chunk_len: int, grad_chunks: int = DEFAULT_GRAD_CHUNKS) -> dict:
    """The classifier's keyword arguments for whole-document reading; none when ``chunk_len``
    is 0, so models without the option are called as before."""
    return {"chunk_len": chunk_len, "grad_chunks": grad_chunks} if chunk_len else {}


def chunked_pool(encoder: Encoder, ids: torch.Tensor, lengths: torch.Tensor, chunk_len: int,
                 grad_chunks: int = DEFAULT_GRAD_CHUNKS) -> torch.Tensor:
    """Read ``ids [B, T]`` (right-padded, ``lengths [B]``) in chunks of ``chunk_len`` tokens,
    carrying the LSTM state, → the pooled ``[B, 3*D]`` of the whole texts.

    Only the last ``grad_chunks`` chunks build a graph (when gradients are enabled at all).
    Rows that ended before a chunk still run through it (their outputs are masked out), so one
    batch may mix lengths; bucketing by length keeps that waste small.
    """
    check_chunking(chunk_len, grad_chunks)
    lengths = lengths.to(ids.device)
    starts = list(range(0, ids.size(1), chunk_len))
    first_grad = max(0, len(starts) - grad_chunks)
    state: State | None = None
    pool: RunningPool | None = None
    for k, start in enumerate(starts):
        piece = ids[:, start:start + chunk_len]
        with torch.set_grad_enabled(torch.is_grad_enabled() and k >= first_grad):
            out, state = encoder(piece, state=state)
            if pool is None:
                pool = RunningPool.empty(ids.size(0), out.size(-1), out)
            pool = pool.add(out, lengths, start)
    assert pool is not None  # T >= 1: at least one chunk
    return pool.pooled(lengths)
