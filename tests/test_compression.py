"""int8 quantization, magnitude pruning, distillation and LoRA on a tiny classifier."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from transferlib.compression import (
    DistillationTask,
    LoRALSTM,
    apply_lora,
    distillation_loss,
    make_student,
    merge_lora,
    model_bytes,
    prunable,
    prune_magnitude,
    quantize_int8,
    sparsity,
)
from transferlib.model import Classifier, ModelConfig
from transferlib.tasks import ClassificationTask
from transferlib.training import TrainConfig, fit

CFG = ModelConfig(vocab_size=60, emb_dim=16, hidden_dim=24, num_layers=2, emb_dropout=0.0,
                  layer_dropout=0.0, out_dropout=0.0, n_classes=3, head_hidden=8)


@pytest.fixture
def model() -> Classifier:
    torch.manual_seed(0)
    return Classifier(CFG).eval()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(4, CFG.vocab_size, (6, 9), generator=gen)
    lengths = torch.tensor([9, 7, 5, 3, 2, 1])
    for row, n in enumerate(lengths):
        ids[row, n:] = 0
    return ids, lengths, torch.tensor([0, 1, 2, 0, 1, 2])


@torch.no_grad()
def _out(m, batch):
    return m.eval()(batch[0], batch[1])


def test_int8_quantization_is_close_smaller_and_leaves_the_original(model, batch):
    before = copy.deepcopy(model.state_dict())
    ref = _out(model, batch)
    quantized, warned = quantize_int8(model)
    got = _out(quantized, batch)
    scale = float(ref.abs().max())
    assert float((got - ref).abs().max()) < 0.05 * scale
    assert not torch.equal(got, ref)  # it really runs int8 kernels
    assert model_bytes(quantized) < 0.45 * model_bytes(model)
    assert all(isinstance(w, str) for w in warned)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_model_bytes_counts_fp32_parameters(model):
    assert model_bytes(model) == 4 * sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("amount", [0.3, 0.5, 0.9])
def test_pruning_reaches_the_exact_sparsity_per_matrix(model, amount):
    pruned = prune_magnitude(model, amount)
    total_zeros = total = 0
    for module, name in prunable(pruned):
        w = getattr(module, name)
        assert int((w == 0).sum()) == round(amount * w.numel()), name
        total_zeros += round(amount * w.numel())
        total += w.numel()
    assert sparsity(pruned) == (total_zeros, total)
    assert set(pruned.state_dict()) == set(model.state_dict())  # masks made permanent
    assert sparsity(model)[0] < total_zeros  # the original is untouched


def test_light_pruning_stays_close_and_heavy_pruning_moves_further(model, batch):
    ref = _out(model, batch)
    assert torch.equal(_out(prune_magnitude(model, 0.0), batch), ref)
    light = float((_out(prune_magnitude(model, 0.1), batch) - ref).abs().max())
    heavy = float((_out(prune_magnitude(model, 0.9), batch) - ref).abs().max())
    assert light < 0.1 * float(ref.abs().max())
    assert heavy > light
    with pytest.raises(ValueError, match="amount"):
        prune_magnitude(model, 1.0)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
def test_distillation_loss_is_zero_exactly_when_logits_agree(temperature):
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    student = logits.clone().requires_grad_(True)
    loss = distillation_loss(student, logits, temperature)
    assert abs(float(loss.detach())) < 1e-6
    loss.backward()
    assert float(student.grad.abs().max()) < 1e-6
    assert float(distillation_loss(logits + torch.tensor([1.0, 0.0, -1.0]), logits,
                                   temperature)) > 1e-3


def test_distillation_task_combines_soft_and_hard_losses(model, batch):
    teacher = copy.deepcopy(model)
    student = copy.deepcopy(model).train()
    soft_only = DistillationTask(teacher, temperature=2.0, alpha=1.0)
    soft_only.start_epoch(train=True)
    loss, n, correct, tokens = soft_only.step(student, batch, torch.device("cpu"))
    assert abs(float(loss.detach())) < 1e-6 and n == 6 and tokens == int(batch[1].sum())
    assert not teacher.training  # the teacher runs in eval mode
    hard_only = DistillationTask(teacher, alpha=0.0)
    loss, *_ = hard_only.step(student, batch, torch.device("cpu"))
    ce = F.cross_entropy(_out(model, batch), batch[2])
    assert torch.allclose(loss.detach(), ce, atol=1e-6)
    with pytest.raises(ValueError):
        DistillationTask(teacher, temperature=0.0)


def test_distillation_trains_a_smaller_student_with_fit(model, batch):
    student = make_student(model)
    assert student.cfg.hidden_dim < model.cfg.hidden_dim and student.cfg.num_layers == 1
    assert torch.equal(student.encoder.embedding.weight, model.encoder.embedding.weight)
    task = DistillationTask(model, temperature=2.0, alpha=1.0)
    before = float(task.step(student, batch, torch.device("cpu"))[0].detach())
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    fit(student, [batch] * 30, None, task, optimizer, TrainConfig(epochs=1, progress=False))
    after = float(task.step(student.eval(), batch, torch.device("cpu"))[0].detach())
    assert after < 0.5 * before


def test_lora_with_zero_b_equals_the_base_model_and_trains_only_a_b_head(model, batch):
    ref = _out(model, batch)
    lora = apply_lora(copy.deepcopy(model), rank=2)
    assert torch.equal(_out(lora, batch), ref)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    expected = {f"encoder.layers.{i}.lora_{ab}.{w}" for i in range(CFG.num_layers)
                for ab in "AB" for w in ("weight_ih_l0", "weight_hh_l0")}
    expected |= {n for n, _ in lora.named_parameters() if n.startswith("head.")}
    assert trainable == expected
    assert all(isinstance(layer, LoRALSTM) for layer in lora.encoder.layers)
    with pytest.raises(ValueError, match="already"):
        apply_lora(lora)


def test_lora_training_moves_only_the_adapters_and_merges_exactly(model, batch):
    lora = apply_lora(copy.deepcopy(model), rank=2)
    base = {k: v.clone() for k, v in lora.state_dict().items() if ".base." in k}
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-2)
    fit(lora, [batch] * 5, None, ClassificationTask(), optimizer,
        TrainConfig(epochs=1, progress=False))
    state = lora.state_dict()
    assert all(torch.equal(state[k], v) for k, v in base.items())
    assert float(lora.encoder.layers[0].lora_B["weight_hh_l0"].detach().abs().max()) > 0
    trained = _out(lora, batch)
    assert not torch.allclose(trained, _out(model, batch))
    merged = merge_lora(lora)
    assert set(merged.state_dict()) == set(model.state_dict())
    assert torch.allclose(_out(merged, batch), trained, atol=1e-5)
