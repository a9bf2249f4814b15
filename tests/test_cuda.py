"""The CUDA path: fp16 autocast + GradScaler, cuDNN packed vs padded, DDP over nccl.

Skipped on machines without CUDA (CI has none); run on a GPU machine with
``python -m pytest tests/test_cuda.py``. The README's "Efficiency" section records where and
when they last ran.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist

from transferlib.batching import TextClassificationDataset, collate_padded, make_loader
from transferlib.model import Classifier
from transferlib.parallel import DistContext, backend_for, wrap_ddp
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, evaluate, fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


def test_fp16_autocast_with_grad_scaler_trains(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    hist = fit(model, make_loader(ds, 4), make_loader(ds, 14, shuffle=False), ClassificationTask(),
               torch.optim.Adam(model.parameters(), 1e-2),
               TrainConfig(epochs=25, device=CUDA, amp=True, progress=False))
    assert next(model.parameters()).device.type == "cuda"
    assert next(model.parameters()).dtype == torch.float32  # master weights stay fp32
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert hist["valid_accuracy"].iloc[-1] >= 0.9


def test_cudnn_packed_equals_padded_and_the_cpu(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).eval()
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    ids, lengths, _ = collate_padded([ds[i] for i in range(len(ds))], pad_id=ds.pad_id)
    assert lengths.min() < lengths.max()  # real padding in the batch
    with torch.no_grad():
        cpu = model(ids, lengths)
        gpu = model.to(CUDA)
        padded = gpu(ids.to(CUDA), lengths.to(CUDA))
        packed = gpu(ids.to(CUDA), lengths.to(CUDA), packed=True)
    assert torch.allclose(padded, packed, atol=1e-5)
    assert torch.allclose(padded.cpu(), cpu, atol=1e-4)


def test_nccl_ddp_step_equals_a_single_process_step(tiny_cfg, tiny_vocab, tiny_texts, tmp_path):
    """World size 1 over nccl (one GPU is enough): DDP's step equals the plain step."""
    assert backend_for(CUDA) == "nccl"
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    batch = collate_padded([ds[i] for i in range(8)], pad_id=ds.pad_id)
    torch.manual_seed(0)
    base = Classifier(tiny_cfg)
    plain, ddp_model = copy.deepcopy(base), copy.deepcopy(base)
    dist.init_process_group("nccl", init_method=f"file://{tmp_path}/store", rank=0,
                            world_size=1)
    try:
        ddp = wrap_ddp(ddp_model, DistContext(0, 1, 0, CUDA, "nccl"))
        for m in (plain.to(CUDA), ddp):
            fit(m, [batch], None, ClassificationTask(), torch.optim.SGD(m.parameters(), lr=0.5),
                TrainConfig(epochs=1, device=CUDA, progress=False))
        after = evaluate(ddp, [batch], ClassificationTask(), device=CUDA)
    finally:
        dist.destroy_process_group()
    for (name, a), b in zip(plain.state_dict().items(), ddp.module.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert 0.0 <= after["accuracy"] <= 1.0
