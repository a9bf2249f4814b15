"""Tokenizer and vocabulary: the first half of the text pipeline (taught in notebook 02).

This replaces torchtext's deleted ``Field``/``build_vocab``: a regular-expression tokenizer, a
``Vocab`` with special tokens, minimum frequency and maximum size that saves to JSON, and
``numericalize`` that turns text into a list of ids (truncated to a maximum length).
It also holds the atomic file writes (temp file, fsync, rename) that ``Vocab.save`` and every
model folder of ``checkpoint`` use: the lowest module that writes files owns them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from transferlib.errors import ArgumentError, CheckpointError, DataError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)

# words (letters/digits, with inner apostrophes or hyphens) or single punctuation marks
_TOKEN_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and punctuation marks.

    >>> tokenize("It's a well-made film, isn't it?")
    ["it's", 'a', 'well-made', 'film', ',', "isn't", 'it', '?']
    """
    if not isinstance(text, str):
        raise DataError(f"tokenize expects a str, got {type(text).__name__}")
    return _TOKEN_RE.findall(text.lower().replace("’", "'"))


class Vocab:
    """A bijection between tokens and integer ids; ids 0-3 are ``<pad> <unk> <bos> <eos>``."""

    def __init__(self, itos: Sequence[str]):
        itos = list(itos)
        if not all(isinstance(t, str) for t in itos):
            bad = next(i for i, t in enumerate(itos) if not isinstance(t, str))
            raise DataError(f"vocabulary tokens must be strings; id {bad} is {itos[bad]!r}")
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise DataError(f"a vocabulary must start with the specials {SPECIALS}")
        if len(set(itos)) != len(itos):
            dupes = [t for t, n in Counter(itos).items() if n > 1][:5]
            raise DataError(f"vocabulary has duplicate tokens, e.g. {dupes}")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}

    pad_id = 0
    unk_id = 1
    bos_id = 2
    eos_id = 3

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """Count tokens and keep those seen ``min_freq`` times, most frequent first.

        Ties are broken alphabetically so the same data always gives the same ids.
        ``max_size`` counts the special tokens too.
        """
        if min_freq < 1:
            raise ArgumentError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size <= len(SPECIALS):
            raise ArgumentError(
                f"max_size must be > {len(SPECIALS)} (the specials), got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        return cls.from_counts(counts, min_freq=min_freq, max_size=max_size)

    @classmethod
    def from_counts(
        cls, counts: Counter[str], min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Like :meth:`build`, from a ready ``Counter``."""
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + kept)

    def extend(self, counts: Counter[str], min_freq: int = 1) -> Vocab:
        """A new vocabulary: this one's tokens (same ids) plus new ones seen ``min_freq`` times.

        Used for vocabulary transfer: the target task keeps every word the source model knows
        and adds its own frequent words at the end (taught in notebook 06).
        """
        new = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in self.stoi),
            key=lambda t: (-counts[t], t),
        )
        return Vocab(self.itos + new)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[4:10]}...)"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token strings to ids; unknown tokens become ``<unk>`` (id 1)."""
        unk = self.unk_id
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids back to token strings."""
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"format": "transferlib.vocab/1", "itos": self.itos}

    def to_json(self) -> str:
        """The JSON text :meth:`save` writes: readable UTF-8, or ``\\u`` escapes when a token
        holds a lone surrogate (which UTF-8 cannot encode), so every vocabulary round-trips."""
        text = json.dumps(self.to_dict(), ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(self.to_dict(), ensure_ascii=True)
        return text

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (a list of tokens in id order), atomically."""
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"{path}: vocabulary file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path}: not a JSON vocabulary ({exc})") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("itos"), list):
            raise CheckpointError(f"{path}: expected a JSON object with an 'itos' list")
        try:
            return cls(payload["itos"])
        except DataError as exc:
            raise CheckpointError(f"{path}: {exc}") from None


def numericalize(
    text: str, vocab: Vocab, max_len: int | None = None, add_eos: bool = False
) -> list[int]:
    """Tokenize ``text`` and map it to ids, keeping at most ``max_len`` tokens.

    Empty texts become a single ``<unk>`` so that every example has length >= 1; hence
    ``max_len`` must be >= 1 (``ValueError`` otherwise).
    """
    if max_len is not None and max_len < 1:
        raise ArgumentError(f"max_len must be >= 1 (or None), got {max_len}")
    ids = vocab.encode(tokenize(text))
    if add_eos:
        ids.append(vocab.eos_id)
    if max_len is not None:
        ids = ids[:max_len]
    return ids or [vocab.unk_id]

# ----------------------------------------------------------------------------- atomic writes
def _fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))
