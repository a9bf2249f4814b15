"""What a neural model must beat, measured on the same split (taught in notebooks 01 and 06).

``finetune`` writes both numbers into metrics.json beside the model's own, so a user sees at
once whether the LSTM earns its cost: the majority class (always answer the most frequent
training label) and TF-IDF + logistic regression (scikit-learn, word 1-2-grams). Also here: the
maximum length chosen from the data (``choose_max_len``) and how many texts it truncates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transferlib.errors import ArgumentError
from transferlib.text import tokenize


def majority_accuracy(train_labels: Sequence[str], test_labels: Sequence[str]) -> float:
    """Accuracy of always answering the training split's most frequent label."""
    if len(train_labels) == 0 or len(test_labels) == 0:
        raise ArgumentError("majority_accuracy needs non-empty train and test labels")
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    majority = values[int(counts.argmax())]
    return float(np.mean(np.asarray(test_labels) == majority))


def tfidf_logreg_accuracy(train_texts: Sequence[str], train_labels: Sequence[str],
                          test_texts: Sequence[str], test_labels: Sequence[str],
                          seed: int = 0) -> float:
    """Test accuracy of TF-IDF (word 1-2-grams, sublinear tf, transferlib's tokenizer) +
    logistic regression (C=4) trained on the training split."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None,
                          ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    x_train = vec.fit_transform(list(train_texts))
    clf = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    clf.fit(x_train, list(train_labels))
    pred = clf.predict(vec.transform(list(test_texts)))
    return float(np.mean(pred == np.asarray(list(test_labels))))


def choose_max_len(texts: Sequence[str], quantile: float = 0.95, floor: int = 32,
                   cap: int = 400) -> int:
    """The ``quantile`` of the token counts of ``texts``, between ``floor`` and ``cap``: long
    enough for nearly every text, short enough that one outlier does not set the batch cost."""
    if not 0 < quantile <= 1:
        raise ArgumentError(f"quantile must be in (0, 1], got {quantile}")
    lengths = [len(tokenize(t)) for t in texts]
    if not lengths:
        return floor
    return int(min(cap, max(floor, np.quantile(lengths, quantile))))


def count_truncated(texts: Sequence[str], max_len: int) -> int:
    """How many of ``texts`` have more than ``max_len`` tokens (their tail is cut)."""
    return sum(len(tokenize(t)) > max_len for t in texts)
