"""Sentiment with no labels: LM label-phrase scoring and GloVe label-word similarity.

Taught in notebook 10 (the few-labels methods are in ``fewshot``):

- zero-shot: append a label phrase to the review ("... it was great ." vs "... it was
  terrible .") and ask the source LM which continuation is more probable; the log-probabilities
  of a few templates are averaged. Calibration (Zhao et al. 2021, "Calibrate before use")
  subtracts each phrase's prior, its log-probability with no review at all, so a phrase that
  is likely everywhere does not win every time. No labelled example is used.
- zero-shot by word similarity: score each review by how much closer its words' GloVe vectors
  lie to a few label words ("good, great, excellent, ...") than to their opposites
  (``label_word_scores``). Distributional vectors put antonyms close together (*good* and *bad*
  share contexts), so the signal is weak; calibration moves the decision threshold to the
  median score of unlabelled training reviews, so half are called each class.
- ``run_zeroshot`` is the experiment of notebook 10: these methods side by side with
  ``fewshot``'s nearest-prototype classifier at k labels per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from transferlib.batching import pad_ids
from transferlib.checkpoint import load_language_model
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError, DataError
from transferlib.fewshot import (
    class_prototypes,
    encode_features,
    nearest_prototype,
    sample_per_class,
)
from transferlib.model import LanguageModel
from transferlib.text import Vocab, tokenize
from transferlib.vectors import WordVectors

# (template, {class: label word}); "{}" is replaced by the class's word. Lower case, spaces
# around punctuation, so each phrase tokenizes exactly as the source corpora do.
TEMPLATES: tuple[tuple[str, dict[str, str]], ...] = (
    ("it was {} .", {"positive": "great", "negative": "terrible"}),
    ("the movie is {} .", {"positive": "good", "negative": "bad"}),
    ("i thought it was {} .", {"positive": "wonderful", "negative": "awful"}),
    ("all in all , a {} film .", {"positive": "fine", "negative": "poor"}),
)


def usable_templates(
    vocab: Vocab, templates: Sequence[tuple[str, dict[str, str]]] = TEMPLATES,
    n_output: int | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """The templates whose every phrase is in ``vocab`` and, with ``n_output``, among the
    words the LM's softmax predicts (an ``<unk>`` label word would make both classes'
    phrases look alike); raises ``DataError`` when none is left (notebook 10)."""
    limit = len(vocab) if n_output is None else n_output
    kept = [(t, words) for t, words in templates
            if all(vocab.stoi.get(tok, limit) < limit
                   for w in words.values() for tok in tokenize(t.format(w)))]
    if not kept:
        raise DataError(f"none of the label-phrase templates {[t for t, _ in templates]} is "
                        "fully in the language model's vocabulary")
    return kept


# label words for zero-shot by word-vector similarity (each class's words, lower case)
LABEL_WORDS: dict[str, tuple[str, ...]] = {
    "positive": ("good", "great", "excellent", "wonderful", "best", "enjoyable", "beautiful"),
    "negative": ("bad", "awful", "boring", "terrible", "worst", "dull", "stupid"),
}


def label_word_scores(vectors: WordVectors, texts: Sequence[str],
                      label_words: dict[str, Sequence[str]] = LABEL_WORDS,
                      classes: Sequence[str] = ("negative", "positive")) -> torch.Tensor:
    """``[N]``: the mean over each text's words (with a vector) of ``cos(w, centroid of
    classes[1]'s words) - cos(w, centroid of classes[0]'s words)``; > 0 leans to classes[1]
    (notebook 10). A text with no known word scores 0."""
    if len(classes) != 2 or any(c not in label_words for c in classes):
        raise ArgumentError(f"label_word_scores needs two classes with label words, got "
                            f"{list(classes)} and {sorted(label_words)}")
    centroids = []
    for c in classes:
        vecs = [v for v, _ in (vectors.get(w) for w in label_words[c]) if v is not None]
        if not vecs:
            raise DataError(f"none of the label words {label_words[c]} has a vector")
        centroids.append(torch.nn.functional.normalize(torch.stack(vecs).mean(0), dim=0))
    unit = torch.nn.functional.normalize(vectors.vectors, dim=1)
    lean = unit @ (centroids[1] - centroids[0])  # per shipped word
    scores = []
    for t in texts:
        ids = [vectors.index[w] for w in tokenize(t) if w in vectors.index]
        scores.append(float(lean[ids].mean()) if ids else 0.0)
    return torch.tensor(scores)


def class_shares(pred: torch.Tensor, classes: Sequence[str]) -> dict[str, float]:
    """The share of predictions that fall in each class (``pred_share_<class>``): a method
    that answers one class for everything shows a share of 1.0."""
    n = max(1, len(pred))
    return {f"pred_share_{c}": float((pred == i).sum()) / n for i, c in enumerate(classes)}


def _last(ids: list[int], n: int) -> list[int]:
    return ids[len(ids) - n:] if len(ids) > n else ids


@torch.no_grad()
def phrase_log_probs(
    lm: LanguageModel, vocab: Vocab, texts: Sequence[str], phrases: Sequence[str],
    max_len: int = 64, batch_size: int = 128,
) -> torch.Tensor:
    """``[N, P]``: ``log p(phrase | <eos> text)`` summed over each phrase's tokens.

    Each text is read once (its last ``max_len`` tokens, packed so every row's state is the one
    after its own last token); every phrase then continues from that state. The leading
    ``<eos>`` is how sentences are separated in the LM's training stream, so an empty text
    gives the phrases' priors (taught in notebook 10).
    """
    targets = [vocab.encode(tokenize(p)) for p in phrases]
    if not all(targets):
        raise ArgumentError(f"every phrase needs a token: {list(phrases)}")
    lm.eval()
    device = next(lm.parameters()).device
    scores = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        ids, lengths = pad_ids([[vocab.eos_id] + _last(vocab.encode(tokenize(t)), max_len)
                                for t in chunk], vocab.pad_id)
        out, state = lm.encoder(ids.to(device), lengths=lengths, packed=True)
        last = out[torch.arange(len(chunk), device=device), lengths.to(device) - 1]
        first = lm.decode(last)[:, None]
        columns = []
        for phrase_ids in targets:
            target = torch.tensor(phrase_ids, device=device).expand(len(chunk), -1)
            logits = first
            if len(phrase_ids) > 1:
                logits = torch.cat([first, lm(target[:, :-1], state)[0]], dim=1)
            logp = logits.float().log_softmax(dim=-1)
            columns.append(logp.gather(-1, target[..., None]).sum(dim=(1, 2)))
        scores.append(torch.stack(columns, dim=1))
    return torch.cat(scores).cpu()


def zero_shot_scores(
    lm: LanguageModel, vocab: Vocab, texts: Sequence[str], classes: Sequence[str],
    templates: Sequence[tuple[str, dict[str, str]]] = TEMPLATES, max_len: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores [N, C], prior [C])``: per class, the template-averaged log-probability of its
    label phrase after each text, and the same phrase's log-probability after no text
    (notebook 10). Predict with ``scores.argmax(1)``, calibrated with
    ``(scores - prior).argmax(1)``."""
    kept = usable_templates(vocab, templates, lm.cfg.n_output)
    for template, words in kept:
        if missing := [c for c in classes if c not in words]:
            raise DataError(f"template {template!r} has no label word for classes {missing}")
    phrases = [t.format(words[c]) for t, words in kept for c in classes]  # template-major
    shape = (len(kept), len(classes))
    scores = phrase_log_probs(lm, vocab, texts, phrases, max_len)
    prior = phrase_log_probs(lm, vocab, [""], phrases, max_len)[0]
    return scores.view(-1, *shape).mean(dim=1), prior.view(shape).mean(dim=0)


def run_zeroshot(
    pretrained: str | Path, train: pd.DataFrame, test: pd.DataFrame, seeds: Sequence[int],
    ks: Sequence[int] = (1, 5, 10, 50), device: str = "auto",
    templates: Sequence[tuple[str, dict[str, str]]] = TEMPLATES,
    vectors: WordVectors | None = None,
) -> pd.DataFrame:
    """The zero-/few-shot experiment (notebook 10): one row per (method, k, seed) with the test
    accuracy. Methods: ``majority`` (the training split's most frequent class),
    ``lm-zero-shot``, ``lm-zero-shot-calibrated``, with ``vectors`` ``glove-similarity`` and
    ``glove-similarity-calibrated`` (no labels; seed -1) and ``prototype`` (k labelled
    training reviews per class, one row per seed). Every row has each class's share of the
    predictions."""
    lm, vocab, _ = load_language_model(pretrained, device=pick_device(device))
    classes = sorted(train["label"].unique())
    index = {c: i for i, c in enumerate(classes)}
    y_test = torch.tensor([index[c] for c in test["label"]])
    texts = list(test["text"])
    n = len(test)

    def row(method: str, k: int, seed: int, pred: torch.Tensor) -> dict:
        return {"method": method, "k": k, "seed": seed,
                "accuracy": float((pred == y_test).double().mean()), "n_test": n,
                **class_shares(pred, classes)}

    majority = index[train["label"].value_counts().idxmax()]
    rows = [row("majority", 0, -1, torch.full((n,), majority))]
    scores, prior = zero_shot_scores(lm, vocab, texts, classes, templates)
    rows += [row("lm-zero-shot", 0, -1, scores.argmax(1)),
             row("lm-zero-shot-calibrated", 0, -1, (scores - prior).argmax(1))]
    if vectors is not None and sorted(classes) == sorted(LABEL_WORDS):
        order = ("negative", "positive")
        lean = label_word_scores(vectors, texts, classes=order)
        threshold = float(label_word_scores(vectors, list(train["text"]), classes=order).median())
        to_index = torch.tensor([index[c] for c in order])
        rows += [row("glove-similarity", 0, -1, to_index[(lean > 0).long()]),
                 row("glove-similarity-calibrated", 0, -1, to_index[(lean > threshold).long()])]
    test_feats = encode_features(lm.encoder, vocab, texts)
    for seed in seeds:
        for k in ks:
            pick = sample_per_class(list(train["label"]), k, seed)
            support = train.iloc[pick]
            feats = encode_features(lm.encoder, vocab, list(support["text"]))
            labels = torch.tensor([index[c] for c in support["label"]])
            protos = class_prototypes(feats, labels, len(classes))
            rows.append(row("prototype", k, seed, nearest_prototype(test_feats, protos)))
    return pd.DataFrame(rows)
