"""Notebook 04, exercise: ``l2sp_penalty(model, w0, beta)``, the L2-SP term
R(w) = Σ_pretrained ‖w − w₀‖² + β Σ_new ‖w‖², written by hand, then used in the notebook's
training loop to measure how far it lets the encoder drift. Open this only after trying."""

import torch
import torch.nn.functional as F

from transferlib.batching import TextClassificationDataset, make_loader
from transferlib.checkpoint import load_model
from transferlib.config import fast_mode, source_model_dir
from transferlib.model import Classifier, ModelConfig
from transferlib.regularizers import L2SP, weight_drift
from transferlib.training import set_seed
from transferlib.transfer import transfer_encoder
from transferlib.workbook.exercises.objective import check_l2sp_penalty
from transferlib.workbook.objective import labelled_splits, retrain_settings


def is_bias(name):
    return name.rsplit(".", 1)[-1].startswith("bias")


def l2sp_penalty(model, w0, beta=0.1):
    """Σ over the anchored weights of ‖w − w₀‖², plus beta × ‖w‖² over the other weight
    matrices (the new head, which has no pretrained value to return to)."""
    drift = sum(((p - w0[n]) ** 2).sum() for n, p in model.named_parameters() if n in w0)
    head = sum((p ** 2).sum() for n, p in model.named_parameters()
               if n not in w0 and not is_bias(n))
    return drift + beta * head


if check_l2sp_penalty(l2sp_penalty):
    # the measured effect: the notebook's loop with this penalty and with transferlib's L2SP
    lm, vocab, _ = load_model(source_model_dir())
    train, _ = labelled_splits(retrain_settings())
    data = TextClassificationDataset(train["text"], train["label"], vocab,
                                     ["negative", "positive"], max_len=48)
    steps = 3 if fast_mode() else 30

    def fresh():
        set_seed(0)
        model = Classifier(ModelConfig(**{**lm.cfg.to_dict(), "n_classes": 2}))
        transfer_encoder(model, lm, vocab, vocab)
        return model

    drifts = {}
    for who in ("by hand", "transferlib L2SP"):
        model = fresh()
        w0 = {n: p.detach().clone() for n, p in model.named_parameters()
              if n.startswith("encoder.") and not is_bias(n)}
        library = L2SP(model, lam=1.0)
        penalty = (lambda m=model, a=w0: l2sp_penalty(m, a)) if who == "by hand" else library
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
        model.train()
        for _, (ids, lengths, labels) in zip(range(steps), make_loader(data, 16, seed=0)):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(ids, lengths), labels) + 1e-2 * penalty()
            loss.backward()
            optimizer.step()
        drifts[who] = weight_drift(model, w0)
    print({k: round(v, 4) for k, v in drifts.items()}, "(the same drift: the same penalty)")
