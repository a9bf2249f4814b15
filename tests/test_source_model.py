"""The shipped source models (data/source_model = v2, data/source_model_v1) without transferlib:
safetensors + json + plain torch rebuild them, and their next-word predictions equal
transferlib's and make sense; v2's embedding is the shipped GloVe vectors."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from transferlib.checkpoint import load_model
from transferlib.config import small_source_model_dir, source_model_dir
from transferlib.text import numericalize


def _plain_torch_lm(folder):
    """The LM from its files alone: embedding → LSTM layers → tied softmax."""
    config = json.loads((folder / "config.json").read_text("utf-8"))["model"]
    itos = json.loads((folder / "vocab.json").read_text("utf-8"))["itos"]
    weights = {k: v.float() for k, v in load_file(folder / "model.safetensors").items()}
    emb = weights["encoder.embedding.weight"]
    last = config.get("out_dim") or config["emb_dim"]
    n_out = config.get("output_vocab_size") or config["vocab_size"]
    sizes = [config["emb_dim"]] + [config["hidden_dim"]] * (config["num_layers"] - 1) + [last]
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
        if "projection.weight" in weights:
            x = x @ weights["projection.weight"].T
        return F.linear(x, emb[:n_out], weights["decoder_bias"])

    return logits, itos, config


@pytest.mark.parametrize("folder", [source_model_dir(), small_source_model_dir()],
                         ids=["v2", "v1"])
def test_source_model_loads_with_only_safetensors_json_and_torch(folder):
    logits, itos, config = _plain_torch_lm(folder)
    assert len(itos) == config["vocab_size"] >= 10_000
    lm, vocab, _ = load_model(folder)
    assert vocab.itos == itos
    ids = torch.tensor([numericalize("the president said that the united", vocab)])
    with torch.no_grad():
        plain = logits(ids)
        ours, _ = lm.eval()(ids)
    assert torch.allclose(plain, ours.float(), atol=1e-3)
    assert itos[int(plain[0, -1].argmax())] == "states"


def test_v2_embedding_is_the_frozen_glove_vectors():
    from transferlib.vectors import load_word_vectors

    glove = load_word_vectors()
    lm, vocab, config = load_model(source_model_dir())
    assert config["meta"]["embedding"] == "frozen pretrained vectors"
    emb = lm.encoder.embedding.weight
    for word in ("film", "masterpiece", "boring", "president"):
        if word in vocab:
            # bf16 storage of fp16 GloVe: equal to ~3 significant digits
            torch.testing.assert_close(emb[vocab.stoi[word]], glove.get(word)[0],
                                       rtol=1e-2, atol=1e-2)


def test_v2_datacard_quotes_its_metrics():
    folder = source_model_dir()
    card = (folder / "README.md").read_text("utf-8")
    metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    for value in (f"**{metrics['valid_perplexity']:.1f}**", f"**{metrics['test_perplexity']:.1f}**",
                  f"{metrics['parameters']:,}", f"{metrics['trainable_parameters']:,}",
                  f"{metrics['vocab_size']:,} tokens", f"{metrics['seconds']:,.0f} s",
                  f"{metrics['train_tokens']:,} training tokens"):
        assert value in card, value
