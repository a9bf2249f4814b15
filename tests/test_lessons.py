"""Tests for transferlib.workbook.lessons: the small measured lessons beside the notebooks."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from transferlib.text import Vocab
from transferlib.workbook import lessons

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def word_vocab() -> Vocab:
    return Vocab.build([["good", "bad", "film", "great", "terrible", "dull"]], min_freq=1)


def test_neighbours_and_pair_cosines_follow_the_rows(word_vocab):
    weight = torch.randn(len(word_vocab), 4)
    weight[word_vocab.stoi["bad"]] = weight[word_vocab.stoi["good"]] * 2  # same direction
    near = lessons.embedding_neighbours(weight, word_vocab, "good", k=2)
    assert near[0][0] == "bad" and near[0][1] == pytest.approx(1.0, abs=1e-5)
    assert all(w not in ("<pad>", "<unk>", "<bos>", "<eos>", "good") for w, _ in near)
    assert lessons.pair_cosines(weight, word_vocab)["good/bad"] == pytest.approx(1.0, abs=1e-5)
    moved = weight.clone()
    moved[word_vocab.stoi["bad"]] = -weight[word_vocab.stoi["good"]]
    table = lessons.pair_table(weight, moved, word_vocab)
    assert table.loc["good/bad", "cos after"] == pytest.approx(-1.0, abs=1e-5)
    frame = lessons.neighbours_before_after(weight, moved, word_vocab, ["good", "absent"], k=2)
    assert list(frame.index) == ["good"]


def test_neighbours_of_a_word_beyond_the_search_limit(word_vocab):
    weight = torch.randn(len(word_vocab), 4)
    last = word_vocab.itos[-1]
    assert len(lessons.embedding_neighbours(weight, word_vocab, last, k=2, limit=6)) == 2


def test_shares_note_and_lever_verdicts():
    assert lessons.shares_note(torch.tensor([1, 1, 1, 0]), ["negative", "positive"]) == \
        "negative 25%, positive 75%"
    table = pd.DataFrame({"row": ["baseline", "a", "b", "c"], "speedup": [1.0, 1.5, 1.05, 0.5]})
    assert list(lessons.lever_verdicts(table)["verdict"]) == \
        ["baseline", "faster", "within noise", "slower"]


def test_vocabulary_diagnosis_counts_tokens(word_vocab):
    class Vectors:
        def get(self, word):
            return (torch.zeros(2), "glove") if word in ("good", "zorblax") else (None, "unknown")

        def coverage(self, counts):
            known = sum(n for w, n in counts.items() if w in ("good", "zorblax"))
            return {"token_coverage": known / sum(counts.values())}

    diag = lessons.vocabulary_diagnosis(["good film", "zorblax qwerty"], word_vocab, Vectors())
    assert diag["tokens"] == 4 and diag["source_coverage"] == pytest.approx(0.5)
    assert diag["glove_coverage"] == pytest.approx(0.5) and diag["unknown_to_both"] == ["qwerty"]


def test_mode_step_time_is_measured_in_fast_sizes():
    r = lessons.mode_step_time(fast=True, steps=1, batch_size=8)
    assert r["mode"] == "fast" and r["ms_per_step"] > 0 and r["parameters"] > 0


def test_speedup_comparison_puts_each_committed_bench_in_its_own_column(tmp_path):
    live = pd.DataFrame({"row": ["baseline", "bucketing"], "speedup": [1.0, 1.3]})
    paths = {}
    for label, speed in (("cpu", 1.5), ("gpu", 0.9)):
        paths[label] = tmp_path / f"{label}.csv"
        pd.DataFrame({"section": ["train", "train", "train", "inference"],
                      "row": ["baseline", "bucketing", "packed", "bucketing"],
                      "speedup": [1.0, speed, 0.5, 9.0]}).to_csv(paths[label], index=False)
    frame = lessons.speedup_comparison(live, paths)
    assert list(frame.index) == ["baseline", "bucketing", "packed"]  # live rows first
    assert frame.loc["bucketing", "cpu"] == 1.5 and frame.loc["bucketing", "gpu"] == 0.9
    assert pd.isna(frame.loc["packed", "live (this machine, short budget)"])
