"""Is the embedding the bottleneck? ULMFiT's tricks slow down or freeze the embedding, and 16 %
of Rotten Tomatoes tokens (among them 'boring', 'hilarious', 'predictable') are words the source
vocabulary lacks, which start as one shared mean vector. Each variant below lets only the
embedding train at the head's rate; everything else is the preset. Ran once on an H200:

    PYTHONPATH=. python results/cuda/embedding_probe.py results/cuda/embedding_probe.csv cuda

A throwaway probe: it swaps two helpers of ``transferlib.pipeline`` for the variants.
"""
import sys

import pandas as pd

import transferlib.pipeline as pipeline
from transferlib.config import source_model_dir
from transferlib.experiments.runs import Context, experiment_sizes
from transferlib.param_groups import discriminative_groups, freeze_to, layer_groups

out, device = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "auto")


def freeze_lstm_only(model, n):
    """feature extraction with a trainable embedding: only the LSTM layers are frozen."""
    freeze_to(model, n)
    if n == -1:
        for p in layer_groups(model)[0]:
            p.requires_grad_(True)


def embedding_at_head_rate(model, lr, decay=2.6, weight_decay=0.0):
    groups = discriminative_groups(model, lr, decay, weight_decay)
    groups[0]["lr"] = lr
    return groups


VARIANTS = {"feature-extraction": ("feature-extraction", {}),
            "feature-extraction + embedding trains": ("feature-extraction",
                                                      {"freeze_to": freeze_lstm_only}),
            "discriminative": ("discriminative", {}),
            "discriminative, embedding at head rate": (
                "discriminative", {"discriminative_groups": embedding_at_head_rate}),
            "stlr": ("stlr", {}),
            "stlr, embedding at head rate": ("stlr",
                                             {"discriminative_groups": embedding_at_head_rate})}
ctx = Context(source_model_dir(), experiment_sizes(), device=device)
rows = []
for seed in (0, 1, 2):
    for variant, (preset, patches) in VARIANTS.items():
        saved = {name: getattr(pipeline, name) for name in patches}
        for name, fn in patches.items():
            setattr(pipeline, name, fn)
        try:
            ctx._runs.clear()
            run = ctx.finetune(preset, ctx.pool, seed)
        finally:
            for name, fn in saved.items():
                setattr(pipeline, name, fn)
        rows.append({"variant": variant, "preset": preset, "seed": seed,
                     **{k: v for k, v in run.items() if k != "result"}})
        print(rows[-1], flush=True)
        pd.DataFrame(rows).to_csv(out, index=False)
