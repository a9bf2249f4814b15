from collections import Counter

import pytest

from transferlib.errors import CheckpointError, DataError
from transferlib.text import SPECIALS, Vocab, numericalize, tokenize


def test_tokenize_splits_words_and_punctuation():
    assert tokenize("It's a well-made film, isn't it?") == [
        "it's", "a", "well-made", "film", ",", "isn't", "it", "?"]
    assert tokenize("   ") == []
    assert tokenize("Don’t") == ["don't"]  # curly apostrophe normalised


def test_tokenize_rejects_non_strings():
    with pytest.raises(DataError, match="expects a str"):
        tokenize(None)


def test_vocab_orders_by_frequency_then_alphabet_and_respects_limits():
    v = Vocab.build([["b", "a", "b", "c"], ["c", "b", "d"]], min_freq=2)
    assert v.itos == list(SPECIALS) + ["b", "c"]
    v = Vocab.build([["b", "a", "b", "c", "c"]], max_size=len(SPECIALS) + 1)
    assert v.itos[len(SPECIALS):] == ["b"]  # b and c tie at 2; b first alphabetically


def test_vocab_encode_decode_round_trip_and_unknowns():
    v = Vocab.build([["the", "cat", "sat"]])
    ids = v.encode(["the", "dog", "sat"])
    assert ids[1] == v.unk_id
    assert v.decode(ids) == ["the", "<unk>", "sat"]


def test_vocab_save_load_round_trip(tmp_path):
    v = Vocab.build([["é", "naïve", "über", "the"]])
    v.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json") == v


def test_vocab_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "v.json"
    bad.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="v.json"):
        Vocab.load(bad)
    with pytest.raises(CheckpointError, match="not found"):
        Vocab.load(tmp_path / "missing.json")


def test_vocab_extend_keeps_source_ids():
    src = Vocab.build([["film", "good"]])
    tgt = src.extend(Counter({"film": 5, "movie": 3, "rare": 1}), min_freq=2)
    assert tgt.itos[: len(src)] == src.itos
    assert tgt.itos[len(src):] == ["movie"]


def test_numericalize_truncates_and_never_returns_empty():
    v = Vocab.build([["a", "b", "c"]])
    assert numericalize("a b c a b", v, max_len=3) == v.encode(["a", "b", "c"])
    assert numericalize("", v) == [v.unk_id]
    assert numericalize("a", v, add_eos=True) == [v.stoi["a"], v.eos_id]
