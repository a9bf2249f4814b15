import pytest
import torch

from transferlib.model import Classifier
from transferlib.param_groups import (
    discriminative_groups,
    freeze_to,
    gradual_unfreezing,
    layer_groups,
)
from transferlib.schedules import slanted_triangular


def test_layer_groups_cover_all_parameters_once(tiny_cfg):
    model = Classifier(tiny_cfg)
    groups = layer_groups(model)
    assert len(groups) == tiny_cfg.num_layers + 2
    ids = [id(p) for g in groups for p in g]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_freeze_to_head_only_then_unfreeze(tiny_cfg):
    model = Classifier(tiny_cfg)
    freeze_to(model, -1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.") for n in trainable)
    freeze_to(model, 0)
    assert all(p.requires_grad for p in model.parameters())


def test_gradual_unfreezing_adds_one_group_per_epoch(tiny_cfg):
    model = Classifier(tiny_cfg)
    start = gradual_unfreezing(model)
    counts = []
    for epoch in range(5):
        start(epoch)
        counts.append(sum(p.requires_grad for p in model.parameters()))
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert counts[-1] == len(list(model.parameters()))


def test_discriminative_rates_divide_by_2_6_per_layer(tiny_cfg):
    groups = discriminative_groups(Classifier(tiny_cfg), lr=1e-2)
    lrs = [g["lr"] for g in groups]
    assert lrs[-1] == pytest.approx(1e-2)
    for lower, upper in zip(lrs, lrs[1:]):
        assert upper / lower == pytest.approx(2.6)


def test_slanted_triangular_shape():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = slanted_triangular(opt, total_steps=100, cut_frac=0.1, ratio=32)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1 / 32)
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 10
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] < 0.05


def test_invalid_rates_are_refused(tiny_cfg):
    with pytest.raises(ValueError, match="learning rate must be > 0"):
        discriminative_groups(Classifier(tiny_cfg), lr=0)
