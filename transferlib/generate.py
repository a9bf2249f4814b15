"""What a language model has learned, seen from outside: next-word probabilities, sampled text,
perplexity (taught in notebook 05; ``next_words`` also in notebook 01).

Sampling divides the logits by a *temperature* T before the softmax: T < 1 sharpens the
distribution (safer, more repetitive text), T > 1 flattens it (more surprising, less
grammatical). Every sample is seeded, so the same prompt, temperature and seed give the same
text. Perplexity is ``exp(mean next-word cross-entropy)`` on held-out text: the number of words
the model is, on average, as unsure between as a uniform guess would be.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from transferlib.batching import LanguageModelStream
from transferlib.errors import ArgumentError
from transferlib.model import LanguageModel
from transferlib.tasks import LanguageModelTask
from transferlib.text import SPECIALS, Vocab, tokenize
from transferlib.training import evaluate

_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]}%])")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into readable text: no space before punctuation, ``<eos>`` ends a line
    (notebook 05)."""
    lines, words = [], []
    for tok in tokens:
        if tok == "<eos>":
            lines.append(" ".join(words))
            words = []
        else:
            words.append(tok)
    lines.append(" ".join(words))
    text = "\n".join(line for line in lines if line)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


def _context_ids(prompt: str, vocab: Vocab) -> torch.Tensor:
    """``<eos>`` (a sentence boundary, as between training sentences) + the prompt's ids."""
    return torch.tensor([[vocab.eos_id] + vocab.encode(tokenize(prompt))])


def _banned(vocab: Vocab, ban_unk: bool) -> list[int]:
    return [vocab.pad_id, vocab.bos_id] + ([vocab.unk_id] if ban_unk else [])


def _check_temperature(temperature: float) -> float:
    if not temperature > 0 or math.isinf(temperature):
        raise ArgumentError(f"temperature must be a finite number > 0, got {temperature}")
    return float(temperature)


@torch.no_grad()
def next_words(model: LanguageModel, vocab: Vocab, prompt: str, top: int = 10,
               temperature: float = 1.0) -> pd.DataFrame:
    """The ``top`` most likely next words after ``prompt``: columns word, probability
    (notebooks 01 and 05)."""
    temperature = _check_temperature(temperature)
    model.eval()
    device = next(model.parameters()).device
    logits, _ = model(_context_ids(prompt, vocab).to(device))
    probs = (logits[0, -1].float() / temperature).softmax(dim=-1)
    values, ids = probs.topk(min(top, len(vocab)))
    return pd.DataFrame({"word": vocab.decode(ids.tolist()),
                         "probability": [round(float(v), 4) for v in values]})


@torch.no_grad()
def similar_words(model: LanguageModel, vocab: Vocab, word: str, top: int = 8) -> pd.DataFrame:
    """The ``top`` words whose embeddings are closest to ``word``'s (cosine similarity): what
    pretraining learned about words without a single label (notebook 01)."""
    if word not in vocab:
        raise ArgumentError(f"{word!r} is not in the model's vocabulary of {len(vocab)} words")
    emb = model.encoder.embedding.weight.detach().float()
    emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-8)
    sims = emb @ emb[vocab.stoi[word]]
    sims[: len(SPECIALS)] = -2.0
    sims[vocab.stoi[word]] = -2.0
    values, ids = sims.topk(min(top, len(vocab) - len(SPECIALS) - 1))
    return pd.DataFrame({"word": vocab.decode(ids.tolist()),
                         "cosine": [round(float(v), 3) for v in values]})


@dataclass(frozen=True)
class Sample:
    """A generated continuation: its text, tokens and how uncertain each step was (notebook 05)."""

    prompt: str
    text: str
    tokens: tuple[str, ...]
    entropies: tuple[float, ...]  # entropy (nats) of each step's tempered distribution
    temperature: float
    seed: int

    @property
    def mean_entropy(self) -> float:
        """Average entropy per generated word, in nats (higher: more random choices)."""
        return sum(self.entropies) / len(self.entropies)


@torch.no_grad()
def sample_text(model: LanguageModel, vocab: Vocab, prompt: str = "", n_words: int = 30,
                temperature: float = 1.0, seed: int = 0, ban_unk: bool = True) -> Sample:
    """Continue ``prompt`` with ``n_words`` tokens sampled at ``temperature`` (seeded).

    ``<pad>`` and ``<bos>`` are never sampled, nor ``<unk>`` when ``ban_unk``; ``<eos>`` is
    allowed and starts a new line. Widget callback of notebook 05.
    """
    temperature = _check_temperature(temperature)
    if n_words < 1:
        raise ArgumentError(f"n_words must be >= 1, got {n_words}")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    banned = torch.tensor(_banned(vocab, ban_unk))
    logits, state = model(_context_ids(prompt, vocab).to(device))
    step_logits = logits[0, -1].float().cpu()
    out, entropies = [], []
    for _ in range(n_words):
        scaled = step_logits / temperature
        scaled[banned] = float("-inf")
        probs = scaled.softmax(dim=-1)
        logp = scaled.log_softmax(dim=-1)
        entropies.append(float(-(probs[probs > 0] * logp[probs > 0]).sum()))
        token = int(torch.multinomial(probs, 1, generator=generator))
        out.append(token)
        logits, state = model(torch.tensor([[token]], device=device), state)
        step_logits = logits[0, -1].float().cpu()
    tokens = tuple(vocab.decode(out))
    text = detokenize(tokenize(prompt) + list(tokens))
    return Sample(prompt, text, tokens, tuple(entropies), temperature, seed)


def perplexity(model: LanguageModel, vocab: Vocab, texts: Sequence[str], batch_size: int = 16,
               bptt: int = 64, max_tokens: int | None = None, amp: bool = False) -> dict:
    """Next-word perplexity of ``model`` on ``texts`` (held-out sentences, joined by ``<eos>``
    into one stream as in training; with ``batch_size=16`` and the training ``bptt`` this is
    the ``test_perplexity`` the CLI records). Returns loss, perplexity, accuracy, tokens
    (notebook 05)."""
    stream = LanguageModelStream(list(texts), vocab, batch_size=batch_size, bptt=bptt,
                                 max_tokens=max_tokens)
    metrics = evaluate(model, stream, LanguageModelTask(), amp=amp)
    return {**metrics, "tokens": stream.n_tokens}
