"""Worked solution of notebook 08's exercise: a length-bucketing batch sampler by hand.

Shuffle the indices (seeded), cut them into pools of a few dozen batches, sort each pool by
length, cut it into batches, then shuffle the batches: reviews of similar length share a
batch, every review appears once, and each seed gives another epoch.
"""

import random

from transferlib import datasets
from transferlib.text import tokenize
from transferlib.workbook.exercises.efficiency import check_bucket_sampler

lengths = [len(tokenize(t)) for t in datasets.load_rotten_tomatoes("train")["text"]]


def bucket_batches(lengths, batch_size, seed=0, pool_batches=50):
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        part = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


check_bucket_sampler(bucket_batches, lengths, batch_size=64)
