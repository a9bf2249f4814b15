"""Measuring data parallelism: ``python -m transferlib.distributed scale`` (notebook 09).

Runs the same DDP fine-tuning steps (same global batch) under ``torchrun`` as 1 process and as 2
processes sharing the cores, and prints tokens/s with the ratio against 1 process. The building
blocks (process group, DDP wrapper, per-rank batches) are in ``parallel``; DDP fine-tuning
itself is ``pipeline.finetune_classifier(..., ctx=...)``, which ``python -m transferlib
finetune`` calls under torchrun.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from transferlib.config import machine_info, positive_int
from transferlib.parallel import (
    distributed_loader,
    init_distributed,
    per_rank_batch,
    shutdown,
    wrap_ddp,
)
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, fit


def _scale_worker(argv: list[str]) -> int:
    """One torchrun process of ``scale``: DDP fine-tuning steps, rank 0 writes tokens/s."""
    from transferlib.bench.train import FAST, FULL, load_bench_data
    from transferlib.config import source_model_dir

    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=positive_int, default=20)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--amp", action="store_true")
    a = p.parse_args(argv)
    ctx = init_distributed("auto")
    try:
        data = load_bench_data(source_model_dir(), FAST if a.fast else FULL, ctx.device, 0)
        model = wrap_ddp(data.fresh_classifier(), ctx)
        loader = distributed_loader(data.train, per_rank_batch(a.batch_size, ctx, 1), ctx.rank,
                                    ctx.world_size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
        task = ClassificationTask()
        warm_up = TrainConfig(device=ctx.device, amp=a.amp, max_steps_per_epoch=2,
                              progress=False)
        fit(model, loader, None, task, optimizer, warm_up)
        dist.barrier()
        start = time.perf_counter()
        history = fit(model, loader, None, task, optimizer,
                      replace(warm_up, max_steps_per_epoch=a.steps))
        seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        tokens = torch.tensor([history["tokens_per_s"].iloc[0] * history["seconds"].iloc[0]],
                              dtype=torch.float64)
        dist.all_reduce(tokens)
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
        if ctx.is_main:
            Path(a.out).write_text(json.dumps({
                "processes": ctx.world_size, "backend": ctx.backend,
                "threads_per_process": torch.get_num_threads(), "steps": a.steps,
                "global_batch": a.batch_size, "tokens_per_s": float(tokens / seconds)}))
    finally:
        shutdown()
    return 0


def scale(fast: bool, steps: int, amp: bool) -> list[dict]:
    """Tokens/s of the same DDP fine-tuning (same global batch) as 1 process with every core's
    thread, 1 process with 1 thread, and 2 processes sharing the cores (``torchrun
    --nproc_per_node=N``, ``OMP_NUM_THREADS`` set per process). Ratios are against the first."""
    cores = os.cpu_count() or 1
    results = []
    for n, threads in ((1, cores), (1, 1), (2, max(1, cores // 2))):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "scale.json"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={n}", "-m", "transferlib.distributed", "_worker",
                   "--out", str(out), "--steps", str(steps)] + \
                  (["--fast"] if fast else []) + (["--amp"] if amp else [])
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            subprocess.run(cmd, check=True, env=env)
            results.append(json.loads(out.read_text()))
    base = results[0]["tokens_per_s"]
    for r in results:
        r["ratio"] = r["tokens_per_s"] / base
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m transferlib.distributed scale [--fast] [--steps N] [--amp]``: prints a
    table and one JSON line with ``config.machine_info()``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        return _scale_worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m transferlib.distributed",
                                description="measure DDP scaling: 2 processes vs 1")
    p.add_argument("command", choices=["scale"])
    p.add_argument("--fast", action="store_true", help="tiny sizes (CI)")
    p.add_argument("--steps", type=positive_int, default=20, help="timed optimizer steps")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CPU")
    a = p.parse_args(argv)
    rows = scale(a.fast, a.steps, a.amp)
    print(f"{'processes':>9} {'threads/proc':>12} {'tokens/s':>10} {'ratio':>6}")
    for r in rows:
        print(f"{r['processes']:>9} {r['threads_per_process']:>12} {r['tokens_per_s']:>10.0f} "
              f"{r['ratio']:>6.2f}")
    print(json.dumps({"machine": machine_info(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
