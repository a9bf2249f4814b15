"""pipeline: the typed fine-tuning configuration, finetune_classifier called directly (not
through the CLI), and each strategy preset turned into the levers its description names."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from transferlib.errors import ArgumentError
from transferlib.model import Classifier, ModelConfig
from transferlib.pipeline import FinetuneConfig, finetune_classifier, strategy_optimizer
from transferlib.strategies import DESCRIPTIONS, PRESETS, get_strategy

SMALL = {"emb_dim": 8, "hidden_dim": 12, "num_layers": 2, "out_dim": 0}


def test_finetune_config_is_frozen_checked_and_recorded(tiny_texts):
    cfg = FinetuneConfig(epochs=3, batch_size=4, patience=None, amp=False, device="cpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 5
    with pytest.raises(ArgumentError, match="chunk_len"):
        FinetuneConfig(chunk_len=-1)
    texts, labels = tiny_texts
    frame = pd.DataFrame({"text": texts, "label": labels})
    result = finetune_classifier(frame, frame, frame, get_strategy("scratch"), cfg,
                                 small_model=SMALL, progress=False)
    assert result.metrics["config"] == dataclasses.asdict(cfg)
    assert result.metrics["epochs_run"] == 3  # patience None: no early stopping
    assert len(result.metrics["test_correct"]) == len(frame)
    again = finetune_classifier(frame, frame, frame, get_strategy("scratch"), cfg,
                                small_model=SMALL, progress=False)
    assert again.metrics["test_correct"] == result.metrics["test_correct"]  # seeded
    with pytest.raises(ArgumentError, match="pretrained"):
        finetune_classifier(frame, frame, None, get_strategy("full"), cfg, progress=False)


def _model() -> Classifier:
    torch.manual_seed(0)
    return Classifier(ModelConfig(vocab_size=30, n_classes=2, **SMALL))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_has_a_description_and_its_levers(name):
    strategy = PRESETS[name]
    assert DESCRIPTIONS[name]
    model = _model()
    optimizer, scheduler, on_start = strategy_optimizer(model, strategy, 1e-3, 10, 2)
    rates = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]  # before the schedule
    head_rate = rates[-1]
    assert head_rate == pytest.approx(1e-3)
    lstm_rates = rates[1:-1]
    if strategy.discriminative:  # each LSTM layer below the head: the rate / 2.6 per step
        assert all(lo < hi for lo, hi in zip(lstm_rates, lstm_rates[1:] + [head_rate]))
    else:
        assert all(r == pytest.approx(head_rate) for r in lstm_rates)
    assert (scheduler is None) == (strategy.schedule == "constant")
    assert (on_start is not None) == strategy.gradual_unfreeze
    frozen = not any(p.requires_grad for p in model.encoder.parameters())
    assert frozen == strategy.freeze_encoder


def test_the_presets_named_in_the_descriptions_chain_as_documented():
    assert PRESETS["full-lm"].target_lm and not PRESETS["full"].target_lm
    assert PRESETS["vectors"].encoder_init == "vectors"
    assert not PRESETS["scratch"].pretrained
    assert PRESETS["stlr"].schedule == "stlr" and PRESETS["stlr"].discriminative
    ulmfit = PRESETS["ulmfit"]
    assert ulmfit.target_lm and ulmfit.gradual_unfreeze and ulmfit.discriminative
    assert PRESETS["ulmfit-l2sp"].regularizer == "l2sp"
