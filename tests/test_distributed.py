"""DistributedDataParallel (2 CPU processes, gloo) and gradient accumulation equal one big batch.

The DDP checks run once in two spawned processes (module fixture) and write every rank's
weights as safetensors; the tests compare them with single-process runs on the same data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from transferlib.batching import collate_padded
from transferlib.config import source_model_dir
from transferlib.errors import ArgumentError, TrainingError
from transferlib.model import Classifier, ModelConfig
from transferlib.parallel import (
    DistContext,
    SyncEveryK,
    backend_for,
    cuda_device_for,
    distributed_loader,
    per_rank_batch,
    wrap_ddp,
)
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, fit

CFG = ModelConfig(vocab_size=40, emb_dim=8, hidden_dim=12, num_layers=2, emb_dropout=0.0,
                  layer_dropout=0.0, out_dropout=0.0, n_classes=2, head_hidden=6)
LR = 0.5


def _examples(n: int = 8, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` examples of different lengths (3..10 tokens) with both labels."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 3 + (i * 5) % 8
        ids = torch.randint(4, CFG.vocab_size, (length,), generator=gen)
        out.append((ids, torch.tensor(i % 2)))
    return out


def _model() -> Classifier:
    torch.manual_seed(0)
    return Classifier(CFG)


def _train(model, batches, task=None, accumulate: int = 1):
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    fit(model, batches, None, task or ClassificationTask(), optimizer,
        TrainConfig(epochs=1, device=torch.device("cpu"), accumulate=accumulate, progress=False))
    return model


def _weights(model) -> dict[str, torch.Tensor]:
    inner = getattr(model, "module", model)
    return {k: v.detach().clone().contiguous() for k, v in inner.state_dict().items()}


class _Recording(SyncEveryK):
    """Records, per training micro-batch, whether DDP will all-reduce its gradients."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.syncs: list[bool] = []

    def step(self, model, batch, device):
        out = super().step(model, batch, device)
        self.syncs.append(bool(model.require_backward_grad_sync))
        return out


def _worker(rank: int, world: int, folder: str) -> None:
    """One DDP rank: (a) one step on its half of the global batch; (b) two accumulated
    micro-batches of a quarter each, synchronised only on the second."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank,
                            world_size=world)
    ctx = DistContext(rank, world, 0, torch.device("cpu"), "gloo")
    data = _examples()
    half = collate_padded(data[rank * 4:(rank + 1) * 4])
    ddp = wrap_ddp(_model(), ctx)
    _train(ddp, [half])
    save_file(_weights(ddp), f"{folder}/step_rank{rank}.safetensors")
    # accumulation: rank r holds examples [4r, 4r+2) and [4r+2, 4r+4) as two micro-batches
    micro = [collate_padded(data[rank * 4 + 2 * j: rank * 4 + 2 * j + 2]) for j in range(2)]
    ddp = wrap_ddp(_model(), ctx)
    task = _Recording(ClassificationTask(), ddp, accumulate=2, batches_per_epoch=2)
    _train(ddp, micro, task, accumulate=2)
    save_file(_weights(ddp), f"{folder}/accum_rank{rank}.safetensors")
    Path(f"{folder}/syncs_rank{rank}.json").write_text(json.dumps(task.syncs))
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(folder)), nprocs=2, join=True)
    return folder


def _close(a: dict, b: dict, tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=tol, rtol=1e-4), k


def test_ddp_step_equals_single_process_step_on_the_global_batch(ddp_run):
    reference = _weights(_train(_model(), [collate_padded(_examples())]))
    start = _weights(_model())
    for rank in (0, 1):
        got = load_file(str(ddp_run / f"step_rank{rank}.safetensors"))
        _close(got, reference)
    moved = max(float((reference[k] - start[k]).abs().max()) for k in start)
    assert moved > 1e-3  # the step really changed the weights


def test_ddp_accumulation_syncs_once_and_equals_one_big_batch(ddp_run):
    reference = _weights(_train(_model(), [collate_padded(_examples())]))
    for rank in (0, 1):
        _close(load_file(str(ddp_run / f"accum_rank{rank}.safetensors")), reference)
        syncs = json.loads((ddp_run / f"syncs_rank{rank}.json").read_text())
        assert syncs == [False, True]  # all-reduce skipped on the first micro-batch


def test_accumulation_over_k_micro_batches_equals_one_k_times_larger_batch():
    data = _examples(12, seed=3)
    micro = [collate_padded(data[i:i + 4]) for i in range(0, 12, 4)]
    accumulated = _weights(_train(_model(), micro, accumulate=3))
    big = _weights(_train(_model(), [collate_padded(data)]))
    _close(accumulated, big)
    one_micro = _weights(_train(_model(), micro[:1]))
    assert any(not torch.allclose(one_micro[k], big[k], atol=1e-4) for k in big)


def test_distributed_loader_splits_bucketed_batches_between_ranks():
    class DS(torch.utils.data.Dataset):
        def __init__(self):
            self.lengths = [1 + (i * 7) % 20 for i in range(50)]
            self.pad_id = 0

        def __len__(self):
            return 50

        def __getitem__(self, i):
            return torch.full((self.lengths[i],), 5), torch.tensor(i)

    ds = DS()
    seen = []
    for rank in (0, 1):
        loader = distributed_loader(ds, 5, rank, 2, seed=0)
        loader.batch_sampler.set_epoch(1)
        for _, lengths, labels in loader:
            assert int(lengths.max()) - int(lengths.min()) <= 4  # bucketed: similar lengths
            seen += labels.tolist()
    assert sorted(seen) == list(range(50))  # 10 batches split 5/5, each example once


def test_per_rank_batch_and_backend():
    ctx = DistContext(0, 2, 0, torch.device("cpu"), "gloo")
    assert per_rank_batch(64, ctx, 2) == 16
    with pytest.raises(ArgumentError, match="does not split"):
        per_rank_batch(30, ctx, 4)
    assert backend_for(torch.device("cpu")) == "gloo"


def test_one_gpu_per_process_or_a_clear_error():
    assert cuda_device_for(1, 2, 2) == torch.device("cuda", 1)
    with pytest.raises(TrainingError, match="2 processes per machine but 1 GPU.*--device cpu"):
        cuda_device_for(0, 2, 1)


def test_torchrun_finetune_two_processes(tmp_path, small_csv):
    out = tmp_path / "model"
    env = {**os.environ, "TRANSFERLIB_FAST": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "transferlib", "finetune", "--data", str(small_csv), "--out", str(out),
           "--strategy", "gradual", "--epochs", "2", "--pretrained", str(source_model_dir()),
           "--device", "cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["backend"] == "gloo"
    assert metrics["per_rank_batch"] * 2 == metrics["global_batch"]
    assert (out / "model.safetensors").is_file()
    assert proc.stdout.count('"world_size": 2') == 1  # only rank 0 reports
    assert 0.0 <= metrics["valid_accuracy"] <= 1.0 and metrics["epochs_run"] == 2
