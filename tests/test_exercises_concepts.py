"""The checker of notebook 01's exercise (nearest-prototype classification from GloVe means):
placeholder, the common slips, a half-written answer and the right one."""

from __future__ import annotations

import pytest
import torch

from transferlib.text import tokenize
from transferlib.vectors import load_word_vectors
from transferlib.workbook.exercises.concepts import check_glove_prototypes


@pytest.fixture(scope="module")
def glove():
    return load_word_vectors()


def _vector(glove, text, reduce="mean"):
    found = [v for v, _ in (glove.get(w) for w in tokenize(text)) if v is not None]
    if not found:
        return torch.zeros(glove.dim)
    return torch.stack(found).sum(0) if reduce == "sum" else torch.stack(found).mean(0)


def _classifier(glove, reduce="mean", pick="nearest", per="prototype"):
    def predict(support_texts, support_labels, query_texts):
        classes = sorted(set(support_labels))
        support = torch.stack([_vector(glove, t, reduce) for t in support_texts])
        queries = torch.stack([_vector(glove, t, reduce) for t in query_texts])
        if per == "review":
            return [support_labels[i] for i in torch.cdist(queries, support).argmin(1)]
        protos = torch.stack([support[[i for i, y in enumerate(support_labels) if y == c]]
                              .mean(0) for c in classes])
        distance = torch.cdist(queries, protos)
        chosen = distance.argmax(1) if pick == "farthest" else distance.argmin(1)
        return [classes[i] for i in chosen]
    return predict


def test_the_placeholder_is_not_answered(capsys):
    def placeholder(support_texts, support_labels, query_texts):
        return ...

    assert check_glove_prototypes(...) is None
    assert check_glove_prototypes(placeholder) is None
    assert "Not answered yet" in capsys.readouterr().out


def test_the_right_classifier_passes(glove, capsys):
    assert check_glove_prototypes(_classifier(glove)) is True
    assert "✅ Right" in capsys.readouterr().out


@pytest.mark.parametrize("slip, words", [
    (dict(pick="farthest"), "farthest"),
    (dict(per="review"), "single nearest support review"),
    (dict(reduce="sum"), "mean"),
])
def test_the_common_slips_are_named(glove, capsys, slip, words):
    assert check_glove_prototypes(_classifier(glove, **slip)) is False
    assert words in capsys.readouterr().out


def test_one_label_for_everything_is_rejected(capsys):
    def constant(support_texts, support_labels, query_texts):
        return ["positive"] * len(query_texts)

    assert check_glove_prototypes(constant) is False
    assert "every query got the label" in capsys.readouterr().out


def test_typed_label_names_are_rejected(glove):
    right = _classifier(glove)

    def typed(support_texts, support_labels, query_texts):
        named = {"negative": "negative", "positive": "positive"}
        return [named.get(y, "positive") for y in right(support_texts, support_labels,
                                                        query_texts)]

    assert check_glove_prototypes(typed) is False


def test_a_half_written_answer_is_a_wrong_answer_not_an_error(capsys):
    def half(support_texts, support_labels, query_texts):
        vectors = [... for _ in support_texts]
        return torch.stack(vectors)

    assert check_glove_prototypes(half) is False
    assert check_glove_prototypes("positive") is False
    assert "❌ Not yet" in capsys.readouterr().out
