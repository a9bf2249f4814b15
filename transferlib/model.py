"""The models: one LSTM encoder, two heads (language model, classifier).

Taught in notebooks 02, 03, 05, 06. The encoder is an embedding followed by a stack of one-layer
``nn.LSTM`` modules (one module per layer, so each layer can be frozen or given its own learning
rate); the last layer's output width equals the embedding width so the language model can tie
its output weights to the embedding (Press & Wolf 2017; Inan et al. 2017). The classifier pools
over the *valid* positions only (last real token, max and mean), so padding cannot change it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from transferlib.chunked import DEFAULT_GRAD_CHUNKS, chunked_pool
from transferlib.errors import ArgumentError

State = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class ModelConfig:
    """Sizes and dropout rates of an encoder (+ head); stored as config.json with the weights."""

    vocab_size: int
    emb_dim: int = 200
    hidden_dim: int = 512
    num_layers: int = 2
    emb_dropout: float = 0.1
    layer_dropout: float = 0.25
    out_dropout: float = 0.3
    n_classes: int = 0  # 0: language model; >= 2: classifier
    head_hidden: int = 64
    out_dim: int = 0  # width of the last LSTM layer; 0: emb_dim (tied softmax, no projection)
    output_vocab_size: int = 0  # LM softmax over the first N words only; 0: every word

    @property
    def encoder_dim(self) -> int:
        """Width of the encoder's outputs (the last LSTM layer)."""
        return self.out_dim or self.emb_dim

    @property
    def n_output(self) -> int:
        """Number of words the language model's softmax predicts."""
        return self.output_vocab_size or self.vocab_size

    def __post_init__(self):
        if self.vocab_size < 5:
            raise ArgumentError(f"vocab_size must be >= 5 (4 specials + 1), got {self.vocab_size}")
        if self.num_layers < 1 or self.emb_dim < 1 or self.hidden_dim < 1:
            raise ArgumentError("num_layers, emb_dim and hidden_dim must be >= 1")
        for name in ("emb_dropout", "layer_dropout", "out_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ArgumentError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.out_dim < 0 or not 0 <= self.output_vocab_size <= self.vocab_size:
            raise ArgumentError("out_dim must be >= 0 and output_vocab_size in [0, vocab_size]")
        if self.n_classes == 1 or self.n_classes < 0:
            raise ArgumentError(
                f"n_classes must be 0 (language model) or >= 2, got {self.n_classes}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ArgumentError(f"unknown config fields {unknown}; allowed: {sorted(known)}")
        return cls(**d)


class LSTMEncoder(nn.Module):
    """Embedding + ``num_layers`` LSTM layers; returns every position's output and the state."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=0)
        sizes = [cfg.emb_dim] + [cfg.hidden_dim] * (cfg.num_layers - 1) + [cfg.encoder_dim]
        self.layers = nn.ModuleList(
            nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(cfg.num_layers)
        )
        self.emb_dropout = nn.Dropout(cfg.emb_dropout)
        self.layer_dropout = nn.Dropout(cfg.layer_dropout)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def forward(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
        packed: bool = False,
    ) -> tuple[torch.Tensor, State]:
        """``ids [B, T]`` → ``(outputs [B, T, emb_dim], state)``.

        With right padding, outputs at valid positions never depend on the pads (the LSTM runs
        left to right), so packing is optional: ``packed=True`` skips the pads' computation (this
        pays on cuDNN) at the price of packing each layer's input.
        """
        x = self.emb_dropout(self.embedding(ids))
        new_state: State = []
        for i, lstm in enumerate(self.layers):
            layer_state = None if state is None else state[i]
            if packed and lengths is not None:
                seq = pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                           enforce_sorted=False)
                out, (h, c) = lstm(seq, layer_state)
                x, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
            else:
                x, (h, c) = lstm(x, layer_state)
            new_state.append((h, c))
            if i < len(self.layers) - 1:
                x = self.layer_dropout(x)
        return x, new_state


class LanguageModel(nn.Module):
    """Encoder + a softmax over the vocabulary whose weight *is* the embedding matrix (tied).

    When the last LSTM layer is wider than the embedding (``cfg.out_dim``), a linear projection
    maps it down first; with ``cfg.output_vocab_size`` the softmax covers only the first N
    (most frequent) words and rarer target words count as ``<unk>`` (``output_targets``).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = LSTMEncoder(cfg)
        self.out_dropout = nn.Dropout(cfg.out_dropout)
        self.projection = (nn.Linear(cfg.encoder_dim, cfg.emb_dim, bias=False)
                           if cfg.encoder_dim != cfg.emb_dim else None)
        self.decoder_bias = nn.Parameter(torch.zeros(cfg.n_output))

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """Encoder outputs ``[..., encoder_dim]`` → next-word logits ``[..., n_output]``."""
        if self.projection is not None:
            out = self.projection(out)
        weight = self.encoder.embedding.weight[: self.cfg.n_output]
        return F.linear(out, weight, self.decoder_bias)

    def output_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets the softmax can predict: words beyond ``n_output`` become ``<unk>`` (id 1)."""
        if self.cfg.n_output == self.cfg.vocab_size:
            return targets
        return torch.where(targets < self.cfg.n_output, targets, torch.ones_like(targets))

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``ids [B, T]`` → ``(logits [B, T, n_output], state)``; pass the state on to continue."""
        out, state = self.encoder(ids, state=state)
        return self.decode(self.out_dropout(out)), state


def pool_valid(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concat pooling over valid positions: ``[last real state, max, mean]`` → ``[B, 3*D]``."""
    B, T, _ = outputs.shape
    lengths = lengths.to(outputs.device)
    mask = torch.arange(T, device=outputs.device)[None, :] < lengths[:, None]  # [B, T]
    last = outputs[torch.arange(B, device=outputs.device), lengths - 1]
    neg_inf = torch.finfo(outputs.dtype).min
    maxed = outputs.masked_fill(~mask[..., None], neg_inf).amax(dim=1)
    mean = (outputs * mask[..., None]).sum(dim=1) / lengths[:, None].to(outputs.dtype)
    return torch.cat([last, maxed, mean], dim=1)


class Classifier(nn.Module):
    """Encoder + concat pooling + a small two-layer head (ULMFiT's classifier, without BatchNorm,
    so that one sentence alone and the same sentence in a batch give the same answer)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.n_classes < 2:
            raise ArgumentError("a Classifier needs cfg.n_classes >= 2")
        self.cfg = cfg
        self.encoder = LSTMEncoder(cfg)
        self.head = nn.Sequential(
            nn.Dropout(cfg.out_dropout),
            nn.Linear(3 * cfg.encoder_dim, cfg.head_hidden),
            nn.ReLU(),
            nn.Dropout(cfg.out_dropout / 2),
            nn.Linear(cfg.head_hidden, cfg.n_classes),
        )

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor, packed: bool = False,
        chunk_len: int = 0, grad_chunks: int = DEFAULT_GRAD_CHUNKS,
    ) -> torch.Tensor:
        """``ids [B, T]``, ``lengths [B]`` → class logits ``[B, n_classes]``.

        ``chunk_len > 0`` reads texts longer than ``chunk_len`` in chunks, carrying the state
        and back-propagating through the last ``grad_chunks`` only (``chunked``, notebook 06);
        a batch no longer than one chunk takes the unchunked path, so short texts give exactly
        the unchunked logits.
        """
        if chunk_len and ids.size(1) > chunk_len:
            return self.head(chunked_pool(self.encoder, ids, lengths, chunk_len, grad_chunks))
        out, _ = self.encoder(ids, lengths=lengths, packed=packed)
        return self.head(pool_valid(out, lengths))

    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The pooled sentence vector the head sees (used for prototypes and few-shot)."""
        out, _ = self.encoder(ids, lengths=lengths)
        return pool_valid(out, lengths)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
