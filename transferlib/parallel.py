"""Data parallelism's building blocks: the process group, DDP, per-rank batches (notebook 09).

``torchrun --nproc_per_node=2 -m transferlib finetune --data ... --out ...`` starts one process
per replica; ``finetune_command.cmd_finetune`` sees ``WORLD_SIZE > 1``, joins the process group
(:func:`init_distributed`) and hands the :class:`DistContext` to
``pipeline.finetune_classifier``, the one fine-tuning path (world size 1, the plain case, is
``ctx=None``). Each process holds a full copy of the classifier (``DistributedDataParallel``
averages the gradients with an all-reduce after every backward pass: gloo on CPU, nccl on CUDA,
chosen by capability), reads its own share of the length-bucketed batches
(``batching.BucketBatchSampler(num_replicas, rank)``, reshuffled with ``set_epoch`` each
epoch), and takes the same optimizer step. The global batch is the single-process batch: each
of the W processes gets ``batch_size / (W · accumulate)`` examples per micro-batch
(:func:`per_rank_batch`); :class:`SyncEveryK` all-reduces once per accumulated step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from transferlib.batching import BucketBatchSampler, TextClassificationDataset, collate_padded
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError, TrainingError


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
    ``fit`` with ``TrainConfig(accumulate=accumulate)``; ``batches_per_epoch`` must equal the
    batches ``fit`` draws per epoch on every rank."""

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
    if accumulate < 1:
        raise ArgumentError(f"accumulate must be >= 1, got {accumulate}")
    parts = ctx.world_size * accumulate
    if global_batch % parts:
        into = (f"{accumulate} accumulation steps" if ctx.world_size == 1 else
                f"{ctx.world_size} processes x {accumulate} accumulation steps")
        raise ArgumentError(f"batch size {global_batch} does not split into {into}; choose a "
                            f"multiple of {parts}")
    return global_batch // parts


def single_process(device: torch.device) -> DistContext:
    """The context of a plain run (no torchrun): rank 0 of 1 on ``device``."""
    return DistContext(rank=0, world_size=1, local_rank=0, device=device, backend="none")
