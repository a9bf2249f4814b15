"""Load and verify the data that transferlib ships (taught in notebooks 00 and 02).

Source domain (language-model pre-training): the Brown corpus and the State of the Union addresses,
one sentence per line. Target domain: Rotten Tomatoes review snippets (Pang & Lee 2005), split by
movie so that no film crosses splits. Extra domains: the UCI sentiment sentences (Kotzias et al.
2015) from IMDB, Yelp and Amazon. Every loader verifies its file's checksum (``datacard.json``)
once per process.

``python -m transferlib.datasets verify`` checks the files against the datacard;
``python -m transferlib.datasets build [--out DIR] [--raw DIR]`` rebuilds them from four pinned
public packages (see ``datasets.build``; the command line is ``datasets/__main__.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

import pandas as pd

from transferlib import config
from transferlib.errors import DataError

SPLIT_SEED = 13
SPLITS = config.SPLITS
CORPORA = ("brown", "sotu", "both")
DOMAINS = ("imdb", "yelp", "amazon")
BUILD_COMMAND = "python -m transferlib.datasets build"
BROWN, SOTU = "source/brown.tsv.gz", "source/sotu.tsv.gz"
RT, RT_PLOTS = "target/rotten_tomatoes.csv", "target/rotten_tomatoes_plots.csv"
DOMAIN_FILE = "domains/sentiment_sentences.csv"
CARD = "datacard.json"
MAX_BYTES = 5_000_000
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split_of(keys: list[str], fractions: tuple[float, float]) -> dict[str, str]:
    """Seeded split of sorted keys: the first fractions[0] train, up to fractions[1] valid."""
    order = sorted(set(keys))
    random.Random(SPLIT_SEED).shuffle(order)
    cut1, cut2 = int(len(order) * fractions[0]), int(len(order) * fractions[1])
    return {k: SPLITS[0 if i < cut1 else 1 if i < cut2 else 2] for i, k in enumerate(order)}


def _root(data_dir: Path | None) -> Path:
    return Path(data_dir) if data_dir is not None else config.data_dir()


def _datacard(root: Path) -> dict:
    path = root / CARD
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is missing or unreadable ({exc}); rebuild with: "
                        f"{BUILD_COMMAND} --out {root}") from exc


def _checked(rel: str, root: Path, force: bool = False) -> Path:
    """Return ``root/rel`` once its SHA-256 matches the datacard (cached per path/size/mtime)."""
    entry = _datacard(root)["files"].get(rel)
    path = root / rel
    hint = f"rebuild with: {BUILD_COMMAND} --out {root}"
    if entry is None:
        raise DataError(f"{root / CARD} has no entry for {rel}; {hint}")
    if not path.is_file():
        raise DataError(f"data file {path} is missing; {hint}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, entry["sha256"])
    if force or key not in _VERIFIED:
        digest = _sha256(path)
        if digest != entry["sha256"]:
            raise DataError(f"data file {path} is corrupt or stale: SHA-256 {digest} != "
                            f"{entry['sha256']} in {CARD}; {hint}")
        _VERIFIED.add(key)
    return path


def _choice(name: str, value: str | None, allowed: tuple[str, ...], optional: bool) -> None:
    if not (value in allowed or (optional and value is None)):
        extra = " or None" if optional else ""
        raise DataError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}{extra}")


def verify(data_dir: Path | None = None) -> dict[str, str]:
    """Check every file listed in datacard.json; return {relative path: sha256}.

    Raises one DataError naming every missing or mismatching file."""
    root, result, problems = _root(data_dir), {}, []
    for rel, entry in _datacard(root)["files"].items():
        try:
            _checked(rel, root, force=True)
            result[rel] = entry["sha256"]
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        raise DataError("\n".join(problems))
    return result


def load_source_sentences(corpus: str = "both", split: str = "train",
                          data_dir: Path | None = None) -> list[str]:
    """Sentences of the source corpora (brown, sotu or both), split 90/5/5 by document."""
    _choice("corpus", corpus, CORPORA, False)
    _choice("split", split, SPLITS, False)
    root, out = _root(data_dir), []
    for rel in {"brown": [BROWN], "sotu": [SOTU], "both": [BROWN, SOTU]}[corpus]:
        with gzip.open(_checked(rel, root), "rt", encoding="utf-8", newline="\n") as fh:
            rows = [line.rstrip("\n").split("\t", 2) for line in fh][1:]
        doc_split = _split_of([r[0] for r in rows], (0.9, 0.95))
        out += [text for doc, _, text in rows if doc_split[doc] == split]
    return out


def _frame(rel: str, columns: list[str], data_dir: Path | None,
           where: tuple[str, str | None]) -> pd.DataFrame:
    path = _checked(rel, _root(data_dir))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if list(frame.columns) != columns:
        raise DataError(f"{path}: columns {list(frame.columns)} != expected {columns}")
    column, value = where
    return frame if value is None else frame[frame[column] == value].reset_index(drop=True)


def load_rotten_tomatoes(split: str | None = None, data_dir: Path | None = None) -> pd.DataFrame:
    """Labelled Rotten Tomatoes snippets: columns text, label (positive/negative), movie, split."""
    _choice("split", split, SPLITS, True)
    return _frame(RT, ["text", "label", "movie", "split"], data_dir, ("split", split))


def load_rotten_tomatoes_plots(split: str | None = None,
                               data_dir: Path | None = None) -> pd.DataFrame:
    """Unlabelled in-domain plot synopses: columns text, movie, split (same movie splits)."""
    _choice("split", split, SPLITS, True)
    return _frame(RT_PLOTS, ["text", "movie", "split"], data_dir, ("split", split))


def make_long_reviews(n_rows: int = 3000, majority_share: float = 0.65,
                      sentences: tuple[int, int] = (5, 15), seed: int = 0,
                      data_dir: Path | None = None) -> pd.DataFrame:
    """Long, unbalanced reviews for testing the CLI on texts unlike the snippets: each row
    joins 5-15 Rotten Tomatoes sentences of one label and one split (so no sentence crosses
    splits); ``majority_share`` of the rows are positive. Columns text, label, split
    (80/10/10 of the rows, drawn from the matching RT split)."""
    if not 0.5 <= majority_share < 1 or n_rows < 10:
        raise DataError("make_long_reviews needs n_rows >= 10 and 0.5 <= majority_share < 1")
    rng = random.Random(seed)
    reviews = load_rotten_tomatoes(data_dir=data_dir)
    rows = []
    for split, share in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        n = max(2, round(n_rows * share))
        n_pos = round(n * majority_share)
        for label, count in (("positive", n_pos), ("negative", n - n_pos)):
            pool = list(reviews.loc[(reviews["split"] == split)
                                    & (reviews["label"] == label), "text"])
            for _ in range(count):
                k = rng.randint(*sentences)
                rows.append({"text": " ".join(rng.sample(pool, k)), "label": label,
                             "split": split})
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=["text", "label", "split"])


def make_movie_documents(n_docs: int = 1500, snippets: tuple[int, int] = (10, 30),
                         seed: int = 0, data_dir: Path | None = None) -> pd.DataFrame:
    """Long documents for developing whole-document reading (notebook 06): each joins
    ``snippets`` (10-30) Rotten Tomatoes snippets of *one movie and one label* into a review of
    a few hundred tokens. The split is the shipped one, grouped by movie (no film crosses
    splits); 80/10/10 of ``n_docs``. Only (movie, label) groups with at least ``snippets[0]``
    snippets are used; a group may give several documents (different draws). Columns text,
    label, movie, split."""
    low, high = snippets
    if n_docs < 10 or not 1 <= low <= high:
        raise DataError(f"make_movie_documents needs n_docs >= 10 and 1 <= low <= high, got "
                        f"n_docs={n_docs}, snippets={snippets}")
    rng = random.Random(seed)
    reviews = load_rotten_tomatoes(data_dir=data_dir)
    rows = []
    for split, share in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        part = reviews[reviews["split"] == split]
        groups = [(key, list(g["text"])) for key, g in part.groupby(["movie", "label"])
                  if len(g) >= low]
        if not groups:
            raise DataError(f"no movie of the {split} split has {low} snippets of one label")
        for _ in range(max(2, round(n_docs * share))):
            (movie, label), pool = rng.choice(groups)
            picked = rng.sample(pool, rng.randint(low, min(high, len(pool))))
            rows.append({"text": " ".join(picked), "label": label, "movie": movie,
                         "split": split})
    return pd.DataFrame(rows, columns=["text", "label", "movie", "split"])


def load_domain_sentences(domain: str | None = None,
                          data_dir: Path | None = None) -> pd.DataFrame:
    """UCI sentiment sentences: columns domain (imdb/yelp/amazon), text, label."""
    _choice("domain", domain, DOMAINS, True)
    return _frame(DOMAIN_FILE, ["domain", "text", "label"], data_dir, ("domain", domain))

