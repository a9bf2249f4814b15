"""Checker of notebook 05 (the source task): the learner writes the held-out perplexity of a
language model over a stream of BPTT windows, by hand, and it must equal what
``generate.perplexity`` (``training.evaluate`` with ``LanguageModelTask``) measures.

The right value is measured here on a slice of the shipped source corpus's validation split;
the common wrong answers (the state reset at every window, the mean of the windows'
perplexities, the mean loss itself, base 2, targets not mapped onto the softmax's words) are
measured too, so that the hint names the mistake.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from transferlib.workbook.exercises._common import answerable, call, close, verdict

# The stream the checker feeds the learner's function: short windows, so that carrying the
# state matters, and a last window shorter than the others, so that the windows must be
# weighted by their number of tokens.
STREAM = {"batch_size": 4, "bptt": 12, "max_tokens": 1_210}

# a call of the library's own measurement (evaluate(...), perplexity(...), LanguageModelTask),
# which only copies the reference; the learner's own def line is skipped
_LIBRARY_CALL = re.compile(r"\bevaluate\s*\(|(?<![\w.])perplexity\s*\(|\.perplexity\s*\("
                           r"|\bLanguageModelTask\b")


def _calls_the_library(fn: Callable) -> bool:
    """Whether the learner's source (without its def line) calls the library's measurement."""
    try:
        body = inspect.getsource(fn).split("\n", 1)[-1]
    except (OSError, TypeError):
        return False
    return bool(_LIBRARY_CALL.search(body))


def exercise_stream(vocab):
    """The checker's stream: ``STREAM`` over the source corpus's validation sentences."""
    from transferlib.batching import LanguageModelStream

    return LanguageModelStream(_valid_sentences(), vocab, **STREAM)


@functools.lru_cache(maxsize=1)
def _valid_sentences() -> tuple[str, ...]:
    from transferlib.datasets import load_source_sentences

    return tuple(load_source_sentences("both", "valid")[:200])


@torch.no_grad()
def _window_losses(model, stream, carry: bool) -> list[tuple[float, int]]:
    """(mean loss in nats, tokens) of every window, carrying the state across windows or not."""
    state, out = None, []
    for inputs, targets in stream:
        logits, new_state = model(inputs, state if carry else None)
        state = [(h.detach(), c.detach()) for h, c in new_state]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                               model.output_targets(targets).reshape(-1))
        out.append((float(loss), targets.numel()))
    return out


def _token_mean(losses: list[tuple[float, int]]) -> float:
    return sum(loss * n for loss, n in losses) / sum(n for _, n in losses)


def _wrong_answers(model, stream):
    """What the common mistakes give on ``stream``: (the hint that names the mistake, value),
    the costliest to measure last."""
    carried = _window_losses(model, stream, carry=True)
    mean_loss = _token_mean(carried)
    yield from {
        "that is the mean of the windows' perplexities: average the *loss* over every token "
        "first, then take exp once": sum(math.exp(loss) for loss, _ in carried) / len(carried),
        "that is the mean loss in nats; perplexity is its exponential": mean_loss,
        "that is 2 ** (mean loss): the loss is in nats (natural log), so the perplexity is "
        "exp(mean loss)": 2.0 ** mean_loss,
        "that is exp of the loss in bits (log base 2); with the natural log throughout the "
        "perplexity is exp(mean loss in nats)": math.exp(mean_loss / math.log(2)),
        "every window counts the same here, but the last window is shorter: weight each "
        "window's mean loss by its number of tokens (or sum the losses, then divide)":
            math.exp(sum(loss for loss, _ in carried) / len(carried)),
    }.items()
    yield ("the state is reset at every window: pass each window's final state to the next "
           "window (detached), the rows continue across windows",
           math.exp(_token_mean(_window_losses(model, stream, carry=False))))


@answerable
def check_stream_perplexity(held_out_perplexity: Callable, model, vocab) -> bool:
    """``held_out_perplexity(model, stream)`` → the perplexity of ``model`` over every target
    token of a ``LanguageModelStream``, the LSTM state carried (and detached) from window to
    window, targets mapped with ``model.output_targets``; compared with ``training.evaluate``."""
    from transferlib.tasks import LanguageModelTask
    from transferlib.training import evaluate

    if not callable(held_out_perplexity):
        return verdict(False, "", "define a function held_out_perplexity(model, stream)")
    if _calls_the_library(held_out_perplexity):
        return verdict(False, "", "write the loop over the windows yourself; calling "
                       "training.evaluate or generate.perplexity only copies the reference")
    model.eval()
    stream = exercise_stream(vocab)
    answer = call(held_out_perplexity, model, stream)
    model.eval()
    value = float(answer)
    right = evaluate(model, stream, LanguageModelTask())["perplexity"]
    if close(value, right, rel=1e-3):
        return verdict(True, f"{value:.2f}, as training.evaluate measures on the same "
                       f"{stream.n_tokens:,} tokens ({len(stream)} windows of "
                       f"{STREAM['batch_size']} rows).", "")
    for hint, wrong in _wrong_answers(model, stream):
        if close(value, wrong, rel=1e-3):
            return verdict(False, "", f"you returned {value:.4g}: {hint}")
    return verdict(False, "", f"you returned {value:.4g}; check the three steps: carry the "
                   "state, map the targets with model.output_targets, exp of the token-weighted "
                   "mean cross-entropy")
