"""The cost of a softmax over tens of thousands of words, measured (taught in notebook 08).

Source model v2 reads ~30 k words, so its output layer is the largest cost of pretraining.
``compare_softmax`` trains the same encoder for the same number of steps with each output layer
and reports tokens/s (median of chunks) and the validation loss:

- ``tied-full``: tied 50-d softmax over every word;
- ``tied-topN``: tied softmax over the N most frequent words only, rarer words count as
  ``<unk>`` (``ModelConfig.output_vocab_size``; its perplexity is over fewer classes, so the
  table also gives the share of targets that became ``<unk>``);
- ``adaptive``: ``torch.nn.AdaptiveLogSoftmaxWithLoss`` (Grave et al. 2017), untied, over every
  word: a head for the frequent words and cheaper, lower-rank clusters for the rest.

Run: ``python -m transferlib.bench.softmax [--steps N]`` (writes results/bench/softmax.csv).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from transferlib.batching import LanguageModelStream
from transferlib.devices import autocast
from transferlib.model import LanguageModel, ModelConfig
from transferlib.text import Vocab


class AdaptiveLM(nn.Module):
    """The v2 encoder with an adaptive softmax instead of the tied one (benchmark only)."""

    def __init__(self, cfg: ModelConfig, cutoffs: list[int]):
        super().__init__()
        self.lm = LanguageModel(cfg)  # reuse the encoder; its tied decoder stays unused
        self.cfg = cfg
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(cfg.encoder_dim, cfg.vocab_size, cutoffs,
                                                      div_value=4.0)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor, state=None):
        out, state = self.lm.encoder(ids, state=state)
        out = self.lm.out_dropout(out)
        # in float32 outside autocast: under bf16 autocast the head's projections return bf16,
        # which its index_copy_ into a float32 output refuses (AVX-512-bf16 CPUs, CUDA)
        with torch.autocast(out.device.type, enabled=False):
            result = self.adaptive(out.reshape(-1, out.size(-1)).float(), targets.reshape(-1))
        return result.loss, state


def _loss(model: nn.Module, ids, targets, state):
    if isinstance(model, AdaptiveLM):
        return model.loss(ids, targets, state)
    logits, state = model(ids, state)
    targets = model.output_targets(targets)
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1)), state


def _run(model: nn.Module, train: LanguageModelStream, valid: LanguageModelStream, steps: int,
         amp: bool, chunk: int = 10) -> dict:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    state, rates, n_done, t0, tokens = None, [], 0, time.perf_counter(), 0
    for ids, targets in train:
        with autocast(torch.device("cpu"), amp):
            loss, state = _loss(model, ids, targets, state)
        state = [(h.detach(), c.detach()) for h, c in state]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        n_done += 1
        tokens += targets.numel()
        if n_done % chunk == 0:
            rates.append(tokens / (time.perf_counter() - t0))
            t0, tokens = time.perf_counter(), 0
        if n_done >= steps:
            break
    if not rates and n_done:  # fewer steps than one chunk: the rate over all of them
        rates.append(tokens / (time.perf_counter() - t0))
    model.eval()
    total, n, state = 0.0, 0, None
    with torch.no_grad():
        for ids, targets in valid:
            with autocast(torch.device("cpu"), amp):
                loss, state = _loss(model, ids, targets, state)
            total += float(loss) * targets.numel()
            n += targets.numel()
    return {"tokens_per_s": statistics.median(rates) if rates else float("nan"),
            "valid_loss": total / max(1, n), "valid_perplexity": math.exp(min(total / n, 50))}


def compare_softmax(train_texts: list[str], valid_texts: list[str], vocab: Vocab,
                    embedding: torch.Tensor, sizes: dict, steps: int = 100,
                    top_n: tuple[int, ...] = (20000, 10000), amp: bool = True,
                    seed: int = 0) -> pd.DataFrame:
    """One row per output layer: tokens/s, validation loss/perplexity after ``steps`` steps."""
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=embedding.shape[1], **sizes)
    arms: dict[str, tuple[nn.Module, int]] = {"tied-full": (LanguageModel(cfg), len(vocab))}
    for n in top_n:
        if n < len(vocab):
            arms[f"tied-top{n // 1000}k"] = (LanguageModel(ModelConfig(
                **{**cfg.to_dict(), "output_vocab_size": n})), n)
    cut = [c for c in (2000, 10000) if c < len(vocab) - 1]
    arms["adaptive"] = (AdaptiveLM(cfg, cut), len(vocab))
    stream_ids = LanguageModelStream(valid_texts, vocab, 16, 64)
    unk_share = {}
    rows = []
    for name, (model, n_out) in arms.items():
        torch.manual_seed(seed)
        enc = model.lm.encoder if isinstance(model, AdaptiveLM) else model.encoder
        with torch.no_grad():
            enc.embedding.weight.copy_(embedding)
        enc.embedding.weight.requires_grad_(False)
        train = LanguageModelStream(train_texts, vocab, 64, 64, seed=seed)
        result = _run(model, train, stream_ids, steps, amp)
        targets = torch.cat([t.reshape(-1) for _, t in stream_ids])
        unk_share[name] = float(((targets >= n_out) | (targets == vocab.unk_id)).float().mean())
        rows.append({"softmax": name, "output_words": n_out, "steps": steps, **result,
                     "valid_targets_unk": unk_share[name]})
    frame = pd.DataFrame(rows)
    frame["speed_vs_tied_full"] = frame["tokens_per_s"] / frame["tokens_per_s"].iloc[0]
    return frame


def main(argv: list[str] | None = None) -> int:
    from transferlib.config import fast_mode, positive_int
    from transferlib.errors import exit_status

    parser = argparse.ArgumentParser(prog="python -m transferlib.bench.softmax")
    parser.add_argument("--steps", type=positive_int, default=None)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--fast", action="store_true", help="tiny data (as TRANSFERLIB_FAST=1)")
    args = parser.parse_args(argv)
    return exit_status(lambda: _main(args, args.fast or fast_mode()))


def _main(args: argparse.Namespace, fast: bool) -> int:
    from transferlib import datasets
    from transferlib.transfer import embedding_from_vectors, vocab_from_vectors
    from transferlib.vectors import load_word_vectors

    train = datasets.load_source_sentences("both", "train")
    valid = datasets.load_source_sentences("both", "valid")
    if fast:
        train, valid = train[::40], valid[::40]
    vectors = load_word_vectors()
    vocab = vocab_from_vectors(train, vectors, min_freq=2)
    emb = nn.Embedding(len(vocab), vectors.dim)
    embedding_from_vectors(emb, vocab, vectors)
    sizes = ({"hidden_dim": 64, "out_dim": 32} if fast else {"hidden_dim": 512, "out_dim": 256})
    frame = compare_softmax(train, valid[: len(valid) // 4], vocab, emb.weight.detach(), sizes,
                            steps=args.steps or (5 if fast else 100),
                            top_n=(1000,) if fast else (20000, 10000))
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "softmax.csv", index=False)
    print(frame.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
