"""Property-based fuzzing: arbitrary unicode, CSV content and shapes never crash with anything
but transferlib's own errors (or a documented ValueError), and what comes out is consistent."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from transferlib.batching import collate_padded
from transferlib.csvdata import read_labelled_csv
from transferlib.errors import CheckpointError, DataError
from transferlib.text import SPECIALS, Vocab, numericalize, tokenize

FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# any unicode, with lone surrogates (never in a UTF-8 file, but possible in Python strings),
# line separators, BOM and NUL drawn often
ANY_CHAR = st.one_of(st.characters(exclude_categories=[]),
                     st.sampled_from("\ud800\udfff\u2028\u2029\x85’İ\x00\ufeff"))
ANY_TEXT = st.text(ANY_CHAR, max_size=60)


@FUZZ
@given(ANY_TEXT)
def test_tokenize_keeps_every_non_space_character(text):
    tokens = tokenize(text)
    lowered = text.lower().replace("’", "'")
    assert all(tok and not re.search(r"\s", tok) for tok in tokens)
    assert "".join(tokens) == re.sub(r"\s+", "", lowered)


@FUZZ
@given(st.one_of(st.integers(), st.none(), st.binary(), st.lists(st.text())))
def test_tokenize_rejects_non_strings_with_data_error(value):
    with pytest.raises(DataError, match="tokenize expects a str"):
        tokenize(value)


@FUZZ
@given(st.lists(st.lists(ANY_TEXT, max_size=8), max_size=8),
       st.integers(-2, 4), st.one_of(st.none(), st.integers(-2, 12)))
@example([["a\ud800", "b"]], 1, None)  # found: a lone surrogate broke Vocab.save (UTF-8)
def test_vocab_build_encode_save_load_round_trip(token_lists, min_freq, max_size):
    try:
        vocab = Vocab.build(token_lists, min_freq=min_freq, max_size=max_size)
    except ValueError as exc:  # documented: min_freq < 1 or max_size <= 4
        assert min_freq < 1 or (max_size is not None and max_size <= len(SPECIALS)), exc
        return
    assert tuple(vocab.itos[:4]) == SPECIALS and len(set(vocab.itos)) == len(vocab)
    assert max_size is None or len(vocab) <= max_size
    for tokens in token_lists:
        ids = vocab.encode(tokens)
        assert len(ids) == len(tokens) and all(0 <= i < len(vocab) for i in ids)
        assert ids == [vocab.stoi[t] if t in vocab else vocab.unk_id for t in tokens]
        assert all(vocab.decode([i])[0] == t for t, i in zip(tokens, ids) if t in vocab)
    with tempfile.TemporaryDirectory() as tmp:
        vocab.save(Path(tmp) / "vocab.json")
        assert Vocab.load(Path(tmp) / "vocab.json") == vocab


@FUZZ
@given(st.binary(max_size=200))
def test_vocab_load_of_arbitrary_bytes_raises_only_checkpoint_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_bytes(data)
        try:
            vocab = Vocab.load(path)
        except CheckpointError as exc:
            assert str(path) in str(exc)
        else:
            assert tuple(vocab.itos[:4]) == SPECIALS


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=6)
                    | st.dictionaries(st.sampled_from(["itos", "format"]), inner, max_size=2),
                    max_leaves=12))
def test_vocab_load_of_arbitrary_json_raises_only_checkpoint_error(payload):
    import json

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_text(json.dumps({"itos": list(SPECIALS) + [payload]}
                                   if not isinstance(payload, dict) else payload))
        try:
            vocab = Vocab.load(path)
        except CheckpointError:
            return
        assert all(isinstance(t, str) for t in vocab.itos)


@FUZZ
@given(ANY_TEXT, st.one_of(st.none(), st.integers(-3, 10)), st.booleans())
@example("", 0, False)  # found: max_len=0 returned one id
def test_numericalize_always_gives_one_to_max_len_ids(text, max_len, add_eos):
    vocab = Vocab.build([tokenize("a b c d e")])
    try:
        ids = numericalize(text, vocab, max_len=max_len, add_eos=add_eos)
    except ValueError as exc:  # documented: max_len < 1
        assert max_len is not None and max_len < 1, exc
        return
    assert 1 <= len(ids) and (max_len is None or len(ids) <= max_len)
    assert all(0 <= i < len(vocab) for i in ids)


CSV_PIECES = st.sampled_from(["text", "label", "split", "train", "valid", "test", "dev", "pos",
                              "neg", "", " ", ",", ";", "\t", '"', '""', "\n", "\r\n", "\r",
                              "nan", "a b", "é", "\u2028", "\x00", "\ufeff", "'", "x" * 30])


QUOTED_ROWS = st.lists(
    st.tuples(st.text(max_size=12), st.sampled_from(["pos", "neg", "", "nan"]),
              st.sampled_from(["train", "valid", "test", "dev", ""])),
    max_size=12,
).map(lambda rows: "text,label,split\n" + "\n".join(
    ",".join('"' + f.replace('"', '""') + '"' for f in row) for row in rows))


@FUZZ
@given(st.one_of(st.lists(CSV_PIECES, max_size=40).map("".join), st.text(max_size=200),
                 QUOTED_ROWS))
def test_read_labelled_csv_on_arbitrary_content(content):
    """Either a DataError naming the file, or rows that account for every record."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        path.write_text(content, encoding="utf-8", newline="")
        try:
            df, report = read_labelled_csv(path)
        except DataError as exc:
            assert str(path) in str(exc)
            return
    n_lines = content.count("\n") + content.count("\r") - content.count("\r\n") + 1
    assert df["label"].nunique() >= 2
    assert (df["text"].str.strip() != "").all() and (df["label"] != "").all()
    assert df["line"].is_monotonic_increasing and df["line"].between(2, n_lines).all()
    skipped = [n for lines in report.skipped.values() for n in lines]
    assert not set(skipped) & set(df["line"])  # no row both kept and skipped
    if "split" in df:
        assert df["split"].isin(["train", "valid", "test"]).all()


@FUZZ
@given(st.binary(max_size=300))
def test_read_labelled_csv_on_arbitrary_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        path.write_bytes(data)
        try:
            read_labelled_csv(path, split_column=None)
        except DataError as exc:
            assert str(path) in str(exc)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(-5, 5)), max_size=10),
       st.integers(-3, 50))
def test_collate_padded_pads_any_lengths(shapes, pad_id):
    batch = [(torch.randint(0, 100, (n,)), label) for n, label in shapes]
    try:
        ids, lengths, labels = collate_padded(batch, pad_id)
    except ValueError as exc:  # documented: an empty batch, or an example with no tokens
        assert not shapes or min(n for n, _ in shapes) == 0, exc
        return
    assert ids.shape == (len(batch), max(n for n, _ in shapes))
    assert lengths.tolist() == [n for n, _ in shapes]
    assert labels.tolist() == [label for _, label in shapes]
    for row, (x, _) in enumerate(batch):
        assert torch.equal(ids[row, : len(x)], x)
        assert (ids[row, len(x):] == pad_id).all()
