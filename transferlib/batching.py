"""Datasets, length bucketing, padding and loaders: the second half of the text pipeline.

Taught in notebook 02. Classification batches are ``(ids [B, T], lengths [B], labels [B])`` with
right padding; language-model batches are contiguous windows of one long token stream for
truncated back-propagation through time, as in pytorch/examples' word_language_model.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from transferlib.errors import ArgumentError
from transferlib.text import Vocab, numericalize

# tokens a review is cut to when no other length is chosen: above the 95th percentile of the
# Rotten Tomatoes reviews' token counts, so almost none is truncated (notebook 02)
DEFAULT_MAX_LEN = 96


class TextClassificationDataset(Dataset):
    """Texts turned into id tensors once, with integer labels.

    ``classes`` fixes the label order (e.g. ``["negative", "positive"]``); label strings not in
    it raise a ``ValueError`` naming the label.
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        vocab: Vocab,
        classes: Sequence[str],
        max_len: int | None = 128,
    ):
        if len(texts) != len(labels):
            raise ArgumentError(f"{len(texts)} texts but {len(labels)} labels")
        self.classes = list(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({str(y) for y in labels} - set(index))
        if unknown:
            raise ArgumentError(f"labels {unknown[:5]} are not among the classes {self.classes}")
        self.texts = list(texts)
        self.ids = [torch.tensor(numericalize(t, vocab, max_len)) for t in self.texts]
        self.labels = torch.tensor([index[str(y)] for y in labels], dtype=torch.long)
        self.lengths = [len(x) for x in self.ids]
        self.pad_id = vocab.pad_id

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[i], self.labels[i]


def collate_padded(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad a list of ``(ids, label)`` into ``(ids [B, T], lengths [B], labels [B])``."""
    if len(batch) == 0:
        raise ArgumentError("cannot collate an empty batch")
    lengths = torch.tensor([len(ids) for ids, _ in batch], dtype=torch.long)
    if int(lengths.min()) < 1:
        raise ArgumentError("every example needs at least one token")
    ids = torch.full((len(batch), int(lengths.max())), pad_id, dtype=torch.long)
    for row, (x, _) in enumerate(batch):
        ids[row, : len(x)] = x
    labels = torch.stack([torch.as_tensor(y) for _, y in batch])
    return ids, lengths, labels


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose examples have similar lengths, so little padding is computed.

    Each epoch: shuffle all indices (seeded by ``seed + epoch``), cut them into chunks of
    ``batch_size * bucket_factor``, sort each chunk by length, cut it into batches, shuffle the
    batches. Every index appears exactly once per epoch. With ``num_replicas > 1`` (data-parallel
    training) each rank takes every ``num_replicas``-th batch, padded to equal counts by repeating
    batches from the start.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_factor: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if batch_size < 1:
            raise ArgumentError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ArgumentError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_factor = bucket_factor
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle to produce (call before iterating, as with DDP)."""
        self.epoch = epoch

    def all_batches(self) -> list[list[int]]:
        """This epoch's batches for all ranks together."""
        order = list(range(len(self.lengths)))
        rng = random.Random(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        chunk = self.batch_size * self.bucket_factor
        batches = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start : start + chunk], key=lambda i: self.lengths[i])
            batches += [part[j : j + self.batch_size] for j in range(0, len(part), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.all_batches()
        if self.num_replicas > 1:
            total = math.ceil(len(batches) / self.num_replicas) * self.num_replicas
            batches = (batches + batches[: total - len(batches)])[self.rank :: self.num_replicas]
        return iter(batches)

    def __len__(self) -> int:
        chunk = self.batch_size * self.bucket_factor
        sizes = [min(chunk, len(self.lengths) - s) for s in range(0, len(self.lengths), chunk)]
        n = sum(math.ceil(size / self.batch_size) for size in sizes)
        return math.ceil(n / self.num_replicas)


def make_loader(
    dataset: TextClassificationDataset,
    batch_size: int = 64,
    shuffle: bool = True,
    bucket: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of padded batches; ``bucket=True`` groups examples of similar length.

    ``bucket=False`` gives plain random (or sequential) batches: the seed-style baseline.
    """
    collate = functools.partial(collate_padded, pad_id=dataset.pad_id)  # picklable: spawn workers
    if bucket:
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate,
                          num_workers=num_workers, pin_memory=pin_memory)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=generator, num_workers=num_workers, pin_memory=pin_memory)


EVAL_BATCH_SIZE = 256  # evaluation keeps no activations for backward: larger batches fit


def eval_loader(dataset: TextClassificationDataset,
                batch_size: int = EVAL_BATCH_SIZE) -> DataLoader:
    """The loader every evaluation reads: length-bucketed batches, not shuffled."""
    return make_loader(dataset, batch_size, shuffle=False)


def pad_ids(sequences: Sequence[Sequence[int]], pad_id: int = 0
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of token ids into ``(ids [B, T], lengths [B])`` (``collate_padded``
    for rows without labels)."""
    rows = [(torch.tensor(list(seq), dtype=torch.long), torch.tensor(0)) for seq in sequences]
    ids, lengths, _ = collate_padded(rows, pad_id)
    return ids, lengths


def encode_texts(texts: Sequence[str], vocab: Vocab, max_len: int | None = DEFAULT_MAX_LEN
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts → one right-padded batch ``(ids [B, T], lengths [B])``, each text numericalized
    and cut to ``max_len`` tokens (None: whole) (notebook 02)."""
    return pad_ids([numericalize(t, vocab, max_len) for t in texts], vocab.pad_id)


class LanguageModelStream:
    """One long token stream cut into ``batch_size`` parallel rows, read in BPTT windows.

    Iterating gives ``(inputs [B, T], targets [B, T])`` where targets are inputs shifted by one;
    consecutive windows continue each row, so the LSTM state can be carried across them
    (truncated back-propagation through time). With ``vary_bptt`` the window length varies
    around ``bptt`` from epoch to epoch (AWD-LSTM's trick), seeded by ``seed + epoch``.
    """

    def __init__(
        self,
        texts: Sequence[str],
        vocab: Vocab,
        batch_size: int = 32,
        bptt: int = 64,
        vary_bptt: bool = False,
        seed: int = 0,
        max_tokens: int | None = None,
    ):
        ids: list[int] = []
        for t in texts:
            ids += numericalize(t, vocab, add_eos=True)
            if max_tokens is not None and len(ids) >= max_tokens:
                ids = ids[:max_tokens]
                break
        n_cols = (len(ids) - 1) // batch_size
        if n_cols < 2:
            raise ArgumentError(
                f"{len(ids)} tokens are too few for batch_size={batch_size}; "
                "use a smaller batch or more text")
        self.n_tokens = n_cols * batch_size
        data = torch.tensor(ids[: n_cols * batch_size + 1])
        self.inputs = data[:-1].view(batch_size, n_cols)
        self.targets = data[1:].view(batch_size, n_cols)
        self.bptt = bptt
        self.vary_bptt = vary_bptt
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def windows(self) -> list[tuple[int, int]]:
        """(start, length) of each window this epoch."""
        rng = random.Random(self.seed + self.epoch)
        out, start, n = [], 0, self.inputs.size(1)
        while start < n:
            length = self.bptt
            if self.vary_bptt:
                base = self.bptt if rng.random() < 0.95 else self.bptt // 2
                length = max(8, int(rng.gauss(base, 5)))
            length = min(length, n - start)
            out.append((start, length))
            start += length
        return out

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start, length in self.windows():
            yield (self.inputs[:, start : start + length],
                   self.targets[:, start : start + length])

    def __len__(self) -> int:
        return len(self.windows())
