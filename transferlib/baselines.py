"""What a neural model must beat, measured on the same split (taught in notebooks 01 and 06).

``finetune`` writes both numbers into metrics.json beside the model's own, so a user sees at
once whether the LSTM earns its cost: the majority class (always answer the most frequent
training label) and TF-IDF + logistic regression (scikit-learn, word 1-2-grams). Also here: the
maximum length chosen from the data (``choose_max_len``) and how many texts it truncates, and
the way of reading long texts (``choose_reading``: whole documents in chunks when the median
text is longer than two chunks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transferlib.chunked import DEFAULT_CHUNK_LEN
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


WHOLE_DOCUMENT_CAP = 2000  # tokens read per text when reading whole documents in chunks


@dataclass
class Reading:
    """How ``finetune`` reads each text: ``max_len`` tokens, in chunks of ``chunk_len`` (0:
    in one piece), and the one-line reason it gives the user (notebook 06)."""

    max_len: int
    chunk_len: int
    median_tokens: float
    reason: str

    @property
    def chunked(self) -> bool:
        return self.chunk_len > 0


def choose_reading(texts: Sequence[str], max_len: int | None = None,
                   chunk_len: int | None = None, chunk: int = DEFAULT_CHUNK_LEN,
                   long_median: int | None = None) -> Reading:
    """Choose by the training texts' token counts: when their median is above ``long_median``
    (default ``2 * chunk``), read whole documents (up to ``WHOLE_DOCUMENT_CAP`` tokens) in
    chunks of ``chunk`` tokens; else truncate at the 95th percentile (``choose_max_len``).
    A ``max_len`` the user gives truncates (and turns the automatic chunking off); a
    ``chunk_len`` the user gives chunks (up to ``max_len`` or the cap)."""
    for name, value in (("max_len", max_len), ("chunk_len", chunk_len)):
        if value is not None and value < 1:
            raise ArgumentError(f"{name} must be >= 1 (or None: chosen from the data), "
                                f"got {value}")
    long_median = 2 * chunk if long_median is None else long_median
    median = float(np.median([len(tokenize(t)) for t in texts])) if len(texts) else 0.0
    if chunk_len is not None:
        cap = max_len or WHOLE_DOCUMENT_CAP
        return Reading(cap, chunk_len, median, f"--chunk-len {chunk_len}: whole documents "
                       f"(up to {cap} tokens) in chunks of {chunk_len}")
    if max_len is not None:
        return Reading(max_len, 0, median, f"--max-len {max_len}: texts truncated to it")
    if median > long_median:
        return Reading(WHOLE_DOCUMENT_CAP, chunk, median,
                       f"median {median:.0f} tokens > {long_median}: whole-document chunks of "
                       f"{chunk} (up to {WHOLE_DOCUMENT_CAP} tokens)")
    return Reading(choose_max_len(texts), 0, median,
                   f"median {median:.0f} tokens <= {long_median}: one piece, truncated at the "
                   "95th percentile of the lengths")
