"""Fine-tuning strategies as plain values, one flag each (taught in notebook 07).

A ``Strategy`` says where the weights come from and how they are trained; the named presets
build up ULMFiT's recipe one trick at a time, which is what the ablation table compares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from transferlib.errors import ArgumentError

SCHEDULES = ("constant", "stlr", "one-cycle")
REGULARIZERS = ("none", "l2", "l2sp")
ENCODER_INITS = ("source", "vectors")


@dataclass(frozen=True)
class Strategy:
    """How to fine-tune: every field is one lever of the ablation."""

    pretrained: bool = True          # start from the source LM (False: random init, "scratch")
    freeze_encoder: bool = False     # feature extraction: only the head trains
    discriminative: bool = False     # lower layers get lr / 2.6 per layer
    schedule: str = "constant"       # constant | stlr (slanted triangular) | one-cycle
    gradual_unfreeze: bool = False   # unfreeze one layer group per epoch from the top
    target_lm: bool = False          # ULMFiT stage (b): fine-tune the LM on target texts first
    regularizer: str = "none"        # none | l2 | l2sp
    lam: float = 0.0                 # λ for the regularizer
    embedding_lr: float = 0.0        # > 0: the embedding trains from the start at lr × this
    #                                  (0: at whatever rate/epoch the other levers give it)
    encoder_init: str = "source"     # source: the whole LM encoder | vectors: its word vectors
    #                                  only, the LSTM layers start random

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ArgumentError(f"unknown schedule {self.schedule!r}; allowed: {SCHEDULES}")
        if self.regularizer not in REGULARIZERS:
            raise ArgumentError(
                f"unknown regularizer {self.regularizer!r}; allowed: {REGULARIZERS}")
        if self.lam < 0:
            raise ArgumentError(f"lam must be >= 0, got {self.lam}")
        if self.embedding_lr < 0:
            raise ArgumentError(f"embedding_lr must be >= 0, got {self.embedding_lr}")
        if self.encoder_init not in ENCODER_INITS:
            raise ArgumentError(
                f"unknown encoder_init {self.encoder_init!r}; allowed: {ENCODER_INITS}")
        if not self.pretrained and (self.target_lm or self.regularizer == "l2sp"
                                    or self.freeze_encoder):
            raise ArgumentError("target_lm, l2sp and freeze_encoder need pretrained=True")

    def to_dict(self) -> dict:
        return asdict(self)


_FULL = Strategy()
_DISCR = replace(_FULL, discriminative=True, embedding_lr=1.0)
_STLR = replace(_DISCR, schedule="stlr")
_GRADUAL = replace(_STLR, gradual_unfreeze=True)
_ULMFIT = replace(_GRADUAL, target_lm=True)

PRESETS: dict[str, Strategy] = {
    "scratch": Strategy(pretrained=False),
    "vectors": replace(_FULL, encoder_init="vectors"),
    "feature-extraction": replace(_FULL, freeze_encoder=True),
    "full": _FULL,
    "full-lm": replace(_FULL, target_lm=True),
    "discriminative": _DISCR,
    "stlr": _STLR,
    "gradual": _GRADUAL,
    "ulmfit": _ULMFIT,
    "ulmfit-starved": replace(_ULMFIT, embedding_lr=0.0),
    "ulmfit-l2": replace(_ULMFIT, regularizer="l2", lam=1e-5),
    "ulmfit-l2sp": replace(_ULMFIT, regularizer="l2sp", lam=1e-3),
}

DESCRIPTIONS: dict[str, str] = {
    "scratch": "random init, everything trains, one learning rate",
    "vectors": "the source's word vectors (GloVe) only; LSTM layers random; everything trains",
    "feature-extraction": "pretrained encoder frozen, only the head trains",
    "full": "pretrained, everything trains, one learning rate",
    "full-lm": "full, after fine-tuning the LM on target-domain text first",
    "discriminative": "full + discriminative rates (lr / 2.6 per LSTM layer down; the "
                      "embedding keeps the head's rate)",
    "stlr": "discriminative + slanted triangular schedule",
    "gradual": "stlr + gradual unfreezing of the LSTM layers (the embedding trains throughout)",
    "ulmfit": "gradual + target-domain LM fine-tuning first (ULMFiT's three stages)",
    "ulmfit-starved": "ulmfit with the embedding at its ULMFiT rate (lr / 2.6^3) and frozen "
                      "until the last epoch, as in ULMFiT itself",
    "ulmfit-l2": "ulmfit + L2 toward zero (λ=1e-5)",
    "ulmfit-l2sp": "ulmfit + L2-SP toward the pretrained weights (λ=1e-3)",
}


def get_strategy(name: str, **overrides) -> Strategy:
    """A preset by name, optionally with fields changed (``get_strategy('full', lam=0.1)``)."""
    if name not in PRESETS:
        raise ArgumentError(f"unknown strategy {name!r}; allowed: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
