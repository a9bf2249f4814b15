import copy

import pytest
import torch

from transferlib.batching import LanguageModelStream, TextClassificationDataset, make_loader
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError, TrainingError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.regularizers import L2SP
from transferlib.tasks import ClassificationTask, LanguageModelTask
from transferlib.training import TrainConfig, evaluate, fit


def test_language_model_loss_falls_on_a_tiny_corpus(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    cfg = ModelConfig(**{**tiny_cfg.to_dict(), "n_classes": 0})
    lm = LanguageModel(cfg)
    stream = LanguageModelStream(tiny_texts[0] * 10, tiny_vocab, batch_size=4, bptt=8)
    before = evaluate(lm, stream, LanguageModelTask())["loss"]
    hist = fit(lm, stream, None, LanguageModelTask(), torch.optim.Adam(lm.parameters(), 1e-2),
               TrainConfig(epochs=20, progress=False))
    after = evaluate(lm, stream, LanguageModelTask())["loss"]
    assert after < before * 0.4  # from uniform (ln 34 = 3.5) to well below
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]


def test_classifier_overfits_a_tiny_labelled_set(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    loader = make_loader(ds, batch_size=4, seed=0)
    fit(model, loader, None, ClassificationTask(), torch.optim.Adam(model.parameters(), 1e-2),
        TrainConfig(epochs=40, progress=False))
    assert evaluate(model, make_loader(ds, 14, shuffle=False), ClassificationTask())[
        "accuracy"] == 1.0


def test_bf16_autocast_trains_too(tiny_cfg, tiny_vocab, tiny_texts):
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    hist = fit(model, make_loader(ds, 4), make_loader(ds, 14, shuffle=False), ClassificationTask(),
               torch.optim.Adam(model.parameters(), 1e-2),
               TrainConfig(epochs=25, amp=True, progress=False))
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
    fit(a, big, None, ClassificationTask(), torch.optim.SGD(a.parameters(), 0.5),
        TrainConfig(epochs=1, clip=None, progress=False))
    fit(b, small, None, ClassificationTask(), torch.optim.SGD(b.parameters(), 0.5),
        TrainConfig(epochs=1, clip=None, accumulate=2, progress=False))
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
            torch.optim.Adam(model.parameters(), 1e-2), TrainConfig(epochs=10, progress=False),
            regularizer=reg)
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
            torch.optim.Adam(model.parameters(), 1e-3), TrainConfig(epochs=1, progress=False))


def test_pick_device_falls_back_only_when_asked():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA was requested"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="allowed"):
        pick_device("tpu")


class _ScriptedTask(ClassificationTask):
    """ClassificationTask whose validation metric ``monitor`` follows a script, one value per
    epoch (the training metrics are the real ones)."""

    def __init__(self, monitor: str, script: list[float]):
        super().__init__()
        self.monitor, self.script, self.evaluating = monitor, list(script), False

    def start_epoch(self, train: bool) -> None:
        self.evaluating = not train

    def metrics(self, loss_sum: float, n: int, correct: float) -> dict[str, float]:
        real = ClassificationTask.metrics(loss_sum, n, correct)
        return {**real, self.monitor: self.script.pop(0)} if self.evaluating else real


def _fit_scripted(tiny_cfg, tiny_vocab, tiny_texts, monitor, script, **kw):
    """Fit with early stopping on a scripted metric; the weights after each epoch and at the end."""
    torch.manual_seed(0)
    model = Classifier(tiny_cfg)
    ds = TextClassificationDataset(*tiny_texts, tiny_vocab, ["negative", "positive"])
    loader = make_loader(ds, batch_size=4, seed=0)
    after_epoch = []

    def keep(epoch, history):
        after_epoch.append(copy.deepcopy(model.state_dict()))

    hist = fit(model, loader, loader, _ScriptedTask(monitor, script),
               torch.optim.Adam(model.parameters(), 1e-2),
               TrainConfig(epochs=len(script), patience=2, progress=False, **kw),
               on_epoch_end=keep)
    return hist, after_epoch, model.state_dict()


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("monitor, script, best", [
    ("f1", [0.5, 0.9, 0.7, 0.6, 0.95], 2),        # higher is better: stops after epoch 4
    ("loss", [0.9, 0.4, 0.6, 0.7, 0.1], 2),       # lower is better
    ("perplexity", [90.0, 40.0, 60.0, 70.0, 10.0], 2),
])
def test_early_stopping_keeps_the_best_epoch_in_the_metrics_direction(
        tiny_cfg, tiny_vocab, tiny_texts, monitor, script, best):
    hist, after_epoch, final = _fit_scripted(tiny_cfg, tiny_vocab, tiny_texts, monitor, script)
    assert list(hist["epoch"]) == [1, 2, 3, 4]  # two epochs without improvement after the best
    assert _same(final, after_epoch[best - 1])
    assert not _same(final, after_epoch[-1])


def test_fit_mode_overrides_the_table_and_unknown_metrics_need_one(
        tiny_cfg, tiny_vocab, tiny_texts):
    script = [0.5, 0.9, 0.7, 0.6]
    _, after_epoch, final = _fit_scripted(tiny_cfg, tiny_vocab, tiny_texts, "kappa", script,
                                          mode="max")
    assert _same(final, after_epoch[1])
    _, after_epoch, final = _fit_scripted(tiny_cfg, tiny_vocab, tiny_texts, "accuracy",
                                          [0.5, 0.4, 0.3], mode="min")
    assert _same(final, after_epoch[2])  # "min" asked for: the smallest accuracy wins
    with pytest.raises(ArgumentError, match="mode='max' or mode='min'"):
        _fit_scripted(tiny_cfg, tiny_vocab, tiny_texts, "kappa", script)
    with pytest.raises(ArgumentError, match="got 'up'"):
        _fit_scripted(tiny_cfg, tiny_vocab, tiny_texts, "f1", script, mode="up")


def test_torch_threads_puts_the_count_back_even_after_an_error():
    from transferlib.devices import torch_threads

    before = torch.get_num_threads()
    other = 2 if before == 1 else 1  # a count that differs from the current one
    with pytest.raises(RuntimeError), torch_threads(other):
        assert torch.get_num_threads() == other
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
