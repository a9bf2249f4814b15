"""The exercise of notebook 01 (the whole game): a few-shot classifier from GloVe means.

The learner writes ``prototype_predict(support_texts, support_labels, query_texts)``: each review
becomes the mean GloVe vector of its words, each class's prototype is the mean of its support
reviews' vectors, and each query gets the label of the nearest prototype (squared Euclidean
distance, as in ``transferlib.fewshot.nearest_prototype`` and Snell et al. 2017). The checker
runs it on seeded support sets of 1, 5 and 25 training reviews per class and a seeded sample of
validation reviews, and compares its labels with the reference computed here from
``transferlib.fewshot`` and the shipped vectors. Common slips (the farthest prototype, the single
nearest support review, summed instead of averaged word vectors, cosine instead of Euclidean
distance, one label for everything) are recognised and named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from transferlib.workbook.exercises._common import answerable, call, verdict

SETTINGS = ((1, 0), (5, 0), (5, 1), (25, 0))  # (support reviews per class, seed)
N_QUERIES = 300
AGREEMENT = 0.97  # share of queries on which the learner's labels must match the reference


def review_vectors(texts: Sequence[str], vectors, reduce: str = "mean") -> torch.Tensor:
    """``[N, dim]``: the mean (or sum) of the GloVe vectors of each text's words that have one;
    a zero vector for a text with none."""
    from transferlib.text import tokenize

    rows = []
    for text in texts:
        found = [v for v, _ in (vectors.get(w) for w in tokenize(text)) if v is not None]
        if not found:
            rows.append(torch.zeros(vectors.dim))
        else:
            stacked = torch.stack(found)
            rows.append(stacked.sum(0) if reduce == "sum" else stacked.mean(0))
    return torch.stack(rows)


def _variants(support_texts, support_labels, query_texts, vectors) -> dict[str, list[str]]:
    """The reference labels and those of the common slips."""
    from transferlib.fewshot import class_prototypes, nearest_prototype

    classes = sorted(set(support_labels))
    y = torch.tensor([classes.index(c) for c in support_labels])
    out = {}
    for reduce in ("mean", "sum"):
        support = review_vectors(support_texts, vectors, reduce)
        queries = review_vectors(query_texts, vectors, reduce)
        protos = class_prototypes(support, y, len(classes))
        if reduce == "sum":
            out["sum"] = [classes[i] for i in nearest_prototype(queries, protos)]
            continue
        out["right"] = [classes[i] for i in nearest_prototype(queries, protos)]
        out["farthest"] = [classes[i] for i in torch.cdist(queries, protos).argmax(1)]
        unit = torch.nn.functional.normalize
        cosine = unit(queries, dim=1) @ unit(protos, dim=1).T
        out["cosine"] = [classes[i] for i in cosine.argmax(1)]
        out["nearest-review"] = [support_labels[i]
                                 for i in torch.cdist(queries, support).argmin(1)]
    return out


HINTS = {
    "farthest": "you pick the *farthest* prototype: take the smallest distance (argmin)",
    "nearest-review": "you label each query by its single nearest support review; first "
                      "average each class's support vectors into one prototype",
    "sum": "a review's vector is the *mean* of its words' vectors, not their sum (with a sum, "
           "long reviews lie far from everything)",
    "cosine": "measure closeness by the squared Euclidean distance (torch.cdist), as "
              "transferlib.fewshot.nearest_prototype does; cosine similarity ranks some "
              "reviews differently",
}


def _agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return sum(x == y for x, y in zip(a, b)) / max(1, len(b))


@answerable
def check_glove_prototypes(fn: Callable) -> bool:
    """Notebook 01: ``fn(support_texts, support_labels, query_texts)`` must return one label per
    query: the label of the nearest class prototype, a prototype being the mean over a class's
    support reviews of each review's mean GloVe vector."""
    from transferlib.baselines import majority_accuracy
    from transferlib.datasets import load_rotten_tomatoes
    from transferlib.fewshot import sample_per_class
    from transferlib.vectors import load_word_vectors

    if not callable(fn):
        return verdict(False, "", "define a function: def prototype_predict(support_texts, "
                       "support_labels, query_texts): ... and pass the function itself")
    vectors = load_word_vectors()
    train = load_rotten_tomatoes("train")
    queries = load_rotten_tomatoes("valid").sample(n=N_QUERIES, random_state=0)
    query_texts, truth = list(queries["text"]), list(queries["label"])
    got, ref, accuracy = [], {}, {}
    for k, seed in SETTINGS:
        support = train.iloc[sample_per_class(list(train["label"]), k, seed)]
        texts, labels = list(support["text"]), list(support["label"])
        answer = [str(x) for x in call(fn, texts, labels, query_texts)]
        if len(answer) != len(query_texts):
            return verdict(False, "", f"return one label per query text: {len(query_texts)} "
                           f"queries, {len(answer)} labels")
        got += answer
        for name, pred in _variants(texts, labels, query_texts, vectors).items():
            ref.setdefault(name, []).extend(pred)
        accuracy.setdefault(k, []).append(_agreement(answer, truth))
    if len(set(got)) == 1:
        return verdict(False, "", f"every query got the label {got[0]!r}; compare each query's "
                       "vector with both prototypes and keep the nearer one")
    if _agreement(got, ref["right"]) < AGREEMENT:
        slip = max(HINTS, key=lambda name: _agreement(got, ref[name]))
        if _agreement(got, ref[slip]) >= AGREEMENT:
            return verdict(False, "", HINTS[slip])
        return verdict(False, "", f"your labels match nearest-prototype classification on "
                       f"{_agreement(got, ref['right']):.0%} of the reviews; check each step: "
                       "the mean word vector per review, the mean review vector per class, "
                       "the nearest prototype per query")
    # the label names must come from support_labels, not be typed in
    k, seed = SETTINGS[1]
    support = train.iloc[sample_per_class(list(train["label"]), k, seed)]
    renamed = [{"negative": "rotten", "positive": "fresh"}[c] for c in support["label"]]
    again = [str(x) for x in call(fn, list(support["text"]), renamed, query_texts)]
    back = [{"rotten": "negative", "fresh": "positive"}.get(x, x) for x in again]
    if _agreement(back, got[N_QUERIES:2 * N_QUERIES]) < AGREEMENT:
        return verdict(False, "", "with the labels renamed 'rotten'/'fresh' your function "
                       "answers differently: take the label names from support_labels")
    floor = majority_accuracy(list(train["label"]), truth)
    scores = ", ".join(f"{k} per class {sum(a) / len(a):.3f}" for k, a in accuracy.items())
    return verdict(True, f"nearest-prototype classification from GloVe means. Accuracy on "
                   f"{N_QUERIES} validation reviews: {scores} (always answering the "
                   f"training majority scores {floor:.3f} on them).", "")
