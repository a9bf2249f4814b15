"""Where and in which number format to compute: the device chosen by capability, autocast with
the dtype the hardware runs, and the CPU thread count of one command.

Taught in notebooks 03 (``pick_device``), 06 (autocast and the bf16 probe) and 08 (what a
machine can do). ``training.fit`` computes under ``autocast``.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings

import torch
from torch import nn

from transferlib.config import cpu_bf16_override
from transferlib.errors import ArgumentError, TrainingError


def pick_device(prefer: str = "auto", allow_cpu_fallback: bool = False) -> torch.device:
    """``'auto'``: CUDA if available, else Apple MPS, else CPU. ``'cuda'``, ``'cuda:N'`` or
    ``'mps'`` that are not available raise a clear ``TrainingError`` instead of silently falling
    back; with ``allow_cpu_fallback=True`` they warn (``RuntimeWarning``) and return the CPU."""
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if prefer == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if prefer == "cpu":
        return torch.device("cpu")
    if match := re.fullmatch(r"cuda(?::(\d+))?", prefer):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count and int(match.group(1) or 0) < count:
            return torch.device(prefer)
        problem = (f"{prefer} was requested but this machine has {count} CUDA device(s)" if count
                   else "CUDA was requested but is not available on this machine")
    elif prefer == "mps":
        if mps_ok:
            return torch.device("mps")
        problem = "MPS was requested but is not available"
    else:
        raise ArgumentError(f"unknown device {prefer!r}; allowed: auto, cpu, cuda, cuda:N, mps")
    if allow_cpu_fallback:
        warnings.warn(f"{problem}; training on the CPU instead (CPU fallback allowed)",
                      RuntimeWarning, stacklevel=2)
        return torch.device("cpu")
    raise TrainingError(f"{problem}; use --device cpu (or auto), or allow the CPU with "
                        "--allow-cpu-fallback")


def cpu_supports_bf16_lstm() -> bool:
    """Whether this CPU runs an ``nn.LSTM`` under bf16 autocast: oneDNN needs native bf16
    instructions (AVX-512 BF16 or AMX); on an AVX2-only CPU it fails. Probed once per process,
    on a tiny layer, so the answer is what this machine does, not what its flags suggest;
    ``TRANSFERLIB_CPU_BF16=on|off`` (``config.cpu_bf16_override``) forces the answer."""
    forced = cpu_bf16_override()
    return _probe_bf16_lstm() if forced is None else forced


@functools.cache
def _probe_bf16_lstm() -> bool:
    with torch.random.fork_rng(devices=[]):  # the probe's init must not shift the seeded RNG
        try:
            lstm = nn.LSTM(4, 4, batch_first=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out, _ = lstm(torch.zeros(1, 2, 4, requires_grad=True))
            out.float().sum().backward()
            return True
        except RuntimeError:
            return False


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype this device supports: bf16 on a CPU that runs bf16 LSTMs
    (``cpu_supports_bf16_lstm``), fp16 on CUDA, None elsewhere (then ``amp`` is a no-op)."""
    if device.type == "cpu":
        return torch.bfloat16 if cpu_supports_bf16_lstm() else None
    if device.type == "cuda":
        return torch.float16
    return None


def autocast(device: torch.device, enabled: bool):
    """``torch.autocast`` with the right dtype for ``device`` (a no-op when disabled)."""
    dtype = amp_dtype(device) if enabled else None
    return torch.autocast(device.type, dtype=dtype or torch.float32,
                          enabled=bool(enabled and dtype is not None))


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` torch CPU threads (None: leave the count alone), and put
    the previous count back afterwards, so a command run in-process leaves no trace."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
