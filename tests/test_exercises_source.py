"""The checker of notebook 05 (held-out perplexity over BPTT windows, by hand): the placeholder
reads as unanswered, the common mistakes are rejected with a hint, the right function passes,
and a half-written one is rejected without raising."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from transferlib.checkpoint import load_model
from transferlib.config import source_model_dir
from transferlib.workbook.exercises.source import check_stream_perplexity


@pytest.fixture(scope="module")
def shipped():
    lm, vocab, _ = load_model(source_model_dir())
    return lm, vocab


def _make(carry=True, map_targets=True, combine="exp-of-token-mean"):
    """A held_out_perplexity with one deliberate mistake (or none)."""
    @torch.no_grad()
    def held_out_perplexity(model, stream):
        state, losses = None, []
        for inputs, targets in stream:
            logits, new_state = model(inputs, state)
            state = [(h.detach(), c.detach()) for h, c in new_state] if carry else None
            if map_targets:
                targets = model.output_targets(targets)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
            losses.append((float(loss), targets.numel()))
        mean = sum(x * n for x, n in losses) / sum(n for _, n in losses)
        return {"exp-of-token-mean": lambda: math.exp(mean),
                "mean-of-exp": lambda: sum(math.exp(x) for x, _ in losses) / len(losses),
                "bits": lambda: 2 ** mean,
                "loss": lambda: mean,
                "window-mean": lambda: math.exp(sum(x for x, _ in losses) / len(losses)),
                }[combine]()
    return held_out_perplexity


def test_placeholders_read_as_unanswered(shipped, capsys):
    assert check_stream_perplexity(..., *shipped) is None

    def held_out_perplexity(model, stream):
        return ...
    assert check_stream_perplexity(held_out_perplexity, *shipped) is None
    assert "Not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, hint", [
    ({"carry": False}, "reset"),
    ({"combine": "mean-of-exp"}, "mean of the windows' perplexities"),
    ({"combine": "bits"}, "2 **"),
    ({"combine": "loss"}, "mean loss in nats"),
    ({"combine": "window-mean"}, "weight each"),
])
def test_common_mistakes_are_rejected_with_their_hint(shipped, capsys, mistake, hint):
    assert check_stream_perplexity(_make(**mistake), *shipped) is False
    assert hint in capsys.readouterr().out


def test_targets_not_mapped_onto_the_softmax_are_rejected_without_raising(shipped, capsys):
    assert check_stream_perplexity(_make(map_targets=False), *shipped) is False
    assert "Not yet" in capsys.readouterr().out


def test_the_right_function_passes(shipped, capsys):
    assert check_stream_perplexity(_make(), *shipped) is True
    assert "✅ Right" in capsys.readouterr().out


def test_a_half_written_function_is_rejected_without_raising(shipped, capsys):
    def held_out_perplexity(model, stream):
        for inputs, _ in stream:
            logits = model(inputs)  # a tuple: (logits, state)
            return logits.exp()
    assert check_stream_perplexity(held_out_perplexity, *shipped) is False
    assert check_stream_perplexity("exp(5.2)", *shipped) is False
    assert "Not yet" in capsys.readouterr().out


def test_calling_the_library_measurement_is_refused(shipped, capsys):
    from transferlib.tasks import LanguageModelTask
    from transferlib.training import evaluate

    def held_out_perplexity(model, stream):
        return evaluate(model, stream, LanguageModelTask())["perplexity"]
    assert check_stream_perplexity(held_out_perplexity, *shipped) is False
    assert "yourself" in capsys.readouterr().out
