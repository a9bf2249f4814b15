"""Measuring helpers of the benchmark: peak memory, and endless timed streams of batches.

Taught in notebook 08 (``python -m transferlib bench``). CPU peak memory is the resident set's
high-water mark (Linux ``/proc``), reset at the start of a measurement, above the level then;
``release_freed_memory`` first makes glibc hand freed buffers back to the OS so that memory an
earlier row left cached cannot hide a step's allocations. On CUDA it is
``torch.cuda.max_memory_allocated`` above the allocation at the start.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch


class PeakMemory:
    """Peak memory above the level at entry, in MB: CUDA allocator stats on CUDA, else the
    resident set's high-water mark (Linux ``/proc``; NaN where unavailable)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.mb = float("nan")

    @staticmethod
    def _status(field_name: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return float(line.split()[1]) / 1024
        raise OSError(field_name)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device) / 2**20
            return self
        try:
            _malloc_trim()
            Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
            self.start = self._status("VmRSS")
        except OSError:
            self.start = None
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20 - self.start
        elif self.start is not None:
            try:  # RSS counters are approximate to a few pages: clamp at zero
                self.mb = max(0.0, self._status("VmHWM") - self.start)
            except OSError:
                pass


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def release_freed_memory() -> str:
    """Make glibc return freed buffers of 64 KiB and more to the OS at once (``mallopt``), so
    the resident set's high-water mark measures a step's memory rather than what an earlier
    row left cached. Returns a note for the results (what was done, or why not)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 65536) == 1 and libc.mallopt(-1, 65536) == 1  # MMAP_, TRIM_
    except (OSError, AttributeError):
        ok = False
    return ("glibc mallopt: M_MMAP_THRESHOLD = M_TRIM_THRESHOLD = 64 KiB" if ok else
            "mallopt unavailable: CPU peak memory may read low where freed memory is reused")


class Stream:
    """Endless batches from a loader (restarted, with the next epoch's shuffle, when it ends),
    counting real and padded tokens."""

    def __init__(self, loader):
        self.loader = loader
        self.epoch = 0
        self.it = iter(loader)
        self.real = self.padded = 0

    def next(self):
        try:
            batch = next(self.it)
        except StopIteration:
            self.epoch += 1
            for obj in (self.loader.batch_sampler, self.loader.sampler):
                if hasattr(obj, "set_epoch"):
                    obj.set_epoch(self.epoch)
            self.it = iter(self.loader)
            batch = next(self.it)
        self.real += int(batch[1].sum())
        self.padded += batch[0].numel()
        return batch

    def chunk(self, n: int) -> Chunk:
        return Chunk(self, n)


@dataclass
class Chunk:
    """``n`` batches of a ``Stream``, drawn lazily (so loading time is timed)."""

    stream: Stream
    n: int

    def __iter__(self) -> Iterator:
        for _ in range(self.n):
            yield self.stream.next()

    def __len__(self) -> int:
        return self.n
