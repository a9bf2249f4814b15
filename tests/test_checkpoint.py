"""Checkpoints: atomic saves survive SIGKILL, mismatches are named, pickles are never run."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from transferlib.checkpoint import (
    CONFIG,
    JOURNAL,
    STAGED,
    VOCAB,
    WEIGHTS,
    load_model,
    read_config,
    save_model,
)
from transferlib.errors import CheckpointError
from transferlib.model import Classifier, LanguageModel, ModelConfig
from transferlib.text import SPECIALS, Vocab


def _vocab(n: int = 30) -> Vocab:
    return Vocab(list(SPECIALS) + [f"w{i}" for i in range(n - len(SPECIALS))])


def _classifier(vocab: Vocab, hidden: int = 12, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(ModelConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=hidden,
                                  num_layers=2, n_classes=2, head_hidden=4))


@pytest.fixture
def saved(tmp_path) -> Path:
    vocab = _vocab()
    save_model(tmp_path / "m", _classifier(vocab), vocab, classes=["neg", "pos"],
               meta={"note": "first"})
    return tmp_path / "m"


def test_round_trip_leaves_no_temporary_files(saved):
    model, vocab, config = load_model(saved)
    original = _classifier(_vocab())
    for (name, a), b in zip(model.state_dict().items(), original.state_dict().values()):
        assert torch.equal(a, b), name
    assert config["classes"] == ["neg", "pos"] and config["meta"] == {"note": "first"}
    assert sorted(p.name for p in saved.iterdir()) == sorted([WEIGHTS, CONFIG, VOCAB])


class Evil:
    """Unpickling this creates ``path``: the payload a shared 'checkpoint' could carry."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickle_is_refused_and_never_executed(saved, tmp_path, protocol):
    proof = tmp_path / "proof.txt"  # the payload is live: plain unpickling creates the file
    pickle.loads(pickle.dumps(Evil(str(proof)), protocol=protocol))
    assert proof.exists()
    marker = tmp_path / "pwned.txt"
    (saved / WEIGHTS).write_bytes(pickle.dumps(Evil(str(marker)), protocol=protocol))
    expected = "pickle/zip" if protocol >= 2 else "not a valid safetensors file"
    with pytest.raises(CheckpointError, match=expected) as info:
        load_model(saved)
    assert "never unpickles" in str(info.value) and str(saved / WEIGHTS) in str(info.value)
    assert not marker.exists()


def test_torch_save_style_zip_is_refused(saved):
    with zipfile.ZipFile(saved / WEIGHTS, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError, match=r"pickle/zip \(torch.save\) file, not safetensors"):
        load_model(saved)


def test_truncated_weights_are_named(saved):
    data = (saved / WEIGHTS).read_bytes()
    (saved / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors: not a valid safetensors file"):
        load_model(saved)


def test_config_that_disagrees_with_the_weights_names_the_tensor(saved):
    config = json.loads((saved / CONFIG).read_text())
    config["model"]["hidden_dim"] = 16
    (saved / CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as info:
        load_model(saved)
    msg = str(info.value)
    assert "weights do not match config.json" in msg
    assert "encoder.layers.0.weight_hh_l0: shape (48, 12) in the file, (64, 16) in config.json" \
        in msg


def test_vocabulary_that_disagrees_with_the_config_is_named(saved):
    vocab = json.loads((saved / VOCAB).read_text())
    vocab["itos"] = vocab["itos"][:-3]
    (saved / VOCAB).write_text(json.dumps(vocab))
    with pytest.raises(CheckpointError,
                       match="vocab.json has 27 tokens but config.json says vocab_size=30"):
        load_model(saved)


def test_missing_unexpected_and_reshaped_tensors_are_listed(saved):
    tensors = {k: v.clone() for k, v in _classifier(_vocab()).state_dict().items()}
    del tensors["head.4.bias"]
    tensors["extra.weight"] = torch.zeros(2)
    tensors["encoder.embedding.weight"] = torch.zeros(31, 8)
    save_file(tensors, str(saved / WEIGHTS))
    with pytest.raises(CheckpointError) as info:
        load_model(saved)
    msg = str(info.value)
    assert "missing tensors ['head.4.bias']" in msg
    assert "unexpected tensors ['extra.weight']" in msg
    assert "encoder.embedding.weight: shape (31, 8) in the file, (30, 8) in config.json" in msg


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(kind="regressor"), "field 'kind' must be one of"),
    (lambda c: c.update(format="other/1"), "field 'format' must be 'transferlib.model/1'"),
    (lambda c: c.update(classes=["only-one"]), "field 'classes' must list 2 class names"),
    (lambda c: c["model"].update(depth=3), r"field 'model' is invalid \(unknown config fields"),
])
def test_bad_config_fields_are_named(saved, edit, message):
    config = json.loads((saved / CONFIG).read_text())
    edit(config)
    (saved / CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        load_model(saved)


def test_unreadable_config_and_missing_folder(saved, tmp_path):
    (saved / CONFIG).write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        read_config(saved)
    with pytest.raises(CheckpointError, match="config.json: not found"):
        load_model(tmp_path / "nowhere")


def test_weights_with_nan_are_refused(saved):
    model = _classifier(_vocab())
    with torch.no_grad():
        model.head[1].weight[0, 0] = float("nan")
    save_model(saved, model, _vocab(), classes=["neg", "pos"])
    with pytest.raises(CheckpointError, match=r"tensors \['head.1.weight'\] contain NaN/inf"):
        load_model(saved)


def test_save_refuses_a_vocabulary_of_the_wrong_size(tmp_path):
    with pytest.raises(CheckpointError, match="vocabulary has 31 tokens but the model expects 30"):
        save_model(tmp_path / "m", _classifier(_vocab()), _vocab(31), classes=["a", "b"])


def _stage(directory: Path, model, vocab, meta: dict, commit: bool) -> None:
    """Reproduce the on-disk state of a save killed after staging (and maybe committing)."""
    other = directory.parent / "other"
    save_model(other, model, vocab, classes=["neg", "pos"], meta=meta)
    staged = {}
    for name in (WEIGHTS, VOCAB, CONFIG):
        staged[name] = STAGED.format(name)
        (directory / staged[name]).write_bytes((other / name).read_bytes())
    if commit:
        (directory / JOURNAL).write_text(json.dumps({"staged": staged}))


@pytest.mark.parametrize("commit", [False, True])
def test_a_save_killed_before_or_after_its_commit_point_reads_consistently(saved, commit):
    vocab = _vocab()
    _stage(saved, _classifier(vocab, seed=1), vocab, {"note": "second"}, commit)
    model, _, config = load_model(saved)  # a reader never sees a mix of the two saves
    assert config["meta"]["note"] == ("second" if commit else "first")
    expected = _classifier(vocab, seed=1 if commit else 0)
    assert torch.equal(model.head[1].weight, expected.head[1].weight)
    save_model(saved, expected, vocab, classes=["neg", "pos"], meta={"note": "third"})
    assert sorted(p.name for p in saved.iterdir()) == sorted([WEIGHTS, CONFIG, VOCAB])
    assert load_model(saved)[2]["meta"]["note"] == "third"


CHILD = textwrap.dedent("""
    import sys
    import torch
    from transferlib.checkpoint import save_model
    from transferlib.model import LanguageModel, ModelConfig
    from transferlib.text import SPECIALS, Vocab

    out, i = sys.argv[1], int(sys.argv[2])
    vocab = Vocab(list(SPECIALS) + [f"w{k}" for k in range(12000)])
    model = LanguageModel(ModelConfig(vocab_size=len(vocab), emb_dim=256, hidden_dim=256))
    while True:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(i))
        print(f"begin {i}", flush=True)
        save_model(out, model, vocab, meta={"i": i})
        print(f"end {i}", flush=True)
        i += 1
""")


def test_sigkill_mid_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    """Kill a process that saves a ~16 MB checkpoint in a loop, at random moments inside a
    save; each time the folder must load, whole, as the last finished or the next save."""
    script = tmp_path / "saver.py"
    script.write_text(CHILD)
    out = tmp_path / "model"
    rng = random.Random(0)
    start, mid_save_kills = 0, 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(out), str(start)],
                                stdout=subprocess.PIPE, text=True)
        ended, began_at, durations = [], {}, []
        try:
            while len(ended) < 2:  # at least one complete save exists, and we know its length
                kind, i = proc.stdout.readline().split()[:2]
                if kind == "begin":
                    began_at[int(i)] = time.perf_counter()
                else:
                    ended.append(int(i))
                    durations.append(time.perf_counter() - began_at[int(i)])
            kind, victim = proc.stdout.readline().split()[:2]
            assert kind == "begin"
            time.sleep(rng.uniform(0.05, 0.8) * min(durations))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            rest = proc.communicate()[0]
        assert proc.returncode == -signal.SIGKILL
        # the child may finish the victim and begin further saves before the kill lands (a
        # loaded machine): the last save it began is the one the kill interrupted, if any
        last = max([int(victim)] + [int(line.split()[1]) for line in rest.splitlines()
                                    if line.startswith("begin")])
        mid_save_kills += f"end {last}" not in rest
        model, vocab, config = load_model(out)
        i = config["meta"]["i"]
        # whole, and the last finished save or the interrupted one
        finished = max([ended[-1]] + [int(line.split()[1]) for line in rest.splitlines()
                                      if line.startswith("end")])
        assert i in (finished, last), (i, ended, victim, rest)
        for name, tensor in model.state_dict().items():
            assert torch.all(tensor == float(i)), f"{name} is torn"
        assert len(vocab) == model.cfg.vocab_size == 12004
        start = last + 1
    assert mid_save_kills >= 1  # the kills did land inside saves
    save_model(out, LanguageModel(model.cfg), vocab)  # the next save cleans up leftovers
    assert sorted(p.name for p in out.iterdir()) == sorted([WEIGHTS, CONFIG, VOCAB])


def test_a_classifier_folder_is_not_a_source_model(tmp_path):
    """Every place that needs a source LM loads it through ``load_language_model``."""
    from transferlib.checkpoint import load_language_model, save_model
    from transferlib.errors import CheckpointError
    from transferlib.model import Classifier, ModelConfig
    from transferlib.text import Vocab

    vocab = Vocab.build([["good", "bad"]])
    save_model(tmp_path, Classifier(ModelConfig(vocab_size=len(vocab), n_classes=2, emb_dim=8,
                                                hidden_dim=8, num_layers=1)), vocab,
               classes=["negative", "positive"])
    with pytest.raises(CheckpointError, match="holds a classifier, not a language model"):
        load_language_model(tmp_path)


@pytest.mark.parametrize("garbage", ["{not json", '{"other": 1}', '{"staged": ["a"]}'])
def test_a_corrupt_save_journal_is_an_error_not_an_empty_one(saved, garbage):
    """Read as "no save", a corrupt journal would serve the old files and a later save would
    delete the staged ones of a committed save."""
    (saved / JOURNAL).write_text(garbage)
    with pytest.raises(CheckpointError, match="corrupt save journal"):
        load_model(saved)
