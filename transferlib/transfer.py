"""Moving a pretrained encoder into a new model, including vocabulary transfer.

Taught in notebook 05. The target task's vocabulary is the source vocabulary plus the target's
own frequent words (``build_target_vocab``), so every word the source model knows keeps its
learned vector. ``transfer_encoder`` copies the LSTM weights and, row by row, the embeddings of
the words both vocabularies share; words new to the source start at the mean source embedding.
It returns a report of the mapping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from .errors import CheckpointError
from .model import Classifier, LanguageModel
from .text import SPECIALS, Vocab, tokenize


@dataclass
class TransferReport:
    """What ``transfer_encoder`` did: how many embedding rows were copied or initialised."""

    target_vocab_size: int
    copied: int
    new: int
    new_examples: list[str] = field(default_factory=list)
    init: str = "mean of the source embeddings"

    def __str__(self) -> str:
        return (f"vocabulary transfer: {self.copied} of {self.target_vocab_size} target words "
                f"copied from the source model, {self.new} new ({self.init}), e.g. "
                f"{self.new_examples[:8]}")


def build_target_vocab(source_vocab: Vocab, texts: Iterable[str], min_freq: int = 2) -> Vocab:
    """Source vocabulary + target words seen at least ``min_freq`` times in ``texts``."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(tokenize(t))
    return source_vocab.extend(counts, min_freq=min_freq)


def transfer_encoder(
    target: Classifier | LanguageModel,
    source: LanguageModel,
    source_vocab: Vocab,
    target_vocab: Vocab,
) -> TransferReport:
    """Copy ``source``'s encoder into ``target``'s, mapping embedding rows by word.

    The LSTM sizes must agree (the error names the first mismatch). For a language-model
    target the output bias is mapped the same way.
    """
    if len(target_vocab) != target.cfg.vocab_size:
        raise CheckpointError(f"target vocabulary has {len(target_vocab)} tokens but the target "
                              f"model expects {target.cfg.vocab_size}")
    for name in ("emb_dim", "hidden_dim", "num_layers"):
        s, t = getattr(source.cfg, name), getattr(target.cfg, name)
        if s != t:
            raise CheckpointError(f"cannot transfer: source {name}={s} but target {name}={t}")
    src_emb = source.encoder.embedding.weight.detach()
    words = src_emb[len(SPECIALS):]
    mean = words.mean(dim=0)
    src_ids, tgt_ids, new = [], [], []
    for i, tok in enumerate(target_vocab.itos):
        j = source_vocab.stoi.get(tok)
        if j is None:
            new.append(tok)
        else:
            src_ids.append(j)
            tgt_ids.append(i)
    with torch.no_grad():
        emb = target.encoder.embedding.weight
        emb.copy_(mean.expand_as(emb))
        emb[tgt_ids] = src_emb[src_ids].to(emb.dtype)
        emb[target_vocab.pad_id].zero_()
        for t_layer, s_layer in zip(target.encoder.layers, source.encoder.layers):
            t_layer.load_state_dict(s_layer.state_dict())
        if isinstance(target, LanguageModel):
            bias = target.decoder_bias
            bias.fill_(float(source.decoder_bias[len(SPECIALS):].mean()))
            bias[tgt_ids] = source.decoder_bias.detach()[src_ids]
    return TransferReport(len(target_vocab), copied=len(tgt_ids), new=len(new),
                          new_examples=new[:20])
