import copy

import pytest
import torch

from transferlib.batching import LanguageModelStream, TextClassificationDataset, make_loader
from transferlib.errors import TrainingError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.regularizers import L2SP
from transferlib.training import ClassificationTask, LanguageModelTask, evaluate, fit, pick_device


def test_language_model_loss_falls_on_a_tiny_corpus(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    cfg = ModelConfig(**{**tiny_cfg.to_dict(), "n_classes": 0})
    lm = LanguageModel(cfg)
    stream = LanguageModelStream(tiny_texts[0] * 10, tiny_vocab, batch_size=4, bptt=8)
    before = evaluate(lm, stream, LanguageModelTask())["loss"]
    hist = fit(lm, stream, None, LanguageModelTask(), torch.optim.Adam(lm.parameters(), 1e-2),
               epochs=20, progress=False)
    after = evaluate(lm, stream, LanguageModelTask())["loss"]
    assert after < before * 0.4  # from uniform (ln 34 = 3.5) to well below
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]


def test_classifier_overfits_a_tiny_labelled_set(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    loader = make_loader(ds, batch_size=4, seed=0)
    fit(model, loader, None, ClassificationTask(), torch.optim.Adam(model.parameters(), 1e-2),
        epochs=40, progress=False)
    assert evaluate(model, make_loader(ds, 14, shuffle=False), ClassificationTask())[
        "accuracy"] == 1.0


def test_bf16_autocast_trains_too(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    hist = fit(model, make_loader(ds, 4), make_loader(ds, 14, shuffle=False), ClassificationTask(),
               torch.optim.Adam(model.parameters(), 1e-2), epochs=25, amp=True, progress=False)
    assert hist["valid_accuracy"].iloc[-1] >= 0.9


def test_accumulation_equals_one_larger_batch(tiny_cfg, tiny_vocab):
    texts = ["a great film", "i hated it", "great fun", "a dull film"] * 2
    labels = ["positive", "negative", "positive", "negative"] * 2
    ds = TextClassificationDataset(texts, labels, tiny_vocab, ["negative", "positive"])
    torch.manual_seed(0)
    base = Classifier(tiny_cfg)
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    big = make_loader(ds, batch_size=8, shuffle=False, bucket=False)
    small = make_loader(ds, batch_size=4, shuffle=False, bucket=False)
    fit(a, big, None, ClassificationTask(), torch.optim.SGD(a.parameters(), 0.5), 1,
        clip=None, progress=False)
    fit(b, small, None, ClassificationTask(), torch.optim.SGD(b.parameters(), 0.5), 1,
        clip=None, progress=False, accumulate=2)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=n)
    assert not torch.equal(a.head[1].weight, base.head[1].weight)


def test_l2sp_keeps_weights_closer_to_w0(tiny_cfg, tiny_vocab, tiny_texts):
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    drifts = []
    for lam in (0.0, 1.0):
        torch.manual_seed(0)
        model = Classifier(tiny_cfg)
        w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
        reg = L2SP(model, lam=lam)
        fit(model, make_loader(ds, 4), None, ClassificationTask(),
            torch.optim.Adam(model.parameters(), 1e-2), epochs=10, regularizer=reg,
            progress=False)
        drifts.append(sum(float((p - w0[n]).norm() ** 2) for n, p in model.named_parameters()
                          if n.startswith("encoder.")))
    assert drifts[1] < drifts[0] / 2


def test_nan_loss_names_the_step_and_rate(tiny_cfg, tiny_vocab, tiny_texts):
    model = Classifier(tiny_cfg)
    with torch.no_grad():
        model.head[4].bias.fill_(float("nan"))
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    with pytest.raises(TrainingError, match=r"epoch 1, step 1 \(learning rates: 1.00e-03"):
        fit(model, make_loader(ds, 4), None, ClassificationTask(),
            torch.optim.Adam(model.parameters(), 1e-3), epochs=1, progress=False)


def test_pick_device_falls_back_only_when_asked():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA was requested"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="allowed"):
        pick_device("tpu")
