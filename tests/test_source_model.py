"""The shipped source model (data/source_model) without transferlib: safetensors + json + plain
torch rebuild it, and its next-word predictions equal transferlib's and make sense."""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from transferlib.checkpoint import load_model
from transferlib.config import source_model_dir
from transferlib.text import numericalize


def _plain_torch_lm(folder):
    """The LM from its files alone: embedding → LSTM layers → tied softmax."""
    config = json.loads((folder / "config.json").read_text("utf-8"))["model"]
    itos = json.loads((folder / "vocab.json").read_text("utf-8"))["itos"]
    weights = {k: v.float() for k, v in load_file(folder / "model.safetensors").items()}
    emb = weights["encoder.embedding.weight"]
    sizes = [config["emb_dim"]] + [config["hidden_dim"]] * (config["num_layers"] - 1) + \
        [config["emb_dim"]]
    layers = []
    for i in range(config["num_layers"]):
        lstm = torch.nn.LSTM(sizes[i], sizes[i + 1], batch_first=True)
        lstm.load_state_dict({k.split(".", 3)[-1]: v for k, v in weights.items()
                              if k.startswith(f"encoder.layers.{i}.")})
        layers.append(lstm.eval())

    def logits(ids: torch.Tensor) -> torch.Tensor:
        x = emb[ids]
        for lstm in layers:
            x, _ = lstm(x)
        return F.linear(x, emb, weights["decoder_bias"])

    return logits, itos, config


def test_source_model_loads_with_only_safetensors_json_and_torch():
    folder = source_model_dir()
    logits, itos, config = _plain_torch_lm(folder)
    assert len(itos) == config["vocab_size"] == 10_000
    lm, vocab, _ = load_model(folder)
    assert vocab.itos == itos
    ids = torch.tensor([numericalize("the president said that the united", vocab)])
    with torch.no_grad():
        plain = logits(ids)
        ours, _ = lm.eval()(ids)
    assert torch.allclose(plain, ours.float(), atol=1e-3)
    assert itos[int(plain[0, -1].argmax())] == "states"
