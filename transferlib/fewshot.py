"""Sentiment from a handful of labels: class prototypes and k-shot adaptation (notebook 10).

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

import numpy as np
import pandas as pd
import torch

from transferlib.batching import (
    DEFAULT_MAX_LEN,
    TextClassificationDataset,
    encode_texts,
    eval_loader,
    make_loader,
)
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError, DataError
from transferlib.model import Classifier, LSTMEncoder, pool_valid
from transferlib.param_groups import discriminative_groups, freeze_to
from transferlib.schedules import slanted_triangular
from transferlib.tasks import ClassificationTask
from transferlib.text import Vocab
from transferlib.training import TrainConfig, evaluate, fit, set_seed


@torch.no_grad()
def encode_features(
    encoder: LSTMEncoder, vocab: Vocab, texts: Sequence[str], max_len: int = DEFAULT_MAX_LEN,
    batch_size: int = 128,
) -> torch.Tensor:
    """Pooled sentence vectors ``[N, 3 * emb_dim]`` (``pool_valid`` over the encoder outputs,
    what ``Classifier.features`` computes) in eval mode (notebook 10)."""
    encoder.eval()
    device = next(encoder.parameters()).device
    feats = []
    for start in range(0, len(texts), batch_size):
        ids, lengths = encode_texts(texts[start:start + batch_size], vocab, max_len)
        out, _ = encoder(ids.to(device), lengths=lengths.to(device))
        feats.append(pool_valid(out, lengths.to(device)).float().cpu())
    return torch.cat(feats)


def class_prototypes(features: torch.Tensor, labels: torch.Tensor, n_classes: int
                     ) -> torch.Tensor:
    """The mean feature vector of each class ``[C, D]``; every class needs an example
    (notebook 10)."""
    missing = [c for c in range(n_classes) if not bool((labels == c).any())]
    if missing:
        raise ArgumentError(f"classes {missing} have no support example")
    return torch.stack([features[labels == c].mean(dim=0) for c in range(n_classes)])


def nearest_prototype(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """The index of the closest prototype (squared Euclidean distance) for each row
    (notebook 10)."""
    return torch.cdist(features.float(), prototypes.float()).argmin(dim=1)


def sample_per_class(labels: Sequence[str], k: int, seed: int) -> list[int]:
    """``k`` seeded row positions of each class (sorted); a class with fewer than ``k`` rows is
    an error (notebook 10)."""
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
    """Accuracy of a trained classifier on a labelled frame (notebook 10)."""
    dev = pick_device(device)
    data = eval_loader(TextClassificationDataset(frame["text"], frame["label"], vocab, classes,
                                                 DEFAULT_MAX_LEN))
    return evaluate(model.to(dev), data, ClassificationTask(), dev, amp)["accuracy"]


def adapt_classifier(model: Classifier, vocab: Vocab, classes: list[str], train: pd.DataFrame,
                     epochs: int, lr: float, seed: int, batch_size: int = 16,
                     device: str = "auto", amp: bool = True) -> Classifier:
    """A copy of a trained classifier, head included, trained further on ``train`` with
    discriminative rates and the slanted triangular schedule; no validation data, so no early
    stopping (notebook 10). ``finetune_classifier`` cannot do this: it starts from an LM."""
    set_seed(seed)
    dev = pick_device(device)
    model = copy.deepcopy(model)
    freeze_to(model, 0)
    data = make_loader(TextClassificationDataset(train["text"], train["label"], vocab, classes,
                                                 DEFAULT_MAX_LEN), batch_size, shuffle=True,
                       seed=seed)
    optimizer = torch.optim.AdamW(discriminative_groups(model, lr), weight_decay=0.0)
    fit(model, data, None, ClassificationTask(), optimizer,
        TrainConfig(epochs=epochs, device=dev, amp=amp, clip=1.0, progress=False),
        scheduler=slanted_triangular(optimizer, epochs * len(data)))
    return model
