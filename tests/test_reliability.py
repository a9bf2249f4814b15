"""Bad input, numerical and resource faults: each gives one clear error (or a reported count),
through the Python API and the command line (exit code 2, ``error: ...``, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from transferlib.batching import TextClassificationDataset, make_loader
from transferlib.checkpoint import save_model
from transferlib.cli import main
from transferlib.cli_helpers import writable_dir
from transferlib.csvdata import read_labelled_csv, read_text_csv
from transferlib.devices import pick_device
from transferlib.errors import DataError, TrainingError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.param_groups import discriminative_groups, layer_groups
from transferlib.regularizers import L2, L2SP, make_regularizer
from transferlib.resume import load_training_state
from transferlib.schedules import slanted_triangular
from transferlib.strategies import PRESETS, Strategy, get_strategy
from transferlib.tasks import ClassificationTask
from transferlib.text import Vocab, numericalize, tokenize
from transferlib.training import TrainConfig, evaluate, fit

POS = ["a great film", "i loved it", "superb acting", "great fun", "a moving story"]
NEG = ["a dull film", "i hated it", "awful acting", "boring mess", "a flat story"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _rows(n: int = 40, splits=("train",) * 30 + ("valid",) * 5 + ("test",) * 5) -> list[str]:
    texts = [POS[i % 5] if i % 2 == 0 else NEG[i % 5] for i in range(n)]
    return [f"{t} {i},{'pos' if i % 2 == 0 else 'neg'},{s}"
            for i, (t, s) in enumerate(zip(texts, splits))]


def _good(tmp_path: Path, extra: list[str] = (), name: str = "data.csv") -> Path:
    return _csv(tmp_path, "\n".join(["text,label,split", *_rows(), *extra]) + "\n", name)


# ---- 1. bad data files through read_labelled_csv --------------------------------------------

BAD_FILES = {
    "missing": (None, r"missing.csv: file not found"),
    "empty": ("", r"empty.csv: the file is empty"),
    "blank": ("\n  \n", r"blank.csv: the file is empty"),
    "header-only": ("text,label\n", r"header-only.csv: has a header but no data rows"),
    "no-text-column": ("review,label\ngood,pos\nbad,neg\n",
                       r"no-text-column.csv, line 1: no column 'text'; the columns are "
                       r"\['review', 'label'\]"),
    "no-label-column": ("text,stars\ngood,5\nbad,1\n",
                        r"no column 'label'; the columns are \['text', 'stars'\]"),
    "one-class": ("text,label\ngood,pos\nfine,pos\n ,neg\n",
                  r"column 'label' has only one class 'pos' \(2 rows\); a classifier needs at "
                  r"least two"),
    "semicolon": ("text;label\ngood;pos\nbad;neg\n",
                  r"no column 'text'; the columns are \['text;label'\] — the file looks "
                  r"semicolon-separated; transferlib reads comma-separated files"),
    "tab": ("text\tlabel\ngood\tpos\nbad\tneg\n", r"the file looks tab-separated"),
    "unknown-split": ("text,label,split\ngood,pos,train\nbad,neg,dev\nok,pos,Test\n",
                      r"line 3: column 'split' has value 'dev' \(2 rows with values "
                      r"\['Test', 'dev'\]\); allowed: train, valid, test"),
    "extra-field": ("text,label\ngood,pos\nbad, really bad,neg\n",
                    r"line 3: 3 field\(s\), the header has 2 \(quote texts that contain commas\)"),
    "unclosed-quote": ('text,label\ngood,pos\n"bad,neg\nfine,pos\n',
                       r"line 3: 1 field\(s\), the header has 2 \(this record runs on to line "
                       r"4: an unclosed '\"'\?\)"),
    "duplicate-column": ("text,label,text\na,pos,b\n",
                         r"line 1: column 'text' appears 2 times in the header"),
    "nothing-usable": ("text,label\n ,pos\nfine,\n",
                       r"no usable rows \(skipped 1 rows with empty text: lines 2; skipped 1 "
                       r"rows with an empty/NaN label: lines 3\)"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_csv_gives_one_clear_data_error(tmp_path, name):
    content, message = BAD_FILES[name]
    path = tmp_path / f"{name}.csv"
    if content is not None:
        _csv(tmp_path, content, path.name)
    with pytest.raises(DataError, match=message) as info:
        read_labelled_csv(path)
    assert str(path) in str(info.value)


def test_folder_instead_of_a_file(tmp_path):
    with pytest.raises(DataError, match="is a folder, not a CSV file"):
        read_labelled_csv(tmp_path)


def test_non_utf8_bytes_name_the_line_and_column(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ngood,pos\ncaf\xe9 bad,neg\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv, line 3: not valid UTF-8 \(byte 0xe9 at "
                                        r"column 4\); re-save the file as UTF-8"):
        read_labelled_csv(path)


def test_empty_texts_and_nan_labels_are_skipped_and_reported(tmp_path):
    lines = ["text,label"] + [f"text {i},{'pos' if i % 2 else 'neg'}" for i in range(2, 100)]
    for n in (10, 57, 90):
        lines[n - 1] = ("   " if n == 57 else "") + ",pos"
    lines[19], lines[29], lines[39] = "x,", "y,NaN", "z, nan "
    df, report = read_labelled_csv(_csv(tmp_path, "\n".join(lines) + "\n"))
    assert str(report) == ("skipped 3 rows with empty text: lines 10, 57, 90; "
                           "skipped 3 rows with an empty/NaN label: lines 20, 30, 40")
    assert report.total == 6 and len(df) == 98 - 6
    assert not set(df["line"]) & {10, 57, 90, 20, 30, 40}


def test_blank_lines_are_reported_not_silently_dropped(tmp_path):
    df, report = read_labelled_csv(_csv(tmp_path, "text,label\ngood,pos\n\nbad,neg\n"))
    assert report.skipped == {"blank lines": [3]} and df["line"].tolist() == [2, 4]


def test_quoted_newlines_are_kept_and_later_line_numbers_stay_right(tmp_path):
    content = ('text,label\n"one\nlong, quoted\nreview",pos\nbad,neg\n,pos\n'
               '"line\u2028separator",neg\n')
    df, report = read_labelled_csv(_csv(tmp_path, content))
    assert df["text"].tolist() == ["one\nlong, quoted\nreview", "bad", "line\u2028separator"]
    assert df["line"].tolist() == [2, 5, 7]
    assert str(report) == "skipped 1 rows with empty text: lines 6"


def test_a_one_megabyte_text_is_read_and_truncated_to_max_len(tmp_path):
    huge = " ".join(["word"] * 210_000)  # ~1 MB, above csv's default field limit
    df, _ = read_labelled_csv(_csv(tmp_path, f"text,label\n{huge},pos\nshort,neg\n"))
    assert len(df["text"][0]) > 1_000_000
    vocab = Vocab.build(tokenize(t) for t in df["text"])
    ds = TextClassificationDataset(df["text"], df["label"], vocab, ["neg", "pos"], max_len=96)
    assert ds.lengths == [96, 1]


def test_texts_repeated_across_splits_are_counted_and_kept(tmp_path):
    path = _good(tmp_path, ["A great film 0,pos,test", "a dull film 5,pos,valid"])
    df, report = read_labelled_csv(path)
    assert len(df) == 42  # kept
    assert report.notes == [
        "2 texts appear in more than one split (kept; e.g. line 7 (train), line 43 (valid)): "
        "the test score may be optimistic",
        "1 texts appear with different labels (kept; e.g. line 7 (neg), line 43 (pos))"]
    assert str(report).startswith("2 texts appear in more than one split")


# ---- 1. the same through the command line ---------------------------------------------------

@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("TRANSFERLIB_FAST", "1")


def _finetune(capsys, data, out, *extra) -> tuple[int, str, str]:
    code = main(["finetune", "--data", str(data), "--out", str(out), "--device", "cpu",
                 *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


CLI_CASES = {
    "missing": (None, "file not found"),
    "empty": ("", "the file is empty"),
    "header-only": ("text,label,split\n", "has a header but no data rows"),
    "no-label-column": ("text,stars\ngood,5\nbad,1\n",
                        "no column 'label'; the columns are ['text', 'stars']"),
    "one-class": ("text,label\ngood,pos\nfine,pos\n", "has only one class 'pos'"),
    "semicolon": ("text;label\ngood;pos\nbad;neg\n", "looks semicolon-separated"),
    "unknown-split": ("text,label,split\ngood,pos,train\nbad,neg,dev\n",
                      "line 3: column 'split' has value 'dev'"),
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_bad_csv_exits_2_with_one_error_line(fast, tmp_path, capsys, name):
    content, message = CLI_CASES[name]
    path = tmp_path / f"{name}.csv"
    if content is not None:
        _csv(tmp_path, content, path.name)
    code, out, err = _finetune(capsys, path, tmp_path / "out")
    assert code == 2
    assert err.startswith(f"error: {path}") and message in err
    assert "Traceback" not in err and err.count("\n") == 1 and out == ""


def test_cli_non_utf8_file(fast, tmp_path, capsys):
    path = tmp_path / "cp1252.csv"
    path.write_bytes(b"text,label\n\x93quoted\x94,pos\nbad,neg\n")
    code, _, err = _finetune(capsys, path, tmp_path / "out")
    assert code == 2 and "cp1252.csv, line 2: not valid UTF-8 (byte 0x93" in err


def test_cli_class_missing_from_train_names_the_split(fast, tmp_path, capsys):
    path = _good(tmp_path, ["so-so film,neutral,test"])
    code, _, err = _finetune(capsys, path, tmp_path / "out", "--strategy", "scratch")
    assert code == 2
    assert err == ("error: the test split has label(s) ['neutral'] that the training split "
                   "lacks (classes: ['neg', 'pos'])\n")


def test_cli_reports_duplicates_then_fails_on_a_bad_learning_rate(fast, tmp_path, capsys):
    path = _good(tmp_path, ["a great film 0,pos,test"])
    code, _, err = _finetune(capsys, path, tmp_path / "out", "--strategy", "scratch",
                             "--lr", "0")
    assert code == 2
    assert "1 texts appear in more than one split (kept; e.g. line 2 (train), line 42 (test))" \
        in err
    assert err.endswith("error: learning rate must be > 0, got 0.0\n")


def test_cli_negative_lambda_says_what_is_allowed(fast, tmp_path, capsys):
    code, _, err = _finetune(capsys, _good(tmp_path), tmp_path / "out", "--strategy", "ulmfit",
                             "--regularizer", "l2sp", "--lam", "-1")
    assert (code, err) == (2, "error: lam must be >= 0, got -1.0\n")


def test_cli_unknown_strategy_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["finetune", "--data", "x.csv", "--out", str(tmp_path), "--strategy", "magic"])
    assert info.value.code == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err


def test_cli_as_a_subprocess_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "transferlib", "finetune", "--data",
                             str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TRANSFERLIB_FAST": "1"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"error: {tmp_path / 'nope.csv'}: file not found"


# ---- 5. numerical faults --------------------------------------------------------------------

@pytest.fixture
def tiny():
    texts = POS + NEG
    labels = ["pos"] * 5 + ["neg"] * 5
    vocab = Vocab.build(tokenize(t) for t in texts)
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=8, n_classes=2,
                      head_hidden=4, emb_dropout=0.0, layer_dropout=0.0, out_dropout=0.0)
    ds = TextClassificationDataset(texts, labels, vocab, ["neg", "pos"])
    torch.manual_seed(0)
    return Classifier(cfg), ds


def test_a_huge_learning_rate_stops_with_the_step_and_rate(tiny):
    model, ds = tiny
    with pytest.raises(TrainingError, match=r"loss became (nan|inf) at epoch 1, step 2 "
                       r"\(learning rates: 1.00e\+30\); the learning rate is likely too high"):
        fit(model, make_loader(ds, 4), None, ClassificationTask(),
            torch.optim.SGD(model.parameters(), lr=1e30),
            TrainConfig(epochs=3, clip=None, progress=False))


def test_divergence_keeps_the_last_good_checkpoint(tiny, tmp_path):
    model, ds = tiny
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = make_loader(ds, 4)
    steps = len(loader)
    explode = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 if s < steps else 1e31)
    with pytest.raises(TrainingError) as info:
        fit(model, loader, loader, ClassificationTask(), optimizer,
            TrainConfig(epochs=3, clip=None, progress=False, checkpoint_dir=tmp_path),
            scheduler=explode)
    assert "at epoch 2, step 2 (learning rates: 1.00e+30)" in str(info.value)
    assert f"The last good checkpoint (epoch 1) is in {tmp_path}." in str(info.value)
    tensors, state = load_training_state(tmp_path)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k.startswith("model."))


def test_inf_gradient_with_a_finite_loss_stops_before_the_step(tiny):
    model, ds = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}

    class SqrtAtZero(ClassificationTask):  # d sqrt(u)/du = inf at u = 0: finite loss, nan grad
        def step(self, model, batch, device):
            loss, *rest = super().step(model, batch, device)
            return torch.sqrt(0.0 * loss), *rest

    with pytest.raises(TrainingError, match=r"gradient norm became nan at epoch 1, step 1 "
                       r"\(learning rates: 1.00e-02\) although the loss was finite"):
        fit(model, make_loader(ds, 4), None, SqrtAtZero(),
            torch.optim.SGD(model.parameters(), lr=1e-2),
            TrainConfig(epochs=1, clip=None, progress=False))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # the bad step was not applied


@pytest.mark.parametrize("clip", [1.0, None])
def test_gradient_norms_are_in_the_history(tiny, clip):
    model, ds = tiny
    history = fit(model, make_loader(ds, 4), None, ClassificationTask(),
                  torch.optim.SGD(model.parameters(), lr=0.1),
                  TrainConfig(epochs=2, clip=clip, progress=False))
    assert history["grad_norm"].notna().all() and (history["grad_norm"] > 0).all()
    assert torch.isfinite(torch.tensor(history["grad_norm"].to_numpy())).all()


# ---- 6. resource faults ---------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(TrainingError, match="CUDA was requested but is not available on this "
                       "machine; use --device cpu .*--allow-cpu-fallback"):
        pick_device("cuda")
    with pytest.warns(RuntimeWarning, match="CUDA was requested .*training on the CPU instead"):
        assert pick_device("cuda:0", allow_cpu_fallback=True) == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_index_beyond_the_devices_is_a_clear_error():
    n = torch.cuda.device_count()
    with pytest.raises(TrainingError, match=f"cuda:{n} was requested but this machine has {n}"):
        pick_device(f"cuda:{n}")


def test_unknown_device_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown device 'gpu'; allowed: auto, cpu, cuda, "
                                         "cuda:N, mps"):
        pick_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_device_cuda_fails_or_falls_back_only_when_allowed(fast, tmp_path, capsys):
    source = tmp_path / "lm"
    vocab = Vocab.build(tokenize(t) for t in POS + NEG)
    save_model(source, LanguageModel(ModelConfig(vocab_size=len(vocab), emb_dim=8,
                                                 hidden_dim=8)), vocab)
    args = ["finetune", "--data", str(_good(tmp_path)), "--pretrained", str(source),
            "--strategy", "full", "--epochs", "1", "--device", "cuda"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert "error: CUDA was requested but is not available" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--allow-cpu-fallback"]) == 0
    captured = capsys.readouterr()
    assert "warning: CUDA was requested but is not available on this machine; training on " \
           "the CPU instead" in captured.err
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["device"] == "cpu"


class OutOfMemoryTask(ClassificationTask):
    """Raises what CUDA (or the CPU allocator) raises when a batch does not fit."""

    def __init__(self, exc: BaseException, at_step: int = 2):
        super().__init__()
        self.exc, self.at_step, self.steps = exc, at_step, 0

    def step(self, model, batch, device):
        self.steps += 1
        if self.steps == self.at_step:
            raise self.exc
        return super().step(model, batch, device)


@pytest.mark.parametrize("exc", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                 "memory: you tried to allocate 8000000000 bytes"),
])
def test_out_of_memory_suggests_a_smaller_batch(tiny, exc):
    model, ds = tiny
    with pytest.raises(TrainingError, match=r"out of memory on cpu at epoch 1, step 2 \(batch "
                       r"shape \[4, \d+\]\); use a smaller --batch-size \(e.g. 2\)"):
        fit(model, make_loader(ds, 4), None, OutOfMemoryTask(exc),
            torch.optim.SGD(model.parameters(), lr=0.1), TrainConfig(epochs=1, progress=False))
    with pytest.raises(TrainingError, match=r"out of memory on cpu at evaluation batch 1"):
        evaluate(model, make_loader(ds, 4), OutOfMemoryTask(exc, at_step=1))


def test_other_runtime_errors_are_not_disguised_as_out_of_memory(tiny):
    model, ds = tiny
    with pytest.raises(RuntimeError, match="shape mismatch"):
        fit(model, make_loader(ds, 4), None, OutOfMemoryTask(RuntimeError("shape mismatch")),
            torch.optim.SGD(model.parameters(), lr=0.1), TrainConfig(epochs=1, progress=False))


def test_output_folder_that_cannot_exist_fails_before_training(fast, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    with pytest.raises(DataError, match=r"output folder .*file.txt/sub is not writable"):
        writable_dir(str(blocker / "sub"))
    code, out, err = _finetune(capsys, _good(tmp_path), blocker / "sub")
    assert code == 2 and out == ""  # no epoch ran
    assert err.startswith(f"error: output folder {blocker / 'sub'} is not writable")


def test_read_only_output_folder_fails_before_training(fast, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        code, out, err = _finetune(capsys, _good(tmp_path), locked / "out")
        assert code == 2 and out == "" and "is not writable (Permission denied)" in err
    finally:
        locked.chmod(0o700)


# ---- 7. public functions validate their arguments -------------------------------------------

@pytest.fixture
def small_model():
    return Classifier(ModelConfig(vocab_size=10, emb_dim=4, hidden_dim=4, n_classes=2,
                                  head_hidden=2))


@pytest.mark.parametrize("call, error, message", [
    (lambda m: L2(m, -0.1), ValueError, r"λ \(lam\) must be >= 0, got -0.1"),
    (lambda m: L2SP(m, -1), ValueError, r"λ \(lam\) must be >= 0, got -1"),
    (lambda m: make_regularizer("l1", m, 0.1), ValueError,
     "unknown regularizer 'l1'; allowed: 'none', 'l2', 'l2sp'"),
    (lambda m: discriminative_groups(m, 0.0), ValueError, "learning rate must be > 0, got 0.0"),
    (lambda m: discriminative_groups(m, -1e-3), ValueError, "learning rate must be > 0"),
    (lambda m: discriminative_groups(m, 1e-3, decay=0.5), ValueError,
     r"decay must be >= 1 \(1 = same rate everywhere\), got 0.5"),
    (lambda m: slanted_triangular(torch.optim.SGD(m.parameters(), 0.1), 0), ValueError,
     "total_steps must be >= 1, got 0"),
    (lambda m: layer_groups(nn.Linear(2, 2)), TypeError,
     "layer_groups expects a Classifier or LanguageModel"),
    (lambda m: get_strategy("ulmfat"), ValueError,
     "unknown strategy 'ulmfat'; allowed: " + ", ".join(PRESETS)),
    (lambda m: Strategy(schedule="cosine"), ValueError,
     r"unknown schedule 'cosine'; allowed: \('constant', 'stlr', 'one-cycle'\)"),
    (lambda m: Strategy(regularizer="l1"), ValueError,
     r"unknown regularizer 'l1'; allowed: \('none', 'l2', 'l2sp'\)"),
    (lambda m: get_strategy("ulmfit", lam=-0.5), ValueError, "lam must be >= 0, got -0.5"),
    (lambda m: get_strategy("scratch", regularizer="l2sp"), ValueError,
     "target_lm, l2sp and freeze_encoder need pretrained=True"),
    (lambda m: ModelConfig(vocab_size=10, emb_dropout=1.0), ValueError,
     r"emb_dropout must be in \[0, 1\), got 1.0"),
    (lambda m: ModelConfig(vocab_size=10, n_classes=1), ValueError,
     "n_classes must be 0 .language model. or >= 2, got 1"),
    (lambda m: Vocab.build([], min_freq=0), ValueError, "min_freq must be >= 1, got 0"),
    (lambda m: Vocab.build([], max_size=4), ValueError,
     r"max_size must be > 4 \(the specials\), got 4"),
    (lambda m: numericalize("a b", Vocab.build([]), max_len=0), ValueError,
     r"max_len must be >= 1 \(or None\), got 0"),
    (lambda m: Vocab(["<pad>", "<unk>", "<bos>", "<eos>", 7]), DataError,
     "vocabulary tokens must be strings; id 4 is 7"),
])
def test_public_functions_say_what_is_allowed(small_model, call, error, message):
    with pytest.raises(error, match=message):
        call(small_model)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"accumulate": 0}, "accumulate must be >= 1, got 0"),
    ({"patience": 0}, r"patience must be >= 1 \(or None: no early stopping\), got 0"),
    ({"clip": 0.0}, r"clip must be > 0 \(or None: no clipping\), got 0.0"),
    ({"max_steps_per_epoch": 0}, "max_steps_per_epoch must be >= 1"),
    ({"resume": True}, "resume=True needs checkpoint_dir"),
])
def test_fit_validates_its_arguments(tiny, kwargs, message):
    model, ds = tiny
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"epochs": 1, "progress": False, **kwargs})
    with pytest.raises(ValueError, match="fit takes a TrainConfig"):  # not a bare epoch count
        fit(model, make_loader(ds, 4), None, ClassificationTask(),
            torch.optim.SGD(model.parameters(), lr=0.1), 1)


def test_unlabelled_lm_csv_keeps_the_train_split_and_reports_what_it_skips(tmp_path):
    path = tmp_path / "lm.csv"
    path.write_text('text,split\n"one, two",train\n\n ,train\nheld out,test\nthree,train\n')
    texts, report = read_text_csv(path)
    assert texts == ["one, two", "three"]
    assert report.skipped == {"blank lines": [3], "rows with empty text": [4]}
    no_split = tmp_path / "plain.csv"
    no_split.write_text("review\nfirst\nsecond\n")
    assert read_text_csv(no_split, "review")[0] == ["first", "second"]


@pytest.mark.parametrize("content, message", [
    ("body\nx\n", r"line 1: no column 'text'; the columns are \['body'\]"),
    ("text,split\na,train,extra\n", "line 2: 3 field"),
    ("text,split\nonly,test\n", "no usable texts in column 'text'"),
    ("", "the file is empty"),
])
def test_unlabelled_lm_csv_errors_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "lm.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_text_csv(path)


def test_cli_lm_data_error_is_one_line_and_exit_2(tmp_path, small_csv, capsys):
    bad = tmp_path / "lm.csv"
    bad.write_text("body\nx\n")
    code = main(["finetune", "--data", str(small_csv), "--out", str(tmp_path / "m"),
                 "--lm-data", str(bad), "--strategy", "ulmfit", "--epochs", "1"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: ") and "lm.csv, line 1: no column 'text'" in last
    assert "Traceback" not in err


def test_cli_prints_expected_errors_but_a_bug_keeps_its_traceback(monkeypatch, capsys):
    import transferlib.cli as cli
    from transferlib.errors import ArgumentError

    def argument_problem(args):
        raise ArgumentError("top must be >= 1, got 0")

    def bug(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(cli, "cmd_predict", argument_problem)
    assert main(["predict", "--model", "m", "some text"]) == 2
    assert capsys.readouterr().err == "error: top must be >= 1, got 0\n"
    monkeypatch.setattr(cli, "cmd_predict", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["predict", "--model", "m", "some text"])


def test_every_command_line_ends_in_one_error_handler(capsys):
    """``errors.exit_status``: expected failures exit 2 with one line and no traceback, a full
    disk too; another OSError is a bug and propagates; Ctrl-C exits 130."""
    import errno

    from transferlib.errors import DataError, exit_status

    def fail(exc):
        def run():
            raise exc
        return run

    assert exit_status(lambda: 0) == 0
    assert exit_status(fail(DataError("data.csv, line 3: no label"))) == 2
    assert capsys.readouterr().err == "error: data.csv, line 3: no label\n"
    assert exit_status(fail(OSError(errno.ENOSPC, "No space left on device"))) == 2
    assert "is the disk full" in capsys.readouterr().err
    with pytest.raises(OSError):
        exit_status(fail(OSError(errno.EBADF, "Bad file descriptor")))
    assert exit_status(fail(KeyboardInterrupt())) == 130


def test_module_command_lines_share_the_handler(tmp_path, capsys):
    from transferlib.datasets.__main__ import main as datasets_main
    from transferlib.workbook.__main__ import main as workbook_main

    assert datasets_main(["verify", "--data", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    missing = tmp_path / "nowhere"
    assert workbook_main(["grade", str(missing), "--out", str(tmp_path / "g.csv")]) == 2
    assert capsys.readouterr().err == f"error: {missing} is not a folder\n"
