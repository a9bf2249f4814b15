"""The benchmark's inference half: int8, pruning and a distilled student, against fp32.

Taught in notebook 08 (``python -m transferlib bench``). Every model classifies the same fixed
valid subset on the CPU (int8 dynamic quantization has CPU kernels only, so all rows run there
for a like-for-like comparison) in length-bucketed batches of 64, in eval mode without
gradients. Latency: after one warm-up pass per model, ``repeats`` rounds each time one pass of
every model (round-robin, like the training rows); a row reports the median over rounds of the
mean milliseconds per batch. Size is the bytes of the weights as stored
(``compression.model_bytes``); accuracy drop is against the fp32 model the rows derive from.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from transferlib.batching import make_loader
from transferlib.bench.measure import Stream
from transferlib.compression import (
    DistillationTask,
    make_student,
    model_bytes,
    prune_magnitude,
    quantize_int8,
    sparsity,
)
from transferlib.model import count_parameters
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, evaluate, fit, set_seed

PRUNE_AMOUNTS = (0.3, 0.5, 0.7, 0.9)
CPU = torch.device("cpu")


@dataclass
class Candidate:
    """A model to measure, with what the row says about it."""

    name: str
    what: str
    model: nn.Module
    note: str = ""


@torch.no_grad()
def _pass_ms(model: nn.Module, batches: list) -> float:
    start = time.perf_counter()
    for ids, lengths, _ in batches:
        model(ids, lengths)
    return (time.perf_counter() - start) / len(batches) * 1000


@torch.no_grad()
def latencies_ms(models: list[nn.Module], batches: list, repeats: int) -> list[float]:
    """Per model, the median over ``repeats`` round-robin rounds of the mean ms per batch."""
    for model in models:
        model.eval()
        _pass_ms(model, batches[:2])
    times: list[list[float]] = [[] for _ in models]
    for r in range(repeats):
        for i in range(len(models)):
            j = (i + r) % len(models)
            times[j].append(_pass_ms(models[j], batches))
    return [statistics.median(t) for t in times]


def _is_quantized(model: nn.Module) -> bool:
    return any("quantized" in type(m).__module__ for m in model.modules())


def compressed_models(reference: nn.Module) -> list[Candidate]:
    """fp32 ``reference``, its int8 dynamic quantization and its magnitude-pruned copies."""
    reference = reference.to(CPU).eval()
    quantized, warned = quantize_int8(reference)
    note = ("torch.ao.quantization.quantize_dynamic (deprecated in this torch; torchao's "
            "quantize_ only covers nn.Linear, not nn.LSTM); warnings: " + " | ".join(warned)
            if warned else "torch.ao.quantization.quantize_dynamic")
    out = [Candidate("fp32", "the fine-tuned model (transferlib best row), fp32", reference),
           Candidate("int8 dynamic", "int8 LSTM/Linear weights, int8 rows of the embedding",
                     quantized, note)]
    out += [Candidate(f"pruned {int(a * 100)}%", "L1 unstructured, per matrix, no re-training; "
                      "dense kernels", prune_magnitude(reference, a)) for a in PRUNE_AMOUNTS]
    return out


def students(teacher: nn.Module, data, amp: bool, bucket: bool) -> list[Candidate]:
    """A student with a quarter of the hidden width and one LSTM layer, trained for the same
    step budget as every training row with the KL-to-teacher loss (T=2, alpha=0.5), and the
    same student trained on the labels only (alpha=0)."""
    sz, device = data.sizes, data.device
    teacher = teacher.to(device).eval()
    out = []
    for name, alpha in (("student (distilled)", 0.5), ("student (labels only)", 0.0)):
        set_seed(data.seed)
        student = make_student(teacher).to(device)
        task = DistillationTask(teacher, temperature=2.0, alpha=alpha)
        loader = make_loader(data.train, sz.batch_size, shuffle=True, bucket=bucket,
                             seed=data.seed)
        optimizer = torch.optim.AdamW(student.parameters(), lr=sz.lr)
        start = time.perf_counter()
        fit(student, Stream(loader).chunk(sz.timed_budget()), None, task, optimizer,
            TrainConfig(epochs=1, device=device, amp=amp, progress=False))
        seconds = time.perf_counter() - start
        out.append(Candidate(name, f"1 LSTM layer, hidden {student.cfg.hidden_dim}; T=2, "
                             f"alpha={alpha}", student.to(CPU).eval(),
                             f"trained {sz.timed_budget()} steps in {seconds:.1f} s; "
                             f"{count_parameters(student)} parameters"))
    teacher.to(CPU)
    return out


def inference_rows(candidates: list[Candidate], data, repeats: int) -> list[dict]:
    """Accuracy, size, non-zero fraction and (interleaved) latency of every candidate."""
    valid_loader = make_loader(data.valid, 64, shuffle=False)
    batches = list(valid_loader)
    ms = latencies_ms([c.model for c in candidates], batches, repeats)
    per_batch = sum(len(b[2]) for b in batches) / len(batches)
    rows = []
    for c, latency in zip(candidates, ms):
        zeros, total = (0, 0) if _is_quantized(c.model) else sparsity(c.model)
        acc = evaluate(c.model, valid_loader, ClassificationTask(), CPU)["accuracy"]
        rows.append({"section": "inference", "row": c.name, "what": c.what,
                     "latency_ms": latency, "examples_per_s": per_batch / latency * 1000,
                     "size_bytes": model_bytes(c.model),
                     "nonzero_frac": 1 - zeros / total if total else float("nan"),
                     "accuracy": acc, "note": c.note})
    return rows
