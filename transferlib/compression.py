"""Smaller and cheaper models: int8 quantization, magnitude pruning, distillation, LoRA.

Taught in notebook 08 (efficiency); ``python -m transferlib bench`` measures each of them.

- ``quantize_int8``: int8 weights for the embedding, the LSTMs and the head. This torch deprecates
  ``torch.ao.quantization`` and points to torchao's ``quantize_``, but torchao's ``quantize_``
  only swaps ``nn.Linear`` weights (its default filter is ``isinstance(mod, nn.Linear)``) and
  has no LSTM path, so the LSTM — most of the model's compute — would stay fp32. We therefore
  still call ``torch.ao.quantization.quantize_dynamic`` and hand its deprecation warnings back
  to the caller, who reports them next to the numbers.
- ``prune_magnitude``: L1 (magnitude) unstructured pruning with ``torch.nn.utils.prune``.
- ``DistillationTask``: a student learns from a teacher's softened logits (Hinton et al. 2015),
  with the same interface as ``tasks.ClassificationTask`` so ``fit`` trains it.
- ``LoRALSTM`` / ``apply_lora``: a low-rank update ``W + (alpha/r) B A`` on each LSTM's input
  and hidden weight matrices (Hu et al. 2021), base weights frozen, head trainable.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils import prune

from transferlib.errors import ArgumentError
from transferlib.model import Classifier, ModelConfig

LORA_TARGETS = ("weight_ih_l0", "weight_hh_l0")


# ----------------------------------------------------------------------------- quantization
def quantize_int8(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A copy of ``model`` with int8 weights (dynamic quantization, CPU inference only).

    LSTM and Linear weights become ``qint8`` (activations are quantized on the fly per batch);
    the embedding becomes ``quint8`` with one float scale per row. Returns the quantized copy
    and the (deduplicated) warnings torch raised, e.g. its deprecation notice. Taught in
    notebook 08.
    """
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        quantize_dynamic,
    )

    spec = {nn.Embedding: float_qparams_weight_only_qconfig,
            nn.LSTM: default_dynamic_qconfig, nn.Linear: default_dynamic_qconfig}
    source = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantized = quantize_dynamic(source, spec, dtype=torch.qint8)
    messages = list(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
    return quantized, messages


def _tensor_bytes(t: torch.Tensor) -> int:
    if t.is_quantized:
        extra = 8 if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric) else (
            t.q_per_channel_scales().numel() * 8)
        return t.numel() * t.element_size() + extra
    return t.numel() * t.element_size()


def model_bytes(model: nn.Module) -> int:
    """Bytes of the weights as stored: parameters and buffers, and for dynamically quantized
    modules their int8 weights plus scales (read through the modules' accessors, never by
    pickling). Taught in notebook 08."""
    total, seen = 0, set()
    for module in model.modules():
        weights: list[torch.Tensor] = []
        if hasattr(module, "get_weight") and hasattr(module, "get_bias"):  # quantized LSTM
            weights += list(module.get_weight().values()) + list(module.get_bias().values())
        elif callable(getattr(module, "weight", None)):  # quantized Linear / Embedding
            weights.append(module.weight())
            bias = module.bias() if callable(getattr(module, "bias", None)) else None
            if isinstance(bias, torch.Tensor):
                weights.append(bias)
        for t in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False)):
            weights.append(t)
        for t in weights:
            key = (t.data_ptr(), t.numel(), t.dtype) if not t.is_quantized else id(t)
            if key not in seen:
                seen.add(key)
                total += _tensor_bytes(t)
    return total


# ----------------------------------------------------------------------------- pruning
def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The weight matrices magnitude pruning acts on: embedding, LSTM input/hidden weights and
    Linear weights (biases are left dense)."""
    out = []
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            out += [(module, n) for n, _ in module.named_parameters() if n.startswith("weight_")]
        elif isinstance(module, nn.Linear | nn.Embedding):
            out.append((module, "weight"))
    return out


def prune_magnitude(model: nn.Module, amount: float) -> nn.Module:
    """A copy of ``model`` where each prunable weight matrix keeps only its largest
    ``1 - amount`` fraction of entries by magnitude (``torch.nn.utils.prune.l1_unstructured``,
    made permanent with ``prune.remove``). Dense kernels do not skip zeros, so this saves
    nothing at inference unless the weights are stored sparse. Taught in notebook 08."""
    if not 0.0 <= amount < 1.0:
        raise ArgumentError(f"amount must be in [0, 1), got {amount}")
    pruned = copy.deepcopy(model)
    for module, name in prunable(pruned):
        prune.l1_unstructured(module, name, amount=amount)
        prune.remove(module, name)
        if isinstance(module, nn.LSTM):
            module.flatten_parameters()
    return pruned


def sparsity(model: nn.Module) -> tuple[int, int]:
    """``(zeros, total)`` over the prunable weight matrices of ``model``."""
    zeros = total = 0
    for module, name in prunable(model):
        w = getattr(module, name)
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros, total


# ----------------------------------------------------------------------------- distillation
def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float = 2.0) -> torch.Tensor:
    """``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``, averaged over the batch (Hinton et
    al. 2015; the T² keeps gradient sizes comparable across temperatures). Zero exactly when
    the two softened distributions agree. Taught in notebook 08."""
    if temperature <= 0:
        raise ArgumentError(f"temperature must be > 0, got {temperature}")
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
    return kl * t * t


class DistillationTask:
    """Batches ``(ids, lengths, labels)`` → ``alpha · distillation + (1 - alpha) · CE`` for a
    student; the teacher runs in eval mode without gradients. Same interface as
    ``tasks.ClassificationTask`` (``start_epoch``/``step``/``metrics``/``monitor``), so
    ``fit(student, ..., DistillationTask(teacher), ...)`` trains it. Taught in notebook 08."""

    monitor = "accuracy"

    def __init__(self, teacher: nn.Module, temperature: float = 2.0, alpha: float = 0.5,
                 packed: bool = False):
        if not 0.0 <= alpha <= 1.0:
            raise ArgumentError(f"alpha must be in [0, 1], got {alpha}")
        if temperature <= 0:
            raise ArgumentError(f"temperature must be > 0, got {temperature}")
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
        self.packed = packed

    def start_epoch(self, train: bool) -> None:
        self.teacher.eval()

    def step(self, model: nn.Module, batch, device: torch.device):
        ids, lengths, labels = batch
        ids, labels = ids.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        lengths = lengths.to(device)
        logits = model(ids, lengths, packed=self.packed)
        with torch.no_grad():
            teacher_logits = self.teacher(ids, lengths, packed=self.packed)
        hard = F.cross_entropy(logits.float(), labels)
        soft = distillation_loss(logits, teacher_logits, self.temperature)
        loss = self.alpha * soft + (1 - self.alpha) * hard
        correct = (logits.argmax(dim=1) == labels).sum()
        return loss, labels.numel(), correct, int(lengths.sum())

    @staticmethod
    def metrics(loss_sum: float, n: int, correct: float) -> dict[str, float]:
        return {"loss": loss_sum / n, "accuracy": correct / n}


def make_student(teacher: Classifier, hidden_dim: int | None = None,
                 num_layers: int = 1) -> Classifier:
    """A smaller classifier with the teacher's vocabulary and embedding width (its embedding is
    copied from the teacher; the LSTM and head start fresh). Default hidden width: a quarter of
    the teacher's. Taught in notebook 08."""
    cfg = ModelConfig(**{**teacher.cfg.to_dict(), "num_layers": num_layers,
                         "hidden_dim": hidden_dim or max(8, teacher.cfg.hidden_dim // 4)})
    student = Classifier(cfg)
    with torch.no_grad():
        student.encoder.embedding.weight.copy_(teacher.encoder.embedding.weight)
    return student


# ----------------------------------------------------------------------------- LoRA
class LoRALSTM(nn.Module):
    """An ``nn.LSTM`` (one layer, unidirectional) whose input and hidden weight matrices are
    ``W + (alpha/r) · B A``: ``A [r, in]`` random, ``B [4H, r]`` zero, so at start the output
    equals the base LSTM's exactly. The base weights are frozen; the LSTM runs with the merged
    weights via ``torch.func.functional_call``. Taught in notebook 08."""

    def __init__(self, base: nn.LSTM, rank: int = 8, alpha: float = 16.0):
        super().__init__()
        if base.num_layers != 1 or base.bidirectional:
            raise ArgumentError("LoRALSTM wraps a single-layer, unidirectional nn.LSTM")
        if rank < 1:
            raise ArgumentError(f"rank must be >= 1, got {rank}")
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.ParameterDict()
        self.lora_B = nn.ParameterDict()
        for name in LORA_TARGETS:
            out_dim, in_dim = getattr(base, name).shape
            a = torch.empty(rank, in_dim)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.lora_A[name] = nn.Parameter(a)
            self.lora_B[name] = nn.Parameter(torch.zeros(out_dim, rank))

    def merged_weights(self) -> dict[str, torch.Tensor]:
        """``{name: W + scale · B A}`` for the two adapted matrices."""
        return {name: getattr(self.base, name)
                + self.scale * (self.lora_B[name] @ self.lora_A[name])
                for name in LORA_TARGETS}

    def forward(self, x, hx=None):
        return functional_call(self.base, self.merged_weights(), (x, hx))

    def merge(self) -> nn.LSTM:
        """A plain ``nn.LSTM`` holding the merged weights (for inference)."""
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            for name, w in self.merged_weights().items():
                getattr(merged, name).copy_(w)
        for p in merged.parameters():
            p.requires_grad_(True)
        return merged


def apply_lora(model: Classifier, rank: int = 8, alpha: float = 16.0) -> Classifier:
    """Wrap each LSTM layer of ``model`` (in place) in a ``LoRALSTM`` and freeze everything but
    the low-rank factors and the head. Returns ``model``. Taught in notebook 08."""
    if not isinstance(model, Classifier):
        raise TypeError(f"apply_lora expects a Classifier, got {type(model).__name__}")
    for p in model.parameters():
        p.requires_grad_(False)
    layers = model.encoder.layers
    for i, layer in enumerate(layers):
        if isinstance(layer, LoRALSTM):
            raise ArgumentError(f"encoder layer {i} already has LoRA")
        wrapped = LoRALSTM(layer, rank, alpha).to(layer.weight_ih_l0.device)
        layers[i] = wrapped
    for p in model.head.parameters():
        p.requires_grad_(True)
    return model


def merge_lora(model: Classifier) -> Classifier:
    """Replace every ``LoRALSTM`` layer (in place) by a plain LSTM with the merged weights, so
    the model has the original architecture again (and can be saved/loaded as usual)."""
    layers = model.encoder.layers
    for i, layer in enumerate(layers):
        if isinstance(layer, LoRALSTM):
            layers[i] = layer.merge()
    return model
