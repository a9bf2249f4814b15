import pytest
import torch

from transferlib.model import Classifier, LanguageModel, ModelConfig, pool_valid


def test_padding_does_not_change_the_classifier_output(tiny_cfg):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg).eval()
    short = torch.tensor([[5, 6, 7]])
    alone = model(short, torch.tensor([3]))
    batch = torch.tensor([[5, 6, 7, 0, 0, 0, 0], [4, 5, 6, 7, 8, 9, 10]])
    in_batch = model(batch, torch.tensor([3, 7]))
    torch.testing.assert_close(in_batch[0:1], alone, rtol=1e-5, atol=1e-6)
    packed = model(batch, torch.tensor([3, 7]), packed=True)
    torch.testing.assert_close(packed, in_batch, rtol=1e-5, atol=1e-6)


def test_pool_valid_ignores_padding_positions():
    out = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    pooled = pool_valid(out, torch.tensor([2, 3]))
    # [last, max, mean]
    assert pooled.tolist() == [[3.0, 3.0, 2.0], [6.0, 6.0, 4.0]]


def test_language_model_weights_are_tied(tiny_cfg):
    cfg = ModelConfig(**{**tiny_cfg.to_dict(), "n_classes": 0})
    lm = LanguageModel(cfg)
    logits, state = lm(torch.tensor([[4, 5, 6]]))
    assert logits.shape == (1, 3, cfg.vocab_size)
    assert len(state) == cfg.num_layers
    names = [n for n, _ in lm.named_parameters()]
    assert not any("decoder.weight" in n for n in names)  # the output layer IS the embedding
    (logits.sum()).backward()
    assert lm.encoder.embedding.weight.grad is not None


def test_state_carries_across_windows(tiny_cfg):
    cfg = ModelConfig(**{**tiny_cfg.to_dict(), "n_classes": 0})
    lm = LanguageModel(cfg).eval()
    ids = torch.tensor([[4, 5, 6, 7, 8, 9]])
    full, _ = lm(ids)
    first, state = lm(ids[:, :3])
    second, _ = lm(ids[:, 3:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field,value", [("vocab_size", 3), ("n_classes", 1), ("emb_dropout", 1.0)])
def test_config_validation_names_the_field(field, value):
    kwargs = {"vocab_size": 100, field: value}
    with pytest.raises(ValueError, match=field):
        ModelConfig(**kwargs)


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown config fields"):
        ModelConfig.from_dict({"vocab_size": 100, "hidden": 3})
