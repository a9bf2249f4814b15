"""Worked solution of notebook 05's exercise: the held-out perplexity of a language model over
a stream of BPTT windows, written by hand (open it only after trying).

Every window continues its rows, so the LSTM state that ends one window starts the next; it is
detached (nothing is trained here, but the habit keeps the graph from growing). Targets beyond
the softmax's words become ``<unk>`` (``model.output_targets``). The loss of every target token
is summed, divided by the number of tokens, and exponentiated once.
"""

import math

import torch
import torch.nn.functional as F

from transferlib.checkpoint import load_model
from transferlib.config import source_model_dir
from transferlib.workbook.exercises.source import check_stream_perplexity


@torch.no_grad()
def held_out_perplexity(model, stream):
    model.eval()
    state, total, n = None, 0.0, 0
    for inputs, targets in stream:
        logits, state = model(inputs, state)
        state = [(h.detach(), c.detach()) for h, c in state]
        targets = model.output_targets(targets)
        total += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                                       reduction="sum"))
        n += targets.numel()
    return math.exp(total / n)


if __name__ == "__main__":
    lm, vocab, _ = load_model(source_model_dir())
    check_stream_perplexity(held_out_perplexity, lm, vocab)
