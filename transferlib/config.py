"""Run-time settings read when they are needed, never at import time.

Fast mode (``TRANSFERLIB_FAST=1``) shrinks corpora, epochs and model sizes so that the tests and
the notebooks run in CI in seconds; the code paths are the same as in full mode.
"""

from __future__ import annotations

import os
from pathlib import Path

FAST_ENV = "TRANSFERLIB_FAST"
DATA_ENV = "TRANSFERLIB_DATA"
CPU_BF16_ENV = "TRANSFERLIB_CPU_BF16"
REPO_ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("train", "valid", "test")  # the split names of every shipped dataset and of your CSV


def fast_mode() -> bool:
    """True when ``TRANSFERLIB_FAST`` is set to anything but '', '0' or 'false'."""
    return os.environ.get(FAST_ENV, "").strip().lower() not in ("", "0", "false", "no")


def cpu_bf16_override() -> bool | None:
    """``TRANSFERLIB_CPU_BF16=on|off`` forces what ``devices.cpu_supports_bf16_lstm`` answers
    (to run the notebooks as an AVX2-only or an AVX-512-bf16 CPU would); unset or ``auto``: None,
    probe the CPU. Forcing ``on`` where the CPU lacks bf16 makes bf16 LSTMs fail, as they would."""
    value = os.environ.get(CPU_BF16_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ValueError(f"{CPU_BF16_ENV}={value!r}: use on, off or auto")


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it (what results and configs
    record, so no committed file names a folder of the machine that made it), else as given."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def recorded_path(path: str | Path) -> str:
    """``path`` as committed files record it: relative to the repository inside it, else ``…/``
    and its last part, so no result names a folder of the machine that made it."""
    rel = repo_relative(path)
    return rel if not Path(rel).is_absolute() else "…/" + Path(path).name


def positive_int(text: str) -> int:
    """An argparse type: a whole number ≥ 1 (so that ``--epochs 0`` is refused with exit 2 and
    the flag's name instead of being read as "not given")."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def data_dir() -> Path:
    """The folder holding the shipped data (``TRANSFERLIB_DATA`` overrides ``<repo>/data``)."""
    override = os.environ.get(DATA_ENV)
    return Path(override) if override else REPO_ROOT / "data"


def source_model_dir() -> Path:
    """Where the shipped, pretrained source language model (v2: GloVe + LSTM LM) lives."""
    return data_dir() / "source_model"


def small_source_model_dir() -> Path:
    """Source model v1 (10 k words learned from 2.95 M tokens, no pretrained vectors): kept to
    show what a source model must know (notebooks 01 and 07)."""
    return data_dir() / "source_model_v1"


def machine_info() -> dict:
    """CPU model, core count, torch version and threads: recorded next to every measurement."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
