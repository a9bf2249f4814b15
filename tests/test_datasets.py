"""Tests for transferlib.datasets: checksums, corruption detection, splits and counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from transferlib import config, datasets
from transferlib.datasets import __main__ as datasets_cli
from transferlib.datasets import build as datasets_build
from transferlib.datasets import loaders
from transferlib.errors import DataError

DATA = config.data_dir()
FILES = [datasets.BROWN, datasets.SOTU, datasets.RT, datasets.RT_PLOTS, datasets.DOMAIN_FILE]


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((DATA / datasets.CARD).read_text("utf-8"))


def _copy_data(tmp_path: Path, files: list[str]) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy2(DATA / datasets.CARD, root / datasets.CARD)
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(DATA / rel, root / rel)
    return root


def test_checksums_verify(card: dict) -> None:
    result = datasets.verify()
    assert sorted(result) == sorted(FILES) == sorted(card["files"])
    for rel, digest in result.items():
        assert digest == card["files"][rel]["sha256"]
        assert (DATA / rel).stat().st_size == card["files"][rel]["bytes"] < 5_000_000


def test_corrupted_copy_raises_naming_the_file(tmp_path: Path) -> None:
    root = _copy_data(tmp_path, [datasets.RT, datasets.DOMAIN_FILE])
    path = root / datasets.RT
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="rotten_tomatoes.csv") as info:
        datasets.load_rotten_tomatoes(data_dir=root)
    assert datasets.BUILD_COMMAND in str(info.value)
    assert len(datasets.load_domain_sentences(data_dir=root)) == 3000  # intact file still loads
    with pytest.raises(DataError, match="rotten_tomatoes.csv"):
        datasets.verify(root)


def test_missing_file_raises(tmp_path: Path) -> None:
    root = _copy_data(tmp_path, [])
    with pytest.raises(DataError, match="sentiment_sentences.csv"):
        datasets.load_domain_sentences(data_dir=root)


def test_unknown_values_list_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="brown, sotu, both"):
        datasets.load_source_sentences(corpus="wiki")
    with pytest.raises(DataError, match="train, valid, test"):
        datasets.load_rotten_tomatoes(split="dev")
    with pytest.raises(DataError, match="imdb, yelp, amazon"):
        datasets.load_domain_sentences(domain="twitter")


def test_rotten_tomatoes_movies_do_not_cross_splits(card: dict) -> None:
    reviews = datasets.load_rotten_tomatoes()
    plots = datasets.load_rotten_tomatoes_plots()
    both = list(zip(reviews.movie, reviews.split)) + list(zip(plots.movie, plots.split))
    movie_split: dict[str, str] = {}
    for movie, split in both:
        assert movie_split.setdefault(movie, split) == split, movie
    entry = card["files"][datasets.RT]
    assert len(reviews) == entry["rows"]
    assert reviews.label.value_counts().to_dict() == entry["labels"]
    assert set(reviews.label) == {"positive", "negative"}
    for split in datasets.SPLITS:
        part = datasets.load_rotten_tomatoes(split)
        assert len(part) == entry["splits"][split] > 0
        assert part.label.value_counts().to_dict() == entry["split_labels"][split]
        assert set(part.split) == {split}
    assert len(plots) == card["files"][datasets.RT_PLOTS]["rows"]
    assert not reviews.duplicated(["text", "label"]).any()
    assert (reviews.text.str.len() > 0).all() and (plots.text.str.len() > 0).all()


def test_text_na_stays_a_string() -> None:
    frame = datasets.load_domain_sentences()
    assert not frame.isna().any().any()
    assert all(isinstance(t, str) for t in frame.text)


def test_source_splits_disjoint_by_document(card: dict) -> None:
    for corpus, rel in (("brown", datasets.BROWN), ("sotu", datasets.SOTU)):
        entry = card["files"][rel]
        parts = {s: datasets.load_source_sentences(corpus, s) for s in datasets.SPLITS}
        for split, sentences in parts.items():
            assert len(sentences) == entry["sentence_splits"][split] > 0
            assert all(s and "\t" not in s and "\n" not in s for s in sentences)
        assert sum(map(len, parts.values())) == entry["rows"]
        assert entry["doc_splits"]["train"] > 10 * entry["doc_splits"]["test"] > 0
    both = datasets.load_source_sentences("both", "valid")
    assert len(both) == sum(card["files"][r]["sentence_splits"]["valid"]
                            for r in (datasets.BROWN, datasets.SOTU))


def test_document_split_is_deterministic_and_disjoint() -> None:
    docs = [f"doc{i:03d}" for i in range(233)]
    split = loaders._split_of(docs, (0.9, 0.95))
    assert split == loaders._split_of(list(reversed(docs)), (0.9, 0.95))
    groups = {s: {d for d in docs if split[d] == s} for s in datasets.SPLITS}
    assert [len(groups[s]) for s in datasets.SPLITS] == [209, 12, 12]


def test_domain_sentences(card: dict) -> None:
    frame = datasets.load_domain_sentences()
    assert list(frame.columns) == ["domain", "text", "label"]
    counts = frame.domain.value_counts().to_dict()
    assert set(counts) == set(datasets.DOMAINS)
    assert all(990 <= n <= 1000 for n in counts.values())
    assert counts == card["files"][datasets.DOMAIN_FILE]["domains"]
    for domain in datasets.DOMAINS:
        part = datasets.load_domain_sentences(domain)
        assert set(part.label) == {"positive", "negative"}
        assert set(part.domain) == {domain}
    assert card["dropped"][datasets.DOMAIN_FILE]["empty_record"]["count"] == 3


def test_sentence_splitter() -> None:
    text = 'Mr. Speaker, the U.S. Army grew. "We won!" said Henry L. Stimson.  Is it?\nYes.'
    assert datasets_build.split_sentences(text) == [
        "Mr. Speaker, the U.S. Army grew.", '"We won!" said Henry L. Stimson.', "Is it?", "Yes."]


def test_main_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert datasets_cli.main(["verify", "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_build_command_runs_the_builder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m transferlib.datasets build`` calls ``datasets.build.build`` with --out and
    --raw and prints the card it returns; the loaders never import the builders."""
    calls = []
    card = {"files": {"a.csv": {"rows": 3, "bytes": 10, "sha256": "ab" * 32}}}

    def fake_build(out: Path, raw: Path | None) -> dict:
        calls.append((out, raw))
        return card

    monkeypatch.setattr(datasets_cli, "build", fake_build)
    assert datasets_cli.main(["build", "--out", str(tmp_path)]) == 0
    assert calls == [(tmp_path, None)] and "a.csv" in capsys.readouterr().out

