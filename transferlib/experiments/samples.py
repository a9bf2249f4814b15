"""Class-stratified, nested, seeded samples of a labelled frame: the label counts of the
low-resource curve, the few-shot and domain samples (notebook 07).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferlib.errors import DataError


def stratified_order(labels: Sequence[str], seed: int) -> list[int]:
    """A seeded order of the positions whose every prefix is class-stratified (notebook 07).

    Each class is shuffled; its j-th member of n_c gets the key (j + 0.5) / n_c and positions
    are sorted by key, so the first n rows hold each class within one of n * share. Prefixes
    are nested: the 50 examples are among the 100, which are among the 250, ...
    """
    labels = np.asarray(list(labels))
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for c in sorted(set(labels.tolist())):
        rows = rng.permutation(np.flatnonzero(labels == c))
        keys[rows] = (np.arange(len(rows)) + 0.5) / len(rows)
    return np.lexsort((rng.random(len(labels)), keys)).tolist()


def stratified_subsample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The first ``n`` rows of ``stratified_order(frame.label, seed)``, in the frame's own row
    order and with its index kept (notebook 07)."""
    if not 0 < n <= len(frame):
        raise DataError(f"cannot take {n} examples from {len(frame)}")
    order = stratified_order(frame["label"], seed)[:n]
    return frame.iloc[sorted(order)]
