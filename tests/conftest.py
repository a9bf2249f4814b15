"""Shared fixtures: tiny vocabularies, models and CSV files that make tests fast."""

from __future__ import annotations

import random

import pytest
import torch

from transferlib.model import ModelConfig
from transferlib.text import Vocab, tokenize

POSITIVE = ["a great film", "wonderful acting and a great story", "i loved it", "superb and moving",
            "a delight from start to finish", "great fun", "brilliant , moving and funny"]
NEGATIVE = ["a dull film", "boring and lifeless", "i hated it", "awful acting and a dull story",
            "a mess from start to finish", "tedious", "flat , lifeless and long"]


@pytest.fixture
def tiny_texts() -> tuple[list[str], list[str]]:
    texts = POSITIVE + NEGATIVE
    labels = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    return texts, labels


@pytest.fixture
def tiny_vocab(tiny_texts) -> Vocab:
    return Vocab.build(tokenize(t) for t in tiny_texts[0])


@pytest.fixture
def tiny_cfg(tiny_vocab) -> ModelConfig:
    return ModelConfig(vocab_size=len(tiny_vocab), emb_dim=16, hidden_dim=24, num_layers=2,
                       emb_dropout=0.0, layer_dropout=0.0, out_dropout=0.0, n_classes=2,
                       head_hidden=8)


@pytest.fixture
def small_csv(tmp_path):
    """A CSV of 200 rows in two classes with a split column."""
    rng = random.Random(0)
    rows = ["text,label,split"]
    for i in range(200):
        pos = i % 2 == 0
        words = rng.sample(POSITIVE if pos else NEGATIVE, 2)
        split = "train" if i < 140 else ("valid" if i < 170 else "test")
        rows.append(f"\"{' and '.join(words)}\",{'positive' if pos else 'negative'},{split}")
    path = tmp_path / "small.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def rt_vocab() -> Vocab:
    """A 1,500-word vocabulary of the shipped Rotten Tomatoes training split."""
    from transferlib.datasets import load_rotten_tomatoes

    texts = load_rotten_tomatoes("train")["text"]
    return Vocab.build((tokenize(t) for t in texts), min_freq=3, max_size=1500)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train far faster on one thread (and do not fight a shared machine's jobs);
    the thread count is restored after the module. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_lm(rt_vocab):
    """A seeded 2-layer LSTM language model over ``rt_vocab`` (emb 16, hidden 24, no dropout)."""
    from transferlib.model import LanguageModel
    from transferlib.training import set_seed

    set_seed(0)
    cfg = ModelConfig(vocab_size=len(rt_vocab), emb_dim=16, hidden_dim=24, num_layers=2,
                      emb_dropout=0.0, layer_dropout=0.0, out_dropout=0.0)
    return LanguageModel(cfg).eval()


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory, tiny_lm, rt_vocab) -> str:
    """``tiny_lm`` saved as a model folder (safetensors + JSON), usable as ``pretrained``."""
    from transferlib.checkpoint import save_model

    path = tmp_path_factory.mktemp("tiny_lm")
    save_model(path, tiny_lm, rt_vocab)
    return str(path)
