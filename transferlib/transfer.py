"""Moving a pretrained encoder into a new model, including vocabulary transfer.

Taught in notebook 06. The target task's vocabulary is the source vocabulary plus the target's
own frequent words (``build_target_vocab``), so every word the source model knows keeps its
learned vector. ``transfer_encoder`` copies the LSTM weights and, row by row, the embeddings of
the words both vocabularies share. A word new to the source model takes its pretrained GloVe
vector when ``vectors`` has one (its own, or composed from its parts), and the mean source
embedding otherwise. It returns a report of where every row came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from transferlib.errors import CheckpointError
from transferlib.model import Classifier, LanguageModel
from transferlib.text import SPECIALS, Vocab, tokenize
from transferlib.vectors import WordVectors


@dataclass
class TransferReport:
    """What ``transfer_encoder`` did: how many embedding rows were copied or initialised."""

    target_vocab_size: int
    copied: int
    new: int
    new_examples: list[str] = field(default_factory=list)
    init: str = "mean of the source embeddings"
    from_vectors: int = 0
    composed: int = 0
    vectors_unused: str = ""  # why word vectors that were given could not be used, if so

    def __str__(self) -> str:
        via = (f"{self.from_vectors} new words from GloVe ({self.composed} of them composed "
               f"from their parts), " if self.from_vectors else "")
        unused = f"; {self.vectors_unused}" if self.vectors_unused else ""
        return (f"vocabulary transfer: {self.copied} of {self.target_vocab_size} target words "
                f"copied from the source model, {via}{self.new - self.from_vectors} new "
                f"({self.init}), e.g. {self.new_examples[:8]}{unused}")


def build_target_vocab(source_vocab: Vocab, texts: Iterable[str], min_freq: int = 2) -> Vocab:
    """Source vocabulary + target words seen at least ``min_freq`` times in ``texts``."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(tokenize(t))
    return source_vocab.extend(counts, min_freq=min_freq)


def vocab_from_vectors(texts: Iterable[str], vectors: WordVectors, min_freq: int = 2,
                       max_size: int | None = None) -> Vocab:
    """The words of ``texts`` seen ``min_freq`` times that have a pretrained vector, most
    frequent first (the source model v2's vocabulary; words without a vector become <unk>)."""
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(tokenize(t))
    kept = Counter({w: n for w, n in counts.items() if vectors.get(w)[0] is not None})
    return Vocab.from_counts(kept, min_freq=min_freq, max_size=max_size)


def embedding_from_vectors(embedding: torch.nn.Embedding, vocab: Vocab,
                           vectors: WordVectors) -> dict[str, int]:
    """Fill ``embedding``'s rows with the words' pretrained vectors; ``<unk>`` gets the mean
    vector, ``<eos>``/``<bos>`` the vector of '.', ``<pad>`` zeros. Returns counts by origin."""
    if embedding.weight.shape != (len(vocab), vectors.dim):
        raise CheckpointError(f"embedding of shape {tuple(embedding.weight.shape)} cannot take "
                              f"{len(vocab)} words x {vectors.dim}-d vectors")
    how = Counter()
    rows = []
    for tok in vocab.itos[len(SPECIALS):]:
        vec, origin = vectors.get(tok)
        how[origin] += 1
        rows.append(vec if vec is not None else torch.zeros(vectors.dim))
    with torch.no_grad():
        w = embedding.weight
        w[len(SPECIALS):] = torch.stack(rows).to(w.dtype)
        w[vocab.unk_id] = vectors.vectors.mean(dim=0).to(w.dtype)
        stop = vectors.get(".")[0]
        for special in (vocab.bos_id, vocab.eos_id):
            w[special] = (stop if stop is not None else vectors.vectors.mean(dim=0)).to(w.dtype)
        w[vocab.pad_id].zero_()
    return dict(how)


def _check_sizes(target: Classifier | LanguageModel, source: LanguageModel,
                 target_vocab: Vocab) -> None:
    if len(target_vocab) != target.cfg.vocab_size:
        raise CheckpointError(f"target vocabulary has {len(target_vocab)} tokens but the target "
                              f"model expects {target.cfg.vocab_size}")
    for name in ("emb_dim", "hidden_dim", "num_layers", "encoder_dim"):
        s, t = getattr(source.cfg, name), getattr(target.cfg, name)
        if s != t:
            raise CheckpointError(f"cannot transfer: source {name}={s} but target {name}={t}")


def _copy_output(target: LanguageModel, source: LanguageModel, source_vocab: Vocab,
                 target_vocab: Vocab) -> None:
    """The LM's output bias (and projection), mapped word by word over the output vocabulary."""
    bias = target.decoder_bias
    bias.fill_(float(source.decoder_bias[len(SPECIALS):].mean()))
    for i, tok in enumerate(target_vocab.itos[: target.cfg.n_output]):
        j = source_vocab.stoi.get(tok)
        if j is not None and j < source.cfg.n_output:
            bias[i] = source.decoder_bias[j]
    if target.projection is not None:
        target.projection.load_state_dict(source.projection.state_dict())


def transfer_encoder(
    target: Classifier | LanguageModel,
    source: LanguageModel,
    source_vocab: Vocab,
    target_vocab: Vocab,
    vectors: WordVectors | None = None,
) -> TransferReport:
    """Copy ``source``'s encoder into ``target``'s, mapping embedding rows by word.

    The LSTM sizes must agree (the error names the first mismatch). Words the source lacks
    start from ``vectors`` when given (and the vectors' width equals the embedding's), else
    from the mean source embedding. For a language-model target the output bias is mapped too.
    """
    _check_sizes(target, source, target_vocab)
    src_emb = source.encoder.embedding.weight.detach()
    mean = src_emb[len(SPECIALS):].float().mean(dim=0)
    unused = ""
    if vectors is not None and vectors.dim != src_emb.shape[1]:
        # e.g. a source with a 200-d embedding: 50-d GloVe vectors cannot fill its rows
        unused = (f"word vectors not used: they are {vectors.dim}-d, the source embedding is "
                  f"{src_emb.shape[1]}-d (new words start from the mean instead)")
        vectors = None
    src_ids, tgt_ids, new = [], [], []  # new: (target id, word) of words the source lacks
    from_vec: dict[int, torch.Tensor] = {}
    composed = 0
    for i, tok in enumerate(target_vocab.itos):
        j = source_vocab.stoi.get(tok)
        if j is not None:
            src_ids.append(j)
            tgt_ids.append(i)
            continue
        new.append((i, tok))
        if vectors is not None:
            vec, how = vectors.get(tok)
            if vec is not None:
                from_vec[i] = vec
                composed += how == "composed"
    with torch.no_grad():
        emb = target.encoder.embedding.weight
        emb.copy_(mean.expand_as(emb))
        emb[tgt_ids] = src_emb[src_ids].to(emb.dtype)
        if from_vec:
            emb[list(from_vec)] = torch.stack(list(from_vec.values())).to(emb.dtype)
        emb[target_vocab.pad_id].zero_()
        for t_layer, s_layer in zip(target.encoder.layers, source.encoder.layers):
            t_layer.load_state_dict(s_layer.state_dict())
        if isinstance(target, LanguageModel):
            _copy_output(target, source, source_vocab, target_vocab)
    at_mean = [tok for i, tok in new if i not in from_vec]
    return TransferReport(len(target_vocab), copied=len(tgt_ids), new=len(new),
                          new_examples=at_mean[:20], from_vectors=len(from_vec),
                          composed=composed, vectors_unused=unused)
