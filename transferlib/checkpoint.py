"""Checkpoints: safetensors weights + JSON config + JSON vocabulary, written atomically.

Taught in notebook 05. A model folder holds ``model.safetensors``, ``config.json`` and
``vocab.json``. Nothing is ever unpickled: a file that is not safetensors is refused. Each file
is written to a temporary name, flushed with fsync and renamed, so a crash mid-save leaves the
previous checkpoint intact. Loading checks that config, vocabulary and tensor shapes agree and
names what differs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes
from torch import nn

from .errors import CheckpointError
from .model import Classifier, LanguageModel, ModelConfig
from .text import Vocab

FORMAT = "transferlib.model/1"
WEIGHTS, CONFIG, VOCAB = "model.safetensors", "config.json", "vocab.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_model(
    directory: str | Path,
    model: LanguageModel | Classifier,
    vocab: Vocab,
    classes: list[str] | None = None,
    meta: dict | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Save ``model`` (weights as safetensors, optionally cast to ``dtype`` e.g. bf16 to halve
    the size), its config, vocabulary and free-form ``meta`` into ``directory``."""
    directory = Path(directory)
    if len(vocab) != model.cfg.vocab_size:
        raise CheckpointError(
            f"vocabulary has {len(vocab)} tokens but the model expects {model.cfg.vocab_size}")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    kind = "classifier" if isinstance(model, Classifier) else "language_model"
    config = {"format": FORMAT, "kind": kind, "model": model.cfg.to_dict(),
              "classes": list(classes or []), "meta": meta or {}}
    if kind == "classifier" and len(config["classes"]) != model.cfg.n_classes:
        raise CheckpointError(f"{model.cfg.n_classes} classes expected, got {classes}")
    directory.mkdir(parents=True, exist_ok=True)
    # weights first, config last: a folder whose config is written has complete weights
    atomic_write_bytes(directory / WEIGHTS, save_bytes(tensors, metadata={"format": FORMAT}))
    vocab.save(directory / VOCAB)
    atomic_write_text(directory / CONFIG, json.dumps(config, indent=2, ensure_ascii=False))
    return directory


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, refusing anything else (pickles are never executed)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise CheckpointError(
            f"{path}: this is a pickle/zip (torch.save) file, not safetensors; transferlib never "
            "unpickles files, since a pickle can run arbitrary code. Re-save it as safetensors.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None


def read_config(directory: str | Path) -> dict:
    """The parsed ``config.json`` of a model folder, with its format checked."""
    path = Path(directory) / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found — is {directory} a transferlib model "
                              "folder?") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: field 'format' must be {FORMAT!r}")
    return config


def check_state_dict(model: nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Raise a CheckpointError naming missing/unexpected tensors and shape mismatches."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = []
    if missing := sorted(set(expected) - set(got)):
        problems.append(f"missing tensors {missing[:5]}")
    if unexpected := sorted(set(got) - set(expected)):
        problems.append(f"unexpected tensors {unexpected[:5]}")
    for k in sorted(set(expected) & set(got)):
        if expected[k] != got[k]:
            problems.append(f"{k}: shape {got[k]} in the file, {expected[k]} in the config")
    if problems:
        raise CheckpointError(f"{where}: weights do not match config.json: "
                              + "; ".join(problems[:6]))


def load_model(directory: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[LanguageModel | Classifier, Vocab, dict]:
    """Load a model folder written by :func:`save_model` → ``(model, vocab, config)``.

    Weights stored in bf16/fp16 are cast back to fp32. The model is returned in eval mode.
    """
    directory = Path(directory)
    config = read_config(directory)
    try:
        cfg = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / CONFIG}: field 'model' is invalid ({exc})") from None
    vocab = Vocab.load(directory / VOCAB)
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(f"{directory}: vocab.json has {len(vocab)} tokens but config.json "
                              f"says vocab_size={cfg.vocab_size}")
    kinds = {"language_model": LanguageModel, "classifier": Classifier}
    if config.get("kind") not in kinds:
        raise CheckpointError(f"{directory / CONFIG}: field 'kind' must be one of {list(kinds)}")
    model = kinds[config["kind"]](cfg)
    tensors = read_safetensors(directory / WEIGHTS)
    check_state_dict(model, tensors, str(directory / WEIGHTS))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in tensors.items()})
    return model.to(device).eval(), vocab, config
