"""Sentiment with no or a handful of labels: LM label-phrase scoring and class prototypes.

Taught in notebook 09. Using a pretrained model with no or only a few labels:

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
- few-shot: embed k labelled reviews per class with the pretrained encoder (the pooled
  ``[last, max, mean]`` vector a ``Classifier`` head sees), average them into one prototype per
  class and label each test review by its nearest prototype (squared Euclidean distance, as in
  Snell et al. 2017, "Prototypical networks").
- k-shot adaptation: a trained classifier, head included, trained a little further on k
  labelled examples of a new domain (``adapt_classifier``), scored by ``accuracy_on``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .batching import TextClassificationDataset, collate_padded, make_loader
from .checkpoint import load_model
from .errors import ArgumentError, DataError
from .layers import discriminative_groups, freeze_to, slanted_triangular
from .model import Classifier, LanguageModel, LSTMEncoder, pool_valid
from .text import Vocab, numericalize, tokenize
from .training import ClassificationTask, evaluate, fit, pick_device, set_seed
from .vectors import WordVectors

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
    phrases look alike); raises ``DataError`` when none is left (notebook 09)."""
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
    (notebook 09). A text with no known word scores 0."""
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
    gives the phrases' priors (taught in notebook 09).
    """
    targets = [vocab.encode(tokenize(p)) for p in phrases]
    if not all(targets):
        raise ArgumentError(f"every phrase needs a token: {list(phrases)}")
    lm.eval()
    device = next(lm.parameters()).device
    scores = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        rows = [(torch.tensor([vocab.eos_id] + _last(vocab.encode(tokenize(t)), max_len)),
                 torch.tensor(0)) for t in chunk]
        ids, lengths, _ = collate_padded(rows, vocab.pad_id)
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
    (notebook 09). Predict with ``scores.argmax(1)``, calibrated with
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


@torch.no_grad()
def encode_features(
    encoder: LSTMEncoder, vocab: Vocab, texts: Sequence[str], max_len: int = 96,
    batch_size: int = 128,
) -> torch.Tensor:
    """Pooled sentence vectors ``[N, 3 * emb_dim]`` (``pool_valid`` over the encoder outputs,
    what ``Classifier.features`` computes) in eval mode (notebook 09)."""
    encoder.eval()
    device = next(encoder.parameters()).device
    feats = []
    for start in range(0, len(texts), batch_size):
        rows = [(torch.tensor(numericalize(t, vocab, max_len)), torch.tensor(0))
                for t in texts[start:start + batch_size]]
        ids, lengths, _ = collate_padded(rows, vocab.pad_id)
        out, _ = encoder(ids.to(device), lengths=lengths.to(device))
        feats.append(pool_valid(out, lengths.to(device)).float().cpu())
    return torch.cat(feats)


def class_prototypes(features: torch.Tensor, labels: torch.Tensor, n_classes: int
                     ) -> torch.Tensor:
    """The mean feature vector of each class ``[C, D]``; every class needs an example
    (notebook 09)."""
    missing = [c for c in range(n_classes) if not bool((labels == c).any())]
    if missing:
        raise ArgumentError(f"classes {missing} have no support example")
    return torch.stack([features[labels == c].mean(dim=0) for c in range(n_classes)])


def nearest_prototype(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """The index of the closest prototype (squared Euclidean distance) for each row
    (notebook 09)."""
    return torch.cdist(features.float(), prototypes.float()).argmin(dim=1)


def sample_per_class(labels: Sequence[str], k: int, seed: int) -> list[int]:
    """``k`` seeded row positions of each class (sorted); a class with fewer than ``k`` rows is
    an error (notebook 09)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for c in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == c)
        if len(rows) < k:
            raise DataError(f"class {c!r} has {len(rows)} examples, fewer than k={k}")
        picked += rng.choice(rows, size=k, replace=False).tolist()
    return sorted(picked)


def accuracy_on(model: Classifier, vocab: Vocab, classes: list[str], frame: pd.DataFrame,
                device: str = "auto", amp: bool = True) -> float:
    """Accuracy of a trained classifier on a labelled frame (notebook 09)."""
    dev = pick_device(device)
    data = make_loader(TextClassificationDataset(frame["text"], frame["label"], vocab, classes,
                                                 96), 256, shuffle=False)
    return evaluate(model.to(dev), data, ClassificationTask(), dev, amp)["accuracy"]


def adapt_classifier(model: Classifier, vocab: Vocab, classes: list[str], train: pd.DataFrame,
                     epochs: int, lr: float, seed: int, batch_size: int = 16,
                     device: str = "auto", amp: bool = True) -> Classifier:
    """A copy of a trained classifier, head included, trained further on ``train`` with
    discriminative rates and the slanted triangular schedule; no validation data, so no early
    stopping (notebook 09). ``finetune_classifier`` cannot do this: it starts from an LM."""
    set_seed(seed)
    dev = pick_device(device)
    model = copy.deepcopy(model)
    freeze_to(model, 0)
    data = make_loader(TextClassificationDataset(train["text"], train["label"], vocab, classes,
                                                 96), batch_size, shuffle=True, seed=seed)
    optimizer = torch.optim.AdamW(discriminative_groups(model, lr), weight_decay=0.0)
    fit(model, data, None, ClassificationTask(), optimizer, epochs, device=dev, amp=amp,
        scheduler=slanted_triangular(optimizer, epochs * len(data)), clip=1.0, progress=False)
    return model


def run_zeroshot(
    pretrained: str | Path, train: pd.DataFrame, test: pd.DataFrame, seeds: Sequence[int],
    ks: Sequence[int] = (1, 5, 10, 50), device: str = "auto",
    templates: Sequence[tuple[str, dict[str, str]]] = TEMPLATES,
    vectors: WordVectors | None = None,
) -> pd.DataFrame:
    """The zero-/few-shot experiment (notebook 09): one row per (method, k, seed) with the test
    accuracy. Methods: ``majority`` (the training split's most frequent class),
    ``lm-zero-shot``, ``lm-zero-shot-calibrated``, with ``vectors`` ``glove-similarity`` and
    ``glove-similarity-calibrated`` (no labels; seed -1) and ``prototype`` (k labelled
    training reviews per class, one row per seed). Every row has each class's share of the
    predictions."""
    lm, vocab, _ = load_model(pretrained, device=pick_device(device))
    if not isinstance(lm, LanguageModel):
        raise DataError(f"{pretrained} holds a classifier, not a language model")
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
