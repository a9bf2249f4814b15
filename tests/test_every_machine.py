"""What keeps the suite green on every machine a student has: no hardware-dependent output
checked as a constant, the bf16 probe forceable both ways, loaders whose workers start under
``spawn`` (macOS, Windows), and no machine paths in committed files."""

from __future__ import annotations

import json
import multiprocessing
import re
import subprocess
from pathlib import Path

import pytest
import torch

from transferlib.batching import TextClassificationDataset, make_loader
from transferlib.devices import amp_dtype, cpu_supports_bf16_lstm
from transferlib.text import Vocab

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Calls whose answer depends on the CPU, the GPU, the OS, the thread count, the clock or the
# installed versions: a cell that makes one must not carry # NBVAL_CHECK_OUTPUT.
PROBES = ("amp_dtype", "cpu_supports_bf16_lstm", "machine_info", "torch.cuda", "cuda.is_avail",
          "get_num_threads", "pick_device", "perf_counter", "time.time", "platform.",
          "__version__", "os.cpu_count", "mps", "timeit")


def _checked_cells():
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text("utf-8"))["cells"]
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "# NBVAL_CHECK_OUTPUT" in source:
                yield f"{path.stem} c{i}", source


def test_no_checked_notebook_cell_calls_a_hardware_probe():
    offending = [(where, probe) for where, source in _checked_cells() for probe in PROBES
                 if probe in source]
    assert not offending, ("cells checked as constants call hardware/clock probes; print those "
                           f"without # NBVAL_CHECK_OUTPUT: {offending}")


def test_the_probe_test_would_catch_the_cell_that_broke_on_a_bf16_cpu():
    source = '# NBVAL_CHECK_OUTPUT\npick_device("cpu"), amp_dtype(torch.device("cpu"))'
    assert [p for p in PROBES if p in source] == ["amp_dtype", "pick_device"]


@pytest.mark.parametrize(("value", "expected"), [("on", torch.bfloat16), ("off", None)])
def test_the_bf16_probe_can_be_forced_each_way(monkeypatch, value, expected):
    monkeypatch.setenv("TRANSFERLIB_CPU_BF16", value)
    assert cpu_supports_bf16_lstm() is (expected is not None)
    assert amp_dtype(torch.device("cpu")) == expected


def test_a_bad_bf16_override_names_the_variable(monkeypatch):
    monkeypatch.setenv("TRANSFERLIB_CPU_BF16", "maybe")
    with pytest.raises(ValueError, match="TRANSFERLIB_CPU_BF16='maybe'"):
        cpu_supports_bf16_lstm()


def test_a_loader_with_two_spawn_workers_gives_the_same_batches():
    """macOS and Windows start DataLoader workers with ``spawn``, which pickles the collate
    function and the sampler: a nested function would fail there."""
    texts = ["a fine film", "dull", "the best acting of the year", "not good at all", "ok"] * 4
    labels = ["pos", "neg", "pos", "neg", "pos"] * 4
    vocab = Vocab.build(texts, min_freq=1)
    data = TextClassificationDataset(texts, labels, vocab, ["neg", "pos"], max_len=16)
    plain = list(make_loader(data, 4, shuffle=True, seed=3))
    ctx = multiprocessing.get_context("spawn")
    workers = make_loader(data, 4, shuffle=True, seed=3, num_workers=2)
    workers.multiprocessing_context = ctx
    spawned = list(workers)
    assert len(spawned) == len(plain)
    for (a_ids, a_len, a_lab), (b_ids, b_len, b_lab) in zip(plain, spawned, strict=True):
        assert torch.equal(a_ids, b_ids) and torch.equal(a_len, b_len)
        assert torch.equal(a_lab, b_lab)


def test_no_committed_file_records_a_path_of_the_machine_that_made_it():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    pattern = re.compile(r"(?<![\w.])/(?:work|root|home|Users|tmp)/[\w.-]+")
    hits = []
    for name in tracked:
        if not name.endswith((".json", ".ipynb", ".md", ".csv")) or name.startswith("tests/"):
            continue
        text = (REPO / name).read_text("utf-8", errors="replace")
        hits += [f"{name}: {m}" for m in sorted(set(pattern.findall(text)))]
    assert not hits, "absolute paths of a build machine in committed files:\n" + "\n".join(hits)
