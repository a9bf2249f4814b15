"""The checker of notebook 06's exercise: move the source LM's LSTM weights into the student's
classifier by *name*, as a state dict (``map_source_to_student``).

The learner's function receives the shipped source model's state dict (name → tensor) and
returns the names of the student's module → the tensors to load into it. The checker loads that
into a fresh student module (``strict=False``: the embedding and the head are not the mapping's
job), gives it the embedding and head of a ``transferlib.model.Classifier`` transferred by
``transfer.transfer_encoder`` on the same vocabulary, and compares the two models' outputs on
real reviews. The right answer is never stored: the reference is transferlib's own transfer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

from transferlib import datasets
from transferlib.batching import DEFAULT_MAX_LEN, TextClassificationDataset, collate_padded
from transferlib.checkpoint import load_language_model
from transferlib.config import source_model_dir
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.text import Vocab
from transferlib.transfer import build_target_vocab, transfer_encoder
from transferlib.workbook.exercises._common import answerable, call, verdict

LSTM_NAME = re.compile(r"(weight|bias)_(ih|hh)_l(\d+)$")
N_REVIEWS = 32  # reviews the two models are compared on


@functools.cache
def _source() -> tuple[LanguageModel, Vocab]:
    model, vocab, _ = load_language_model(source_model_dir())
    return model.eval(), vocab


@functools.cache
def _reference() -> tuple[Classifier, Vocab, tuple[torch.Tensor, torch.Tensor]]:
    """transferlib's transfer on a small target vocabulary, and a batch of validation reviews."""
    source, source_vocab = _source()
    texts = list(datasets.load_rotten_tomatoes("train")["text"].head(300))
    vocab = build_target_vocab(source_vocab, texts, min_freq=2)
    cfg = ModelConfig(**{**source.cfg.to_dict(), "vocab_size": len(vocab), "n_classes": 2,
                         "output_vocab_size": 0})
    with torch.random.fork_rng(devices=[]):  # the notebook's random state stays untouched
        torch.manual_seed(0)
        reference = Classifier(cfg)
    transfer_encoder(reference, source, source_vocab, vocab)
    valid = datasets.load_rotten_tomatoes("valid").head(N_REVIEWS)
    dataset = TextClassificationDataset(valid["text"], valid["label"], vocab,
                                        ["negative", "positive"], max_len=DEFAULT_MAX_LEN)
    ids, lengths, _ = collate_padded([dataset[i] for i in range(len(dataset))])
    return reference.eval(), vocab, (ids, lengths)


def _lstm_keys(module: nn.Module) -> list[str]:
    """The state-dict names of every parameter that lives in an ``nn.LSTM`` of ``module``."""
    return [f"{name}.{p}" if name else p for name, m in module.named_modules()
            if isinstance(m, nn.LSTM) for p, _ in m.named_parameters()]


def _shape_hint(key: str, got: tuple, shapes: dict[str, tuple]) -> str:
    """Why the tensor mapped to ``key`` has the wrong shape, when a common mix-up explains it."""
    match = LSTM_NAME.search(key)
    if match:
        other = key[: match.start(2)] + ("hh" if match.group(2) == "ih" else "ih") + \
            key[match.end(2):]
        if shapes.get(other) == got:
            return (f"{key} received a tensor shaped like {other} {got}: input-to-hidden (ih) "
                    "and hidden-to-hidden (hh) weights are swapped")
    twins = [k for k, s in shapes.items() if s == got and k != key]
    if twins:
        return (f"{key} expects {shapes[key]} but received {got}, the shape of {twins[0]}: "
                "a tensor went to the wrong layer (source layer 0 feeds the student's first "
                "LSTM, layer 1 its second)")
    return f"{key} expects shape {shapes[key]} but received {got}"


def _problems(mapped: Mapping, student: nn.Module, source_state: dict) -> str | None:
    """The first thing wrong with the mapped names and shapes, or None."""
    shapes = {k: tuple(v.shape) for k, v in student.state_dict().items()}
    lstm = _lstm_keys(student)
    bad_values = [k for k, v in mapped.items() if not isinstance(v, torch.Tensor)]
    if bad_values:
        return f"map each name to a tensor; {bad_values[:3]} hold something else"
    unexpected = [k for k in mapped if k not in shapes]
    if unexpected:
        named_like_source = [k for k in unexpected if k in source_state]
        if named_like_source:
            return (f"{named_like_source[:3]} are the source's names; the student's module "
                    f"calls its LSTM weights {lstm[:2]} …: print(student.state_dict().keys())")
        return f"the student's module has no parameter named {unexpected[:3]}"
    extra = [k for k in mapped if k not in lstm]
    if extra:
        return (f"map only the LSTM weights; {extra[:3]} are not among them (the embedding's "
                "rows follow the vocabulary, not the names, and the head is new)")
    missing = [k for k in lstm if k not in mapped]
    if missing and all(k.split(".")[-1].startswith("bias") for k in missing):
        return (f"the biases are missing ({missing[:4]}): each nn.LSTM layer has bias_ih and "
                "bias_hh, and the source trained them too")
    if missing:
        return f"these LSTM weights are missing: {missing[:4]}"
    for key in lstm:
        got = tuple(mapped[key].shape)
        if got != shapes[key]:
            return _shape_hint(key, got, shapes)
    return None


def _with_reference_rest(student: nn.Module, reference: Classifier) -> None:
    """Give ``student`` the reference's embedding and head, so only the LSTMs can differ."""
    embeddings = [m for m in student.modules() if isinstance(m, nn.Embedding)]
    linears = [m for m in student.modules() if isinstance(m, nn.Linear)]
    ref_linears = [m for m in reference.head if isinstance(m, nn.Linear)]
    if len(embeddings) != 1 or len(linears) != len(ref_linears):
        raise ValueError("the student's module must have one nn.Embedding and the two "
                         "nn.Linear layers of the classifier head (as in the notebook)")
    embeddings[0].load_state_dict(reference.encoder.embedding.state_dict())
    for mine, theirs in zip(linears, ref_linears):
        mine.load_state_dict(theirs.state_dict())


@answerable
def check_map_source_to_student(map_source_to_student: Callable[[dict], dict],
                                make_student: Callable[[int], nn.Module]) -> bool:
    """``map_source_to_student(source_state) -> {student name: tensor}`` for every LSTM weight;
    ``make_student(vocab_size)`` builds a fresh student module (the notebook's TextClassifier).
    Right when the student loaded with the mapping computes what ``transfer_encoder``'s
    classifier computes on real reviews."""
    source, _ = _source()
    source_state = {k: v.clone() for k, v in source.state_dict().items()}
    mapped = call(map_source_to_student, source_state)
    if not isinstance(mapped, Mapping):
        return verdict(False, "", f"return a dict of name → tensor, not a {type(mapped).__name__}")
    reference, vocab, (ids, lengths) = _reference()
    with torch.random.fork_rng(devices=[]):  # leaves the notebook's random state as it was
        torch.manual_seed(1)  # a fresh student whose own init differs from the reference's
        student = make_student(len(vocab))
    problem = _problems(mapped, student, source_state)
    if problem:
        return verdict(False, "", problem)
    student.load_state_dict(dict(mapped), strict=False)
    _with_reference_rest(student, reference)
    student.eval()
    with torch.no_grad():
        mine, theirs = student(ids, lengths), reference(ids, lengths)
    gap = float((mine - theirs).abs().max())
    n = len(_lstm_keys(student))
    return verdict(
        gap < 1e-5,
        f"{n} LSTM tensors mapped by name; on {len(ids)} validation reviews the student gives "
        f"the logits of transfer_encoder's classifier (largest difference {gap:.1e})",
        f"every name and shape fits, but the logits differ from the transferred reference by "
        f"up to {gap:.3f}: does each student name get the source tensor of the same layer and "
        "the same kind (weight_ih, weight_hh, bias_ih, bias_hh)?")
