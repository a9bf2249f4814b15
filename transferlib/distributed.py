"""Data-parallel fine-tuning: DistributedDataParallel under ``torchrun`` (taught in notebook 08).

``torchrun --nproc_per_node=2 -m transferlib finetune --data ... --out ...`` starts one process
per replica; ``cli.cmd_finetune`` sees ``WORLD_SIZE > 1`` and calls :func:`finetune_main`
(handing it the command's input and output steps, so this module does not import ``cli``).
Each process holds a full copy of the classifier (``DistributedDataParallel`` averages the
gradients with an all-reduce after every backward pass: gloo on CPU, nccl on CUDA, chosen by
capability), reads its own share of the length-bucketed batches
(``batching.BucketBatchSampler(num_replicas, rank)``, reshuffled with ``set_epoch`` each
epoch), and takes the same optimizer step. The global batch is the single-process batch: each
of the W processes gets ``batch_size / (W · accumulate)`` examples per micro-batch. Only rank 0
logs, shows progress, evaluates the test split and writes the model folder.

``python -m transferlib.distributed scale`` measures 2 processes against 1 (tokens/s).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .batching import BucketBatchSampler, TextClassificationDataset, collate_padded, make_loader
from .config import machine_info
from .errors import DataError, TrainingError
from .layers import freeze_to
from .pipeline import FinetuneResult, initial_classifier, strategy_optimizer
from .regularizers import make_regularizer
from .training import ClassificationTask, evaluate, fit, pick_device, set_seed


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size``, its device and backend."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_size() -> int:
    """``WORLD_SIZE`` as set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    """True when this process is one of several started by torchrun."""
    return world_size() > 1


def backend_for(device: torch.device) -> str:
    """nccl for CUDA devices when torch has it, gloo otherwise (CPU)."""
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def cuda_device_for(local_rank: int, local_world_size: int, n_gpus: int) -> torch.device:
    """GPU ``local_rank`` for this process; nccl needs one GPU per process, so more processes
    per machine than GPUs is an error that says what to do instead."""
    if local_world_size > n_gpus:
        raise TrainingError(
            f"{local_world_size} processes per machine but {n_gpus} GPU(s): DDP over nccl needs "
            f"one GPU per process; use --nproc_per_node={n_gpus}, or --device cpu (gloo)")
    return torch.device("cuda", local_rank)


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes (``env://``: RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT). Each process on a CUDA machine takes GPU ``LOCAL_RANK``."""
    rank, size = int(os.environ.get("RANK", "0")), world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if dev.type == "cuda":
        local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        dev = cuda_device_for(local, local_size, torch.cuda.device_count())
        torch.cuda.set_device(dev)
    backend = backend_for(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=size)
    return DistContext(rank, size, local, dev, backend)


def shutdown() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def distributed_loader(dataset: TextClassificationDataset, batch_size: int, rank: int,
                       num_replicas: int, seed: int = 0, shuffle: bool = True) -> DataLoader:
    """Length-bucketed padded batches of ``batch_size`` for one rank: every rank draws from
    the same seeded, bucketed shuffle and takes every ``num_replicas``-th batch; ``fit`` calls
    ``set_epoch`` on the sampler each epoch."""
    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed,
                                 num_replicas=num_replicas, rank=rank)
    return DataLoader(dataset, batch_sampler=sampler,
                      collate_fn=partial(collate_padded, pad_id=dataset.pad_id))


def wrap_ddp(model: nn.Module, ctx: DistContext, find_unused: bool = False
             ) -> DistributedDataParallel:
    """``DistributedDataParallel(model)`` on ``ctx.device``; construction broadcasts rank 0's
    weights to every rank. Use ``find_unused=True`` when layers may be frozen during training
    (gradual unfreezing): every parameter must require grad when this is called."""
    model.to(ctx.device)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


class SyncEveryK:
    """Wraps a task for gradient accumulation under DDP: the all-reduce runs only on the last
    micro-batch of each group of ``accumulate`` (and on the epoch's last batch), as
    ``DistributedDataParallel.no_sync`` does, instead of after every backward pass. Pass it to
    ``fit(..., accumulate=accumulate)``; ``batches_per_epoch`` must equal the batches ``fit``
    draws per epoch on every rank."""

    def __init__(self, task, model: DistributedDataParallel, accumulate: int,
                 batches_per_epoch: int):
        self.task, self.model = task, model
        self.accumulate, self.batches = accumulate, batches_per_epoch
        self.monitor = task.monitor
        self.metrics = task.metrics
        self.i = 0

    def start_epoch(self, train: bool) -> None:
        self.i = 0
        self.model.require_backward_grad_sync = True
        self.task.start_epoch(train)

    def step(self, model: nn.Module, batch, device: torch.device):
        if model.training:
            self.i += 1
            last = self.i % self.accumulate == 0 or self.i >= self.batches
            model.require_backward_grad_sync = last  # what ``no_sync()`` toggles
        return self.task.step(model, batch, device)


def per_rank_batch(global_batch: int, ctx: DistContext, accumulate: int) -> int:
    """The micro-batch size of one rank so that W ranks × k micro-batches = the global batch."""
    parts = ctx.world_size * accumulate
    if global_batch % parts:
        raise DataError(f"batch size {global_batch} does not split into {ctx.world_size} "
                        f"processes x {accumulate} accumulation steps; choose a multiple of "
                        f"{parts}")
    return global_batch // parts


def finetune_distributed(train, valid, test, strategy, ctx: DistContext,
                         pretrained: str | None = None, lm_texts: list[str] | None = None,
                         epochs: int = 6, lm_epochs: int = 2, lr: float = 2e-3,
                         batch_size: int = 64, accumulate: int = 1, max_len: int = 96,
                         seed: int = 0, amp: bool = True, patience: int | None = 2,
                         progress: bool = False, on_epoch_end=None):
    """``pipeline.finetune_classifier`` for one DDP rank (same model, vocabulary, optimizer,
    schedule and strategy; see it for the stages). Differences: the classifier is wrapped in
    DDP, the training batches are this rank's share of the bucketed batches, ``accumulate``
    micro-batches are summed per step, and the optional target-LM stage runs on rank 0 only
    (DDP's construction then broadcasts rank 0's weights). Every rank evaluates the whole valid
    split, so early stopping decides alike everywhere. Returns a ``FinetuneResult``."""
    if not strategy.pretrained:
        raise DataError("distributed fine-tuning starts from a pretrained model; the 'scratch' "
                        "strategy runs in one process")
    set_seed(seed)
    classes = sorted(train["label"].unique())
    model, vocab, report, lm_history = initial_classifier(  # the LM stage on rank 0 only
        train, valid, replace(strategy, target_lm=strategy.target_lm and ctx.is_main),
        len(classes), pretrained, lm_texts, lm_epochs, lr, seed, amp, ctx.device, progress,
        None, False, "shipped", None)
    reg = make_regularizer(strategy.regularizer, model, strategy.lam)
    ddp = wrap_ddp(model, ctx, find_unused=strategy.freeze_encoder or strategy.gradual_unfreeze)
    train_ds = TextClassificationDataset(train["text"], train["label"], vocab, classes, max_len)
    valid_ds = TextClassificationDataset(valid["text"], valid["label"], vocab, classes, max_len)
    train_dl = distributed_loader(train_ds, per_rank_batch(batch_size, ctx, accumulate),
                                  ctx.rank, ctx.world_size, seed)
    valid_dl = make_loader(valid_ds, 256, shuffle=False)
    optimizer, scheduler, on_start = strategy_optimizer(
        model, strategy, lr, epochs * -(-len(train_dl) // accumulate), epochs)
    task = SyncEveryK(ClassificationTask(), ddp, accumulate, len(train_dl))
    start = time.perf_counter()
    history = fit(ddp, train_dl, valid_dl, task, optimizer, epochs, scheduler=scheduler,
                  device=ctx.device, amp=amp, clip=1.0, regularizer=reg, patience=patience,
                  on_epoch_start=on_start,
                  on_epoch_end=on_epoch_end, progress=progress, accumulate=accumulate)
    seconds = time.perf_counter() - start
    freeze_to(model, 0)
    metrics = {"valid_accuracy": evaluate(model, valid_dl, ClassificationTask(), ctx.device,
                                          amp)["accuracy"],
               "n_train": len(train), "n_valid": len(valid), "seconds": seconds,
               "seconds_per_epoch": float(history["seconds"].mean()),
               "epochs_run": len(history), "device": str(ctx.device), "classes": classes,
               "trainable_params": int(history["trainable_params"].max()),
               "strategy": strategy.to_dict(), "seed": seed, "world_size": ctx.world_size,
               "backend": ctx.backend, "accumulate": accumulate, "global_batch": batch_size,
               "per_rank_batch": per_rank_batch(batch_size, ctx, accumulate)}
    if test is not None and len(test) and ctx.is_main:
        test_ds = TextClassificationDataset(test["text"], test["label"], vocab, classes, max_len)
        metrics.update(test_accuracy=evaluate(model, make_loader(test_ds, 256, shuffle=False),
                                              ClassificationTask(), ctx.device,
                                              amp)["accuracy"], n_test=len(test))
    return FinetuneResult(model, vocab, classes, history, metrics, lm_history, report)


def finetune_main(args: argparse.Namespace, read_inputs: Callable[[argparse.Namespace], dict],
                  save_outputs: Callable[..., dict], device: str,
                  writable_dir: Callable[[str], Path],
                  on_epoch_end: Callable | None = None) -> int:
    """``finetune`` under torchrun: the same flags as the single-process command. The command's
    input and output steps come from ``cli`` (``read_inputs(args)``, ``save_outputs(out, result,
    args, inputs, shown)``, ``writable_dir(path)``), so this module never imports ``cli``."""
    if getattr(args, "resume", False):
        raise DataError("--resume is not supported under torchrun yet; resume in one process")
    ctx = init_distributed(device)
    try:
        out = writable_dir(args.out) if ctx.is_main else Path(args.out)
        quiet = contextlib.nullcontext() if ctx.is_main else contextlib.redirect_stderr(
            io.StringIO())  # rank 0 alone reports skipped rows
        with quiet:
            inputs = read_inputs(args)
        sizes = inputs["sizes"]
        result = finetune_distributed(
            inputs["train"], inputs["valid"], inputs["test"], inputs["strategy"], ctx,
            pretrained=inputs["pretrained"], lm_texts=inputs["lm_texts"],
            epochs=args.epochs or sizes["epochs"], lm_epochs=args.lm_epochs or sizes["lm_epochs"],
            lr=args.lr, batch_size=args.batch_size, accumulate=args.accumulate,
            max_len=inputs["max_len"], seed=args.seed,
            amp=not args.no_amp, progress=ctx.is_main and sys.stderr.isatty(),
            on_epoch_end=on_epoch_end if ctx.is_main else None)
        if ctx.is_main:
            args.command_line = "torchrun ... " + args.command_line.removeprefix("python ")
            save_outputs(out, result, args, inputs,
                         ("valid_accuracy", "test_accuracy", "n_train", "world_size", "seconds"))
        dist.barrier()
    finally:
        shutdown()
    return 0


# ----------------------------------------------------------------------------- scaling
def _scale_worker(argv: list[str]) -> int:
    """One torchrun process of ``scale``: DDP fine-tuning steps, rank 0 writes tokens/s."""
    from .bench_train import FAST, FULL, load_bench_data
    from .config import source_model_dir

    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
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
        kw = {"device": ctx.device, "amp": a.amp, "progress": False}
        fit(model, loader, None, task, optimizer, 1, max_steps_per_epoch=2, **kw)  # warm-up
        dist.barrier()
        start = time.perf_counter()
        history = fit(model, loader, None, task, optimizer, 1, max_steps_per_epoch=a.steps, **kw)
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
    p.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
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
