"""The machine's limit: matmul FLOP/s, the FLOPs of an LSTM step, and where the time goes.

Taught in notebook 08 (``python -m transferlib bench``). FLOPs are counted analytically, per
token, as multiply-adds × 2 of the matrix products (element-wise gate arithmetic, ~30·h per
token and layer, is left out; it is < 1 % here):

    LSTM layer l (input d_l, hidden h_l), forward:  8 · h_l · (d_l + h_l)
        (four gates, each an [h_l × d_l] and an [h_l × h_l] matrix-vector product)
    tied softmax (embedding width D, vocabulary V):  2 · D · V
    training step ≈ 3 × forward  (backward = gradients w.r.t. inputs + w.r.t. weights)

so LM pretraining costs ``3 · (Σ_l 8 h_l (d_l + h_l) + 2 D V)`` FLOPs per token and classifier
fine-tuning ``3 · Σ_l 8 h_l (d_l + h_l)`` per real (non-pad) token (the head runs once per
sentence and is negligible). Achieved FLOP/s = FLOPs per token × measured tokens/s, compared
with a large square matmul measured in the same run at the same precision.
"""

from __future__ import annotations

import statistics
import time

import torch

from transferlib import datasets
from transferlib.batching import LanguageModelStream
from transferlib.errors import ArgumentError
from transferlib.model import LanguageModel, ModelConfig
from transferlib.tasks import LanguageModelTask
from transferlib.training import TrainConfig, fit, set_seed


def lstm_layer_sizes(cfg: ModelConfig) -> list[tuple[int, int]]:
    """``(input width, hidden width)`` of each LSTM layer of the encoder."""
    sizes = [cfg.emb_dim] + [cfg.hidden_dim] * (cfg.num_layers - 1) + [cfg.encoder_dim]
    return [(sizes[i], sizes[i + 1]) for i in range(cfg.num_layers)]


def lstm_forward_flops(cfg: ModelConfig) -> int:
    """Forward FLOPs per token of the LSTM stack: ``Σ_l 8 h_l (d_l + h_l)``."""
    return sum(8 * h * (d + h) for d, h in lstm_layer_sizes(cfg))


def lm_train_flops_per_token(cfg: ModelConfig) -> int:
    """Training FLOPs per token of the language model: ``3 (LSTM + projection + 2 D V_out)``."""
    projection = 2 * cfg.encoder_dim * cfg.emb_dim if cfg.encoder_dim != cfg.emb_dim else 0
    return 3 * (lstm_forward_flops(cfg) + projection + 2 * cfg.emb_dim * cfg.n_output)


def classifier_train_flops_per_token(cfg: ModelConfig) -> int:
    """Training FLOPs per real token of full classifier fine-tuning: ``3 · LSTM``."""
    return 3 * lstm_forward_flops(cfg)


def matmul_flops(n: int, m: int, k: int, dtype: torch.dtype, device: torch.device,
                 repeats: int = 5) -> float:
    """Median FLOP/s of ``[n × k] @ [k × m]`` (``2 n m k`` FLOPs) on ``device``."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, k, generator=gen).to(device, dtype)
    b = torch.randn(k, m, generator=gen).to(device, dtype)
    inner = max(1, int(2e8 // (2 * n * m * k)))  # small products: time several per sample
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) / inner)
    return 2 * n * m * k / statistics.median(times)


def lm_windows(vocab, batch_size: int, bptt: int, n_windows: int) -> list:
    """``n_windows`` consecutive BPTT windows ``(inputs, targets)`` of source-corpus text (every
    7th sentence of the Brown + State of the Union train split)."""
    sentences = datasets.load_source_sentences("both", "train")[::7]
    stream = LanguageModelStream(sentences, vocab, batch_size, bptt,
                                 max_tokens=batch_size * bptt * n_windows + 1)
    windows = list(stream)[:n_windows]
    if len(windows) < n_windows:
        raise ArgumentError(f"the source corpus gives only {len(windows)} windows of "
                         f"{batch_size} x {bptt}; {n_windows} needed")
    return windows


def _lm_copy(source: LanguageModel, device: torch.device, seed: int):
    set_seed(seed)
    model = LanguageModel(source.cfg)
    model.load_state_dict(source.state_dict())
    model.to(device)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3), LanguageModelTask()


def lm_throughput(source: LanguageModel, windows: list, steps: int, amp: bool,
                  device: torch.device, seed: int) -> float:
    """Median tokens/s over chunks of ``steps`` LM training steps (after one warm-up step) of
    a fresh copy of ``source`` (AdamW, clip 0.25, as in pretraining)."""
    model, optimizer, task = _lm_copy(source, device, seed)
    speeds = []
    for start in range(1, len(windows) - steps + 1, steps):
        if start == 1:
            fit(model, windows[:1], None, task, optimizer,
                TrainConfig(epochs=1, device=device, amp=amp, clip=0.25, progress=False))
        history = fit(model, windows[start:start + steps], None, task, optimizer,
                      TrainConfig(epochs=1, device=device, amp=amp, clip=0.25, progress=False))
        speeds.append(float(history["tokens_per_s"].iloc[0]))
    return statistics.median(speeds)


GROUPS = ("lstm", "matmul", "softmax+loss", "optimizer", "other")


def op_group(name: str) -> str:
    """Which of ``GROUPS`` a profiler op belongs to (by its name)."""
    key = name.lower()
    if "lstm" in key or "rnn" in key:
        return "lstm"
    if any(s in key for s in ("aten::mm", "addmm", "bmm", "matmul", "linear", "gemm")):
        return "matmul"
    if any(s in key for s in ("softmax", "nll", "cross_entropy", "argmax")):
        return "softmax+loss"
    if any(s in key for s in ("optimizer", "adam", "clip", "clamp", "norm", "zero_grad")):
        return "optimizer"
    return "other"


def profile_lm(source: LanguageModel, windows: list, amp: bool, device: torch.device,
               seed: int, top: int = 12) -> dict:
    """``torch.profiler`` over LM training steps on ``windows[1:]`` (after one warm-up step):
    the top ops by self time, and the share of self time in LSTM kernels, in matrix products
    and in everything else."""
    from torch.profiler import ProfilerActivity, profile

    model, optimizer, task = _lm_copy(source, device, seed)
    fit(model, windows[:1], None, task, optimizer,
        TrainConfig(epochs=1, device=device, amp=amp, clip=0.25, progress=False))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    with profile(activities=activities) as prof:
        fit(model, windows[1:], None, task, optimizer,
            TrainConfig(epochs=1, device=device, amp=amp, clip=0.25, progress=False))
    on_gpu = device.type == "cuda"
    events = list(prof.key_averages())

    def self_us(e) -> float:
        return float(e.self_device_time_total if on_gpu else e.self_cpu_time_total)

    total = sum(self_us(e) for e in events) or 1.0
    events.sort(key=self_us, reverse=True)
    ops = [{"op": e.key, "calls": int(e.count), "self_ms": self_us(e) / 1000,
            "self_pct": 100 * self_us(e) / total} for e in events[:top]]
    groups = dict.fromkeys(GROUPS, 0.0)
    for e in events:
        groups[op_group(e.key)] += self_us(e)
    shares = {k: 100 * v / total for k, v in groups.items()}
    return {"steps": len(windows) - 1, "amp": amp, "clock": "device" if on_gpu else "cpu",
            "top_ops": ops, "share_pct": shares}


def bound_summary(profile_result: dict, recurrence_flops: float, peak: float) -> str:
    """One sentence saying what bounds LM training, from the profile and the matmul probes."""
    share = profile_result["share_pct"]
    parts = ", ".join(f"{share[g]:.0f}% {g}" for g in GROUPS)
    return (f"self time: {parts}; one recurrence step is a small [batch x h] @ [h x 4h] "
            f"product that runs at {recurrence_flops / 1e9:.1f} GFLOP/s = "
            f"{100 * recurrence_flops / peak:.0f}% of the large-matmul peak, and the steps of a "
            "window must run one after another")
