"""Resuming an interrupted training run exactly: training checkpoints (taught in notebook 06).

``fit`` with ``TrainConfig(checkpoint_dir=DIR)`` saves, after every epoch, everything the next
epoch depends on: weights, optimizer state, scheduler and GradScaler state, the Python/NumPy/torch
RNG states (and the data loader's generator), early-stopping state and the history. Tensors go
to safetensors (optimizer state flattened into named tensors), the rest to JSON; nothing is
pickled. Each epoch is a new folder ``DIR/epoch-NNNN-*`` (``state.safetensors`` +
``state.json``); ``latest.json``, written last, points at it, and older folders are deleted only
after it has moved, so a crash at any moment leaves the last complete epoch resumable. Samplers
are positioned by epoch (``set_epoch``), so per-epoch checkpoints need no sampler position.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as save_bytes
from torch import nn

from transferlib.checkpoint import (
    atomic_write_bytes,
    atomic_write_text,
    check_state_dict,
    read_json,
    read_safetensors,
)
from transferlib.errors import CheckpointError

TRAIN_FORMAT = "transferlib.train/1"
LATEST = "latest.json"


def flatten_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """``optimizer.state_dict()`` → (tensors named ``optim.<param>.<key>``, the JSON rest)."""
    tensors, scalars = {}, {}
    for pid, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], info: dict) -> dict:
    """Inverse of :func:`flatten_optimizer_state`: a dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, values in info["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    return {"state": state, "param_groups": info["param_groups"]}


def _plain(value):
    """JSON fallback for NumPy/torch scalars (anything else is refused)."""
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor)
                                         and value.numel() == 1):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_training_state(directory: str | Path, epoch: int, tensors: dict[str, torch.Tensor],
                        info: dict) -> Path:
    """Write epoch ``epoch``'s training state into a new ``directory/epoch-NNNN-*`` folder, then
    point ``latest.json`` at it (the commit point); older epoch folders are removed afterwards."""
    directory = Path(directory)
    try:
        text = json.dumps({"format": TRAIN_FORMAT, "epoch": epoch, **info}, indent=1,
                          default=_plain)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory}: training state is not JSON ({exc})") from None
    directory.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"epoch-{epoch:04d}-", dir=directory))
    atomic_write_bytes(folder / "state.safetensors",
                       save_bytes(tensors, metadata={"format": TRAIN_FORMAT}))
    atomic_write_text(folder / "state.json", text)
    atomic_write_text(directory / LATEST, json.dumps(
        {"format": TRAIN_FORMAT, "epoch": epoch, "folder": folder.name}))
    for old in directory.glob("epoch-*"):
        if old.is_dir() and old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def load_training_state(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The last committed training state in ``directory`` as ``(tensors, info)``, or None when
    there is none yet."""
    pointer = Path(directory) / LATEST
    if not pointer.is_file():
        return None
    latest = read_json(pointer, "training checkpoint")
    if latest.get("format") != TRAIN_FORMAT or not isinstance(latest.get("folder"), str):
        raise CheckpointError(f"{pointer}: field 'format' must be {TRAIN_FORMAT!r}")
    folder = Path(directory) / Path(latest["folder"]).name
    info = read_json(folder / "state.json", "training checkpoint")
    if info.get("format") != TRAIN_FORMAT or info.get("epoch") != latest.get("epoch"):
        raise CheckpointError(f"{folder / 'state.json'}: does not match {pointer}")
    return read_safetensors(folder / "state.safetensors"), info


def _generators(data: Iterable) -> list[torch.Generator]:
    """The torch generators that shuffle ``data`` (a DataLoader's, its sampler's)."""
    found: list[torch.Generator] = []
    batch_sampler = getattr(data, "batch_sampler", None)
    for obj in (data, getattr(data, "sampler", None), batch_sampler,
                getattr(batch_sampler, "sampler", None)):
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def rng_state(data: Iterable | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Python, NumPy, torch (CPU, CUDA) and ``data``'s generator states as (tensors, JSON)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    tensors.update({f"rng.data.{i}": g.get_state() for i, g in enumerate(_generators(data))})
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    info = {"python": [version, list(internal), gauss],
            "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return tensors, info


def set_rng_state(tensors: dict[str, torch.Tensor], info: dict,
                  data: Iterable | None = None) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = info["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = info["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    for i, gen in enumerate(_generators(data)):
        if f"rng.data.{i}" in tensors:
            gen.set_state(tensors[f"rng.data.{i}"])


class TrainingState:
    """Everything ``fit`` carries from epoch to epoch, saved to and restored from a training
    checkpoint (model, optimizer, scheduler, GradScaler, RNGs, early stopping, history)."""

    def __init__(self):
        self.rows: list[dict] = []
        self.best: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.stopped = False
        self.epoch = 0  # epochs done

    def save(self, directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler, scaler: torch.amp.GradScaler, data: Iterable, epochs: int) -> None:
        """Write a checkpoint of the state after ``self.epoch`` epochs into ``directory``."""
        tensors = {f"model.{k}": v.detach().to("cpu").contiguous()
                   for k, v in model.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in (self.best_state or {}).items()})
        optim_tensors, optim_info = flatten_optimizer_state(optimizer.state_dict())
        rng_tensors, rng_info = rng_state(data)
        info = {"epochs": epochs, "stopped": self.stopped, "history": self.rows,
                "early_stopping": {"best": self.best, "bad_epochs": self.bad_epochs,
                                   "has_best_state": self.best_state is not None},
                "optimizer": optim_info, "rng": rng_info, "scaler": scaler.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict()}
        save_training_state(directory, self.epoch, {**tensors, **optim_tensors, **rng_tensors},
                            info)

    def restore(self, directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler, scaler: torch.amp.GradScaler, data: Iterable, epochs: int) -> bool:
        """Load the last checkpoint in ``directory``; False when there is none."""
        loaded = load_training_state(directory)
        if loaded is None:
            return False
        tensors, info = loaded
        where = f"{directory} (epoch {info['epoch']})"
        if info["epoch"] > epochs:
            raise CheckpointError(f"{where}: the checkpoint is past epoch {epochs}, the number "
                                  "of epochs asked for")
        weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        check_state_dict(model, weights, where, against="the model being trained")
        model.load_state_dict(weights)
        try:
            optimizer.load_state_dict(unflatten_optimizer_state(tensors, info["optimizer"]))
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{where}: the optimizer state does not fit this optimizer "
                                  f"({exc})") from None
        if (scheduler is None) != (info["scheduler"] is None):
            raise CheckpointError(f"{where}: the checkpoint was saved "
                                  f"{'without' if scheduler else 'with'} a scheduler")
        if scheduler is not None:
            scheduler.load_state_dict(info["scheduler"])
        if info["scaler"] and scaler.is_enabled():
            scaler.load_state_dict(info["scaler"])
        early = info["early_stopping"]
        self.rows, self.best, self.bad_epochs = info["history"], early["best"], early["bad_epochs"]
        if early["has_best_state"]:
            self.best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        self.stopped, self.epoch = info["stopped"], info["epoch"]
        set_rng_state(tensors, info["rng"], data)
        return True
