import pytest
import torch

from transferlib.model import Classifier
from transferlib.regularizers import L2, L2SP, make_regularizer, weight_drift


def test_l2sp_is_zero_at_w0_and_has_the_right_gradient(tiny_cfg):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    reg = L2SP(model, lam=0.1, beta=0.0)
    assert float(reg().detach()) == 0.0
    w = model.encoder.layers[0].weight_ih_l0
    w0 = w.detach().clone()
    with torch.no_grad():
        w.add_(0.5)
    model.zero_grad()
    reg().backward()
    # d/dw ||w - w0||^2 = 2 (w - w0)
    torch.testing.assert_close(w.grad, 2 * (w.detach() - w0))
    assert model.head[1].weight.grad is None or float(model.head[1].weight.grad.abs().sum()) == 0


def test_l2sp_penalises_the_head_toward_zero_with_beta(tiny_cfg):
    model = Classifier(tiny_cfg)
    reg = L2SP(model, lam=1.0, beta=0.5)
    head = sum(float((p.detach() ** 2).sum()) for n, p in model.named_parameters()
               if n.startswith("head.") and not n.endswith("bias"))
    assert float(reg().detach()) == pytest.approx(0.5 * head, rel=1e-5)


def test_l2_excludes_biases(tiny_cfg):
    model = Classifier(tiny_cfg)
    expected = sum(float((p.detach() ** 2).sum()) for n, p in model.named_parameters()
                   if "bias" not in n)  # head.*.bias and the LSTMs' bias_ih/bias_hh
    assert float(L2(model, 1.0)().detach()) == pytest.approx(expected, rel=1e-5)


def test_weight_drift_measures_distance(tiny_cfg):
    model = Classifier(tiny_cfg)
    ref = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert weight_drift(model, ref) == 0.0
    with torch.no_grad():
        model.encoder.embedding.weight[4, 0] += 3.0
    assert weight_drift(model, ref) == pytest.approx(3.0)


def test_regularizer_arguments_are_validated(tiny_cfg):
    model = Classifier(tiny_cfg)
    with pytest.raises(ValueError, match=">= 0"):
        L2(model, lam=-1)
    with pytest.raises(ValueError, match="allowed"):
        make_regularizer("l1", model, 0.1)
