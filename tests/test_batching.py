import torch

from transferlib.batching import (
    BucketBatchSampler,
    LanguageModelStream,
    TextClassificationDataset,
    collate_padded,
    encode_texts,
    eval_loader,
    make_loader,
    pad_ids,
)
from transferlib.text import numericalize


def test_bucket_sampler_covers_every_index_exactly_once_and_groups_lengths():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 60, (1003,), generator=g).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=16, seed=3, bucket_factor=10)
    batches = list(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1003))
    assert len(batches) == len(sampler)
    # bucketing: the padding inside a batch is much smaller than in random batches
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    random_batches = [list(range(i, min(i + 16, 1003))) for i in range(0, 1003, 16)]
    random_spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b)
                        for b in random_batches)
    assert spread < random_spread / 3


def test_bucket_sampler_is_seeded_per_epoch():
    lengths = list(range(1, 101))
    a = BucketBatchSampler(lengths, 8, seed=1)
    b = BucketBatchSampler(lengths, 8, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_bucket_sampler_shards_across_replicas_without_overlap():
    lengths = list(range(1, 97))
    shards = [list(BucketBatchSampler(lengths, 8, seed=0, num_replicas=2, rank=r))
              for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    seen = [i for shard in shards for b in shard for i in b]
    assert sorted(seen) == list(range(96))


def test_collate_pads_right_and_returns_lengths():
    batch = [(torch.tensor([5, 6, 7]), torch.tensor(1)), (torch.tensor([8]), torch.tensor(0))]
    ids, lengths, labels = collate_padded(batch, pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert lengths.tolist() == [3, 1]
    assert labels.tolist() == [1, 0]


def test_dataset_and_loader(tiny_texts, tiny_vocab):
    texts, labels = tiny_texts
    ds = TextClassificationDataset(texts, labels, tiny_vocab, ["negative", "positive"])
    assert ds.labels.tolist().count(1) == labels.count("positive")
    seen = 0
    for ids, lengths, y in make_loader(ds, batch_size=4, seed=0):
        assert ids.shape[0] == lengths.shape[0] == y.shape[0]
        assert ids.shape[1] == int(lengths.max())
        seen += len(y)
    assert seen == len(texts)


def test_encode_texts_is_the_dataset_batch_without_labels(tiny_texts, tiny_vocab):
    texts, labels = tiny_texts
    ds = TextClassificationDataset(texts[:5], labels[:5], tiny_vocab, ["negative", "positive"],
                                   max_len=4)
    ids, lengths, _ = collate_padded([ds[i] for i in range(5)], tiny_vocab.pad_id)
    got_ids, got_lengths = encode_texts(texts[:5], tiny_vocab, max_len=4)
    assert torch.equal(got_ids, ids) and torch.equal(got_lengths, lengths)
    whole, whole_lengths = encode_texts(texts[:5], tiny_vocab, max_len=None)
    assert whole_lengths.tolist() == [len(numericalize(t, tiny_vocab)) for t in texts[:5]]
    assert whole.shape == (5, int(whole_lengths.max()))
    padded, n = pad_ids([[5, 6, 7], [8]], pad_id=0)
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0]] and n.tolist() == [3, 1]


def test_eval_loader_gives_the_same_batches_every_pass(tiny_texts, tiny_vocab):
    texts, labels = tiny_texts
    ds = TextClassificationDataset(texts, labels, tiny_vocab, ["negative", "positive"])
    loader = eval_loader(ds, batch_size=4)
    first, second = ([y.tolist() for _, _, y in loader] for _ in range(2))
    assert first == second and sum(len(y) for y in first) == len(texts)


def test_language_model_stream_targets_are_next_tokens(tiny_vocab):
    stream = LanguageModelStream(["a great film", "a dull film"] * 20, tiny_vocab, batch_size=4,
                                 bptt=5)
    chunks = list(stream)
    inputs = torch.cat([x for x, _ in chunks], dim=1)
    targets = torch.cat([y for _, y in chunks], dim=1)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    assert inputs.shape[0] == 4 and stream.n_tokens == inputs.numel()
