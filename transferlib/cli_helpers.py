"""What the subcommands of ``python -m transferlib`` share: the output folder checked before
training, ``--device`` (one definition) with its CPU fallback, JSON written atomically, one line
per epoch.

Light to import (no torch at module level), like ``cli``. The commands are taught in notebooks
01 (the whole game from the command line) and 06 (``finetune``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from transferlib.errors import DataError


def writable_dir(path: str) -> Path:
    """Create ``path`` and prove it is writable *before* any training starts."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"output folder {out} is not writable ({exc.strerror})") from None
    return out


DEVICES = "auto (CUDA, then Apple MPS, then the CPU), cpu, cuda, cuda:N or mps"


def add_device_arguments(parser: argparse.ArgumentParser, default: str = "auto",
                         why: str = "", fallback: bool = True) -> None:
    """``--device`` (one help text everywhere; ``why`` says why a command's default differs
    from auto) and, with ``fallback``, ``--allow-cpu-fallback`` (read by ``device_arg``)."""
    parser.add_argument("--device", default=default,
                        help=f"{DEVICES}; default {default}{why}")
    if fallback:
        parser.add_argument("--allow-cpu-fallback", action="store_true",
                            help="use the CPU (with a warning) when --device is not available")


def device_arg(args: argparse.Namespace) -> str:
    """``--device``; with ``--allow-cpu-fallback`` an unavailable device becomes 'cpu' with a
    warning on stderr (without it, the pipeline raises a clear error)."""
    from transferlib.devices import pick_device

    if not args.allow_cpu_fallback:
        return args.device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        device = pick_device(args.device, allow_cpu_fallback=True)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return str(device)


def write_json(path: Path, payload: dict) -> None:
    from transferlib.checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


def print_epoch(epoch: int, history) -> None:
    row = history.iloc[-1]
    shown = {k: round(float(v), 4) for k, v in row.items() if k.startswith(("train_", "valid_"))}
    print(f"epoch {int(row['epoch'])}: {shown} ({row['seconds']:.0f} s)", flush=True)
