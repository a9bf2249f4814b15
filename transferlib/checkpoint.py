"""Checkpoints: safetensors weights + JSON config + JSON vocabulary, written atomically.

Taught in notebook 06. A model folder holds ``model.safetensors``, ``config.json`` and
``vocab.json``. Nothing is ever unpickled: a file that is not safetensors is refused. A save
stages all three files (each fsync'ed), then writes a small journal (the commit point) and
renames the staged files into place, so a crash at any moment leaves either the previous or the
new checkpoint, never a mix. Loading checks that config, vocabulary and tensor shapes agree and
names what differs.

Training checkpoints (to resume an interrupted ``fit``) live in ``resume``. The atomic file
writes (``atomic_write_bytes``/``atomic_write_text``, imported here as before) live in ``text``,
whose ``Vocab.save`` needs them too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes
from torch import nn

from transferlib.errors import CheckpointError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.text import Vocab, _fsync_dir, atomic_write_bytes, atomic_write_text

FORMAT = "transferlib.model/1"
WEIGHTS, CONFIG, VOCAB = "model.safetensors", "config.json", "vocab.json"
JOURNAL = ".transferlib-save.json"
STAGED = ".{}.staged"


def _journal(directory: Path) -> dict[str, str]:
    """Staged file for each final name of a committed but unfinished save ({} when none). A
    journal that exists but cannot be read is an error, never "no save": reading it as empty
    would serve the old files and then delete the committed staged ones."""
    path = directory / JOURNAL
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the save journal ({exc})") from None
    try:
        staged = json.loads(text)["staged"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: corrupt save journal ({type(exc).__name__}: {exc}); "
                              "the folder may hold an unfinished save: check its .staged files, "
                              "then delete the journal") from None
    if not isinstance(staged, dict) or not all(isinstance(v, str) for v in staged.values()):
        raise CheckpointError(f"{path}: corrupt save journal ('staged' is not a name map)")
    return staged


def resolve(directory: str | Path, name: str) -> Path:
    """The path holding the current version of ``name`` in a model folder: the staged copy of
    a save that committed but was interrupted before its renames, else the file itself."""
    directory = Path(directory)
    staged = _journal(directory).get(name)
    if staged and (directory / staged).is_file():
        return directory / staged
    return directory / name


def _finish_save(directory: Path) -> None:
    """Complete a committed save (roll forward) and delete staged files of uncommitted ones."""
    for final, staged in _journal(directory).items():
        if (directory / staged).is_file():
            os.replace(directory / staged, directory / final)
    _fsync_dir(directory)
    (directory / JOURNAL).unlink(missing_ok=True)
    for name in (WEIGHTS, VOCAB, CONFIG):
        staged = STAGED.format(name)
        (directory / staged).unlink(missing_ok=True)
        for pattern in (f".{name}.*.tmp", f".{staged}.*.tmp", f".{JOURNAL}.*.tmp"):
            for tmp in directory.glob(pattern):  # left by a process killed mid-write
                tmp.unlink(missing_ok=True)


def commit_files(directory: str | Path, payloads: dict[str, bytes]) -> None:
    """Replace several files of ``directory`` together: after a crash at any moment a reader
    (via :func:`resolve`) sees either all old or all new versions."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _finish_save(directory)
    staged = {}
    for name, data in payloads.items():
        staged[name] = STAGED.format(name)
        atomic_write_bytes(directory / staged[name], data)
    atomic_write_text(directory / JOURNAL, json.dumps({"staged": staged}))  # the commit point
    _finish_save(directory)


def save_model(
    directory: str | Path,
    model: LanguageModel | Classifier,
    vocab: Vocab,
    classes: list[str] | None = None,
    meta: dict | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Save ``model`` (weights as safetensors, optionally cast to ``dtype`` e.g. bf16 to halve
    the size), its config, vocabulary and free-form ``meta`` into ``directory``, atomically."""
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
    commit_files(directory, {
        WEIGHTS: save_bytes(tensors, metadata={"format": FORMAT}),
        VOCAB: vocab.to_json().encode("utf-8"),
        CONFIG: json.dumps(config, indent=2, ensure_ascii=False, default=str).encode("utf-8"),
    })
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
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: not a valid safetensors file ({exc}); transferlib reads only safetensors "
            "and never unpickles files") from None


def read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``; CheckpointError when missing, malformed or not an object."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found — is {path.parent} a {what} folder?") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return payload


def read_config(directory: str | Path) -> dict:
    """The parsed ``config.json`` of a model folder, with its format checked."""
    path = resolve(directory, CONFIG)
    config = read_json(path, "transferlib model")
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: field 'format' must be {FORMAT!r}")
    return config


def check_state_dict(model: nn.Module, tensors: dict[str, torch.Tensor], where: str,
                     against: str = "config.json") -> None:
    """Raise a CheckpointError naming missing/unexpected tensors and shape mismatches between
    ``tensors`` (read from ``where``) and ``model`` (built from ``against``)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = []
    if missing := sorted(set(expected) - set(got)):
        problems.append(f"missing tensors {missing[:5]}")
    if unexpected := sorted(set(got) - set(expected)):
        problems.append(f"unexpected tensors {unexpected[:5]}")
    for k in sorted(set(expected) & set(got)):
        if expected[k] != got[k]:
            problems.append(f"{k}: shape {got[k]} in the file, {expected[k]} in {against}")
    if problems:
        raise CheckpointError(f"{where}: weights do not match {against}: "
                              + "; ".join(problems[:6]))


def check_finite(tensors: dict[str, torch.Tensor], where: str) -> None:
    """Raise a CheckpointError naming tensors that hold NaN or inf (a diverged run's weights)."""
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{where}: tensors {bad[:5]} contain NaN/inf (saved from a run "
                              "whose loss diverged?)")


def load_model(directory: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[LanguageModel | Classifier, Vocab, dict]:
    """Load a model folder written by :func:`save_model` → ``(model, vocab, config)``.

    Weights stored in bf16/fp16 are cast back to fp32. The model is returned in eval mode.
    """
    directory = Path(directory)
    config = read_config(directory)
    config_path = resolve(directory, CONFIG)
    try:
        cfg = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: field 'model' is invalid ({exc})") from None
    vocab = Vocab.load(resolve(directory, VOCAB))
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(f"{directory}: vocab.json has {len(vocab)} tokens but config.json "
                              f"says vocab_size={cfg.vocab_size}")
    kinds = {"language_model": LanguageModel, "classifier": Classifier}
    if config.get("kind") not in kinds:
        raise CheckpointError(f"{config_path}: field 'kind' must be one of {list(kinds)}")
    classes = config.get("classes")
    if config["kind"] == "classifier" and (not isinstance(classes, list)
                                           or len(classes) != cfg.n_classes):
        raise CheckpointError(f"{config_path}: field 'classes' must list {cfg.n_classes} "
                              f"class names, got {classes!r}")
    model = kinds[config["kind"]](cfg)
    weights = resolve(directory, WEIGHTS)
    tensors = read_safetensors(weights)
    check_state_dict(model, tensors, str(directory / WEIGHTS))
    check_finite(tensors, str(directory / WEIGHTS))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in tensors.items()})
    return model.to(device).eval(), vocab, config


def load_language_model(directory: str | Path, device: str | torch.device = "cpu"
                        ) -> tuple[LanguageModel, Vocab, dict]:
    """:func:`load_model` for a folder that must hold a language model (a source model):
    a classifier's folder is a ``CheckpointError`` naming it (notebook 05)."""
    model, vocab, config = load_model(directory, device=device)
    if not isinstance(model, LanguageModel):
        raise CheckpointError(f"{directory} holds a classifier, not a language model: pass a "
                              "source model folder (e.g. data/source_model)")
    return model, vocab, config
