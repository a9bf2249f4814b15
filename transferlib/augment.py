"""Text augmentation for a distillation transfer set (Tang et al. 2019, section 3.3).

Taught in notebook 08. A student learns from a teacher's soft predictions on more text than the
labelled reviews: each training review yields ``copies`` new ones, word by word

* **masking**: with probability ``p_mask`` a word becomes ``MASK`` (the teacher reads it as its
  ``[MASK]`` token, the LSTM as an unknown word);
* **neighbour replacement**: otherwise, with probability ``p_neighbour``, a word becomes one of
  its ``k`` nearest GloVe neighbours (Tang et al. replace by a word of the same part of speech;
  a neighbour plays that part here) — the new word may change the sentiment, so the teacher,
  not the review's label, says what the copy means;

and then, with probability ``p_ngram``, the copy is cut to a random n-gram of 1 to 5 words.
The copies carry no label: only the teacher's predictions train on them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from transferlib.errors import ArgumentError
from transferlib.text import tokenize
from transferlib.vectors import WordVectors

_PLAIN = re.compile(r"[a-z]+")  # the words that may be replaced, and their replacements
MASK = "xxmask"  # one token for transferlib's tokenizer, unknown to every vocabulary


@dataclass(frozen=True)
class AugmentConfig:
    """How many copies per review and which of the three operations make them."""

    copies: int = 4
    p_mask: float = 0.1
    p_neighbour: float = 0.1
    p_ngram: float = 0.25
    neighbours: int = 8  # k nearest GloVe words a replacement is drawn from

    def __post_init__(self):
        if self.copies < 0 or self.neighbours < 1:
            raise ArgumentError("AugmentConfig: copies must be >= 0 and neighbours >= 1")
        for name in ("p_mask", "p_neighbour", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ArgumentError(f"AugmentConfig.{name} must be in [0, 1]")


def neighbour_table(words: set[str], vectors: WordVectors, k: int,
                    allowed: set[str] | None = None) -> dict[str, list[str]]:
    """Each plain word (letters only) of ``words`` that has a GloVe vector → its ``k`` nearest
    plain words (cosine), among ``allowed`` when given (e.g. the student's vocabulary, so that
    a replacement is a word the student can read, not an unknown one)."""
    known = sorted(w for w in words if w in vectors.index and _PLAIN.fullmatch(w))
    if not known:
        return {}
    unit = torch.nn.functional.normalize(vectors.vectors.float(), dim=1)
    plain = torch.tensor([bool(_PLAIN.fullmatch(w)) and (allowed is None or w in allowed)
                          for w in vectors.words])
    rows = torch.tensor([vectors.index[w] for w in known])
    table: dict[str, list[str]] = {}
    for start in range(0, len(known), 2048):
        part = rows[start:start + 2048]
        sims = unit[part] @ unit.T
        sims[torch.arange(len(part)), part] = -2.0  # never the word itself
        sims[:, ~plain] = -2.0  # nor a number, a symbol or a hyphenated compound
        top = sims.topk(k, dim=1).indices
        for word, ids in zip(known[start:start + 2048], top.tolist(), strict=True):
            table[word] = [vectors.words[i] for i in ids]
    return table


def augment_tokens(tokens: Sequence[str], cfg: AugmentConfig, table: dict[str, list[str]],
                   rng: random.Random) -> list[str]:
    """One augmented copy of a tokenized review (see the module docstring)."""
    out = []
    for word in tokens:
        draw = rng.random()
        if draw < cfg.p_mask:
            out.append(MASK)
        elif draw < cfg.p_mask + cfg.p_neighbour and word in table:
            out.append(rng.choice(table[word]))
        else:
            out.append(word)
    if out and rng.random() < cfg.p_ngram:
        n = min(len(out), rng.randint(1, 5))
        start = rng.randrange(len(out) - n + 1)
        out = out[start:start + n]
    return out


def transfer_set(train: pd.DataFrame, unlabelled: Sequence[str], cfg: AugmentConfig,
                 vectors: WordVectors | None, seed: int = 0,
                 allowed: set[str] | None = None) -> pd.DataFrame:
    """The texts a student learns from: the training reviews (``origin`` train, with their
    labels), ``cfg.copies`` augmented copies of each (origin augmented, label empty) and the
    unlabelled texts (origin unlabelled). Seeded: the same arguments give the same frame."""
    if cfg.p_neighbour > 0 and vectors is None:
        raise ArgumentError("neighbour replacement needs word vectors (load_word_vectors())")
    rng = random.Random(seed)
    tokenized = [tokenize(t) for t in train["text"]]
    table = neighbour_table({w for toks in tokenized for w in toks}, vectors,
                            cfg.neighbours, allowed) if cfg.p_neighbour > 0 else {}
    rows = [{"text": t, "label": str(y), "origin": "train", "source_row": i}
            for i, (t, y) in enumerate(zip(train["text"], train["label"], strict=True))]
    for _ in range(cfg.copies):
        for i, toks in enumerate(tokenized):
            copy = augment_tokens(toks, cfg, table, rng)
            if copy:
                rows.append({"text": " ".join(copy), "label": "", "origin": "augmented",
                             "source_row": i})
    rows += [{"text": t, "label": "", "origin": "unlabelled", "source_row": -1}
             for t in unlabelled]
    return pd.DataFrame(rows)


def sentences(texts: Sequence[str]) -> list[str]:
    """The sentences of running texts (e.g. plot synopses), so that an unlabelled row is as
    long as a review and the teacher (64 word pieces) reads what the student reads."""
    from transferlib.datasets.build import split_sentences

    return [s for t in texts for s in split_sentences(t)]


def teacher_text(text: str, mask_token: str) -> str:
    """``text`` as the teacher reads it: the mask word becomes its own mask token."""
    return " ".join(mask_token if w == MASK else w for w in text.split(" ")) \
        if MASK in text else text
