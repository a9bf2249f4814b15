"""Resume: a run interrupted after epoch k (or inside epoch k+1) and resumed from its checkpoint
ends exactly like the uninterrupted run; checkpoints are safetensors + JSON only."""

from __future__ import annotations

import inspect
import json
import random
import signal
import subprocess
import sys

import pandas as pd
import pytest
import torch

from transferlib.batching import LanguageModelStream, TextClassificationDataset, make_loader
from transferlib.checkpoint import load_model, save_model
from transferlib.errors import CheckpointError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.param_groups import discriminative_groups, gradual_unfreezing
from transferlib.regularizers import L2SP
from transferlib.resume import LATEST, load_training_state
from transferlib.schedules import one_cycle, slanted_triangular
from transferlib.tasks import ClassificationTask, LanguageModelTask
from transferlib.text import Vocab, tokenize
from transferlib.training import TrainConfig, fit, set_seed

EPOCHS = 4
TIMING = ["seconds", "tokens_per_s"]
WORDS = "good great fine fun bad awful dull flat film plot acting story".split()


def _texts(n: int = 96, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(2, 12))) for _ in range(n)]
    score = [sum((w in WORDS[:4]) - (w in WORDS[4:8]) for w in t.split()) for t in texts]
    return texts, ["pos" if s >= 0 else "neg" for s in score]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    texts, labels = _texts()
    vocab = Vocab.build(tokenize(t) for t in texts)
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=12, hidden_dim=16, num_layers=2,
                      emb_dropout=0.1, layer_dropout=0.2, out_dropout=0.2, n_classes=2,
                      head_hidden=8)
    return TextClassificationDataset(texts, labels, vocab, ["neg", "pos"]), cfg


class Stop(Exception):
    """Stands in for a crash or Ctrl-C."""


class CrashingTask(ClassificationTask):
    """Raises ``Stop`` at training step ``at_step`` of epoch ``at_epoch`` (0-based): a crash in
    the middle of an epoch that changes nothing else (no extra RNG draws)."""

    def __init__(self, at_epoch: int, at_step: int):
        super().__init__()
        self.at, self.epoch, self.steps = (at_epoch, at_step), -1, 0

    def start_epoch(self, train: bool) -> None:
        if train:
            self.epoch, self.steps = self.epoch + 1, 0

    def step(self, model, batch, device):
        if (self.epoch, self.steps) == self.at:
            raise Stop
        self.steps += 1
        return super().step(model, batch, device)


def _classifier_run(data, ckpt=None, resume=False, stop_after=None, crash_at=None,
                    bucket=True, patience=3, epochs=EPOCHS):
    """One seeded fine-tuning run with every stateful lever on; None when it 'crashed'."""
    ds, cfg = data
    set_seed(0)
    model = Classifier(cfg)
    optimizer = torch.optim.AdamW(discriminative_groups(model, 1e-2), weight_decay=0.01)
    train = make_loader(ds, 16, seed=0, bucket=bucket)
    scheduler = slanted_triangular(optimizer, epochs * len(train))
    task = ClassificationTask() if crash_at is None else CrashingTask(*crash_at)

    def on_end(epoch, history):
        if stop_after is not None and epoch + 1 == stop_after:
            raise Stop

    try:
        history = fit(model, train, make_loader(ds, 64, shuffle=False), task, optimizer,
                      TrainConfig(epochs=epochs, patience=patience, progress=False,
                                  checkpoint_dir=ckpt, resume=resume),
                      scheduler=scheduler, regularizer=L2SP(model, 1e-3),
                      on_epoch_start=gradual_unfreezing(model), on_epoch_end=on_end)
    except Stop:
        return None
    return model, history


def _assert_same(a, b) -> None:
    (model_a, hist_a), (model_b, hist_b) = a, b
    for (name, x), y in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-7, msg=name)
    pd.testing.assert_frame_equal(hist_a.drop(columns=TIMING), hist_b.drop(columns=TIMING),
                                  rtol=1e-9, atol=0)


@pytest.mark.parametrize("bucket", [True, False])
@pytest.mark.parametrize("k", [1, 2])
def test_interrupted_after_epoch_k_resumes_to_the_same_weights_and_metrics(data, tmp_path,
                                                                          bucket, k):
    reference = _classifier_run(data, bucket=bucket, patience=None)
    assert _classifier_run(data, tmp_path, stop_after=k, bucket=bucket, patience=None) is None
    at_k = load_training_state(tmp_path)[0]
    assert json.loads((tmp_path / LATEST).read_text())["epoch"] == k
    resumed = _classifier_run(data, tmp_path, resume=True, bucket=bucket, patience=None)
    assert len(resumed[1]) == EPOCHS
    _assert_same(reference, resumed)
    # the resumed epochs really trained: the weights moved away from the epoch-k checkpoint
    assert not torch.equal(at_k["model.head.4.weight"], resumed[0].head[4].weight)


def test_crash_inside_an_epoch_resumes_from_the_last_finished_one(data, tmp_path, capsys):
    reference = _classifier_run(data)
    assert _classifier_run(data, tmp_path, crash_at=(2, 3)) is None  # at step 4 of epoch 3
    assert json.loads((tmp_path / LATEST).read_text())["epoch"] == 2
    resumed = _classifier_run(data, tmp_path, resume=True)
    _assert_same(reference, resumed)
    assert f"resuming from {tmp_path} after epoch 2 of {EPOCHS}" in capsys.readouterr().err


def test_early_stopping_state_survives_a_resume(data, tmp_path):
    reference = _classifier_run(data, patience=1, epochs=8)
    assert len(reference[1]) < 8  # it did stop early
    assert _classifier_run(data, tmp_path, stop_after=1, patience=1, epochs=8) is None
    _assert_same(reference, _classifier_run(data, tmp_path, resume=True, patience=1, epochs=8))


def test_resuming_a_finished_run_only_restores_it(data, tmp_path):
    done = _classifier_run(data, tmp_path)
    again = _classifier_run(data, tmp_path, resume=True)
    _assert_same(done, again)
    pd.testing.assert_frame_equal(done[1], again[1])  # timings too: no epoch was re-run


def test_language_model_resume_with_varying_bptt_and_bf16(tmp_path):
    texts, _ = _texts(200, seed=1)
    vocab = Vocab.build(tokenize(t) for t in texts)
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=12, hidden_dim=16, emb_dropout=0.1,
                      layer_dropout=0.1, out_dropout=0.1)

    def run(ckpt=None, resume=False, stop_after=None):
        set_seed(1)
        lm = LanguageModel(cfg)
        stream = LanguageModelStream(texts, vocab, batch_size=4, bptt=12, vary_bptt=True)
        valid = LanguageModelStream(texts[:40], vocab, batch_size=2, bptt=12)
        optimizer = torch.optim.AdamW(lm.parameters(), 3e-3)
        steps = 0
        for epoch in range(3):
            stream.set_epoch(epoch)
            steps += len(stream)
        scheduler = one_cycle(optimizer, steps)

        def on_end(epoch, history):
            if stop_after is not None and epoch + 1 == stop_after:
                raise Stop

        try:
            return lm, fit(lm, stream, valid, LanguageModelTask(), optimizer,
                           TrainConfig(epochs=3, amp=True, clip=0.25, progress=False,
                                       checkpoint_dir=ckpt, resume=resume),
                           scheduler=scheduler, on_epoch_end=on_end)
        except Stop:
            return None

    reference = run()
    assert run(tmp_path, stop_after=1) is None
    _assert_same(reference, run(tmp_path, resume=True))


def test_checkpoint_is_safetensors_and_json_with_everything_needed(data, tmp_path):
    _classifier_run(data, tmp_path, stop_after=2)
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].name.startswith("epoch-0002-")  # older one pruned
    assert sorted(p.name for p in folders[0].iterdir()) == ["state.json", "state.safetensors"]
    tensors, info = load_training_state(tmp_path)
    assert info["epoch"] == 2 and len(info["history"]) == 2
    assert set(info) >= {"optimizer", "scheduler", "rng", "early_stopping", "scaler"}
    assert info["scheduler"]["last_epoch"] == 2 * len(make_loader(data[0], 16))
    assert {"python", "numpy"} <= set(info["rng"]) and "rng.torch" in tensors
    assert any(k.startswith("optim.") and k.endswith(".exp_avg") for k in tensors)
    assert any(k.startswith("best.") for k in tensors)
    model = Classifier(data[1])
    assert set(model.state_dict()) == {k[6:] for k in tensors if k.startswith("model.")}


def test_resume_without_a_checkpoint_warns_and_starts_at_epoch_one(data, tmp_path):
    with pytest.warns(RuntimeWarning, match="no checkpoint in .* yet; starting at epoch 1"):
        resumed = _classifier_run(data, tmp_path / "empty", resume=True)
    _assert_same(_classifier_run(data), resumed)


def test_resume_refuses_a_checkpoint_of_another_model(data, tmp_path):
    _classifier_run(data, tmp_path, stop_after=1)
    ds, cfg = data
    bigger = Classifier(ModelConfig(**{**cfg.to_dict(), "hidden_dim": 20}))
    optimizer = torch.optim.AdamW(bigger.parameters(), 1e-3)
    with pytest.raises(CheckpointError, match="weights do not match the model being trained") \
            as info:
        fit(bigger, make_loader(ds, 16), None, ClassificationTask(), optimizer,
            TrainConfig(epochs=EPOCHS, progress=False, checkpoint_dir=tmp_path, resume=True))
    assert ("encoder.layers.0.weight_hh_l0: shape (64, 16) in the file, (80, 20) in the model "
            "being trained") in str(info.value)


def test_resume_refuses_another_optimizer_layout_or_missing_scheduler(data, tmp_path):
    _classifier_run(data, tmp_path, stop_after=1)
    ds, cfg = data
    model = Classifier(cfg)
    one_group = torch.optim.AdamW(model.parameters(), 1e-3)
    with pytest.raises(CheckpointError, match="optimizer state does not fit this optimizer"):
        fit(model, make_loader(ds, 16), None, ClassificationTask(), one_group,
            TrainConfig(epochs=EPOCHS, progress=False, checkpoint_dir=tmp_path, resume=True))
    groups = torch.optim.AdamW(discriminative_groups(model, 1e-2))
    with pytest.raises(CheckpointError, match="checkpoint was saved with a scheduler"):
        fit(model, make_loader(ds, 16), None, ClassificationTask(), groups,
            TrainConfig(epochs=EPOCHS, progress=False, checkpoint_dir=tmp_path, resume=True))


def test_resume_refuses_a_checkpoint_past_the_epochs_asked_for(data, tmp_path):
    _classifier_run(data, tmp_path, stop_after=2)
    with pytest.raises(CheckpointError, match="the checkpoint is past epoch 1, the number of "
                       "epochs asked for"):
        _classifier_run(data, tmp_path, resume=True, epochs=1)


def test_resume_needs_a_checkpoint_dir(data):
    ds, cfg = data
    model = Classifier(cfg)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        fit(model, make_loader(ds, 16), None, ClassificationTask(),
            torch.optim.AdamW(model.parameters()), TrainConfig(epochs=1, resume=True))


# ---- the command line ------------------------------------------------------------------------

def _pipeline_threads_checkpoints() -> bool:
    from transferlib.pipeline import finetune_classifier

    return "checkpoint_dir" in inspect.signature(finetune_classifier).parameters


@pytest.fixture
def cli_files(tmp_path):
    """A labelled CSV and a tiny source LM whose vocabulary covers it."""
    texts, labels = _texts(160, seed=2)
    splits = ["train"] * 110 + ["valid"] * 25 + ["test"] * 25
    rows = ["text,label,split"] + [f"{t},{y},{s}" for t, y, s in zip(texts, labels, splits)]
    csv = tmp_path / "reviews.csv"
    csv.write_text("\n".join(rows) + "\n")
    vocab = Vocab.build(tokenize(t) for t in texts)
    torch.manual_seed(0)
    lm = LanguageModel(ModelConfig(vocab_size=len(vocab), emb_dim=12, hidden_dim=16))
    save_model(tmp_path / "lm", lm, vocab)
    return csv, tmp_path / "lm"


def _cli(csv, lm, out, *extra) -> list[str]:
    return [sys.executable, "-m", "transferlib", "finetune", "--data", str(csv), "--pretrained",
            str(lm), "--strategy", "ulmfit", "--epochs", "3", "--lm-epochs", "1", "--out",
            str(out), "--device", "cpu", "--no-amp", *extra]


@pytest.mark.skipif(not _pipeline_threads_checkpoints(),
                    reason="pipeline.finetune_classifier does not take checkpoint_dir yet")
def test_cli_resume_after_sigkill_matches_an_uninterrupted_run(cli_files, tmp_path):
    csv, lm = cli_files
    env = {"PATH": "/usr/bin:/bin", "TRANSFERLIB_FAST": "1", "PYTHONHASHSEED": "0"}
    full = subprocess.run(_cli(csv, lm, tmp_path / "full"), env=env, capture_output=True,
                          text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(csv, lm, out), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("epoch 1:"):  # printed after the epoch-1 checkpoint is saved
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "metrics.json").exists()
    resumed = subprocess.run(_cli(csv, lm, out, "--resume"), env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "full", out))
    assert (a["valid_accuracy"], a["test_accuracy"]) == (b["valid_accuracy"], b["test_accuracy"])
    model_a, model_b = load_model(tmp_path / "full")[0], load_model(out)[0]
    for (name, x), y in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-7, msg=name)
    hist_a, hist_b = (pd.read_csv(d / "history.csv") for d in (tmp_path / "full", out))
    pd.testing.assert_frame_equal(hist_a.drop(columns=TIMING), hist_b.drop(columns=TIMING))


def test_each_epoch_iterates_the_training_data_exactly_once(data):
    """A hidden extra iterator (tqdm.auto calls iter() when given an iterable) would start
    DataLoader workers twice per epoch and shift the RNG stream that resume must replay."""
    ds, cfg = data

    class Counting:
        def __init__(self, loader):
            self.loader, self.iterations = loader, 0

        def __iter__(self):
            self.iterations += 1
            return iter(self.loader)

        def __len__(self):
            return len(self.loader)

    train = Counting(make_loader(ds, 16))
    model = Classifier(cfg)
    fit(model, train, None, ClassificationTask(), torch.optim.SGD(model.parameters(), 0.1),
        TrainConfig(epochs=3, progress=True))
    assert train.iterations == 3
