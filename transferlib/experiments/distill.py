"""The teacher and the distilled student, measured: ``python -m transferlib distill STEP``.

Taught in notebook 08. Four steps, each resumable and each writing into ``--out``
(``results/`` by default):

* ``teacher``: fine-tune all-MiniLM-L6-v2 (``transferlib.teacher``) once per seed on the Rotten
  Tomatoes split → ``teacher_runs.csv`` (+ per-review records); the weights go to ``--models``
  (``.cache/teachers``, not committed: the command regenerates them).
* ``label``: the transfer set (training reviews, augmented copies, the plot synopses:
  ``transferlib.augment``) scored by the teacher with the best valid accuracy →
  ``--models``/``transfer_set.csv`` + ``transfer_logits.safetensors``.
* ``student``: transferlib's LSTM classifier from the shipped source model, trained on the labels
  alone and distilled from the transfer set (``transferlib.distill``), once per seed and arm →
  ``distill_runs.csv`` (+ records); the three rows are compared with ``stats.compare``.
* ``deploy``: size and CPU latency at batch 1 and 64 of the teacher and the students in PyTorch
  and ONNX Runtime (fp32; int8 for the LSTM) → ``distill_deploy.csv``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from transferlib import datasets
from transferlib.config import REPO_ROOT, fast_mode, machine_info, positive_int
from transferlib.errors import ArgumentError, DataError
from transferlib.experiments.report import correct_frame
from transferlib.experiments.runs import read_partial, stratified_subsample

TEACHER_FILES = "teacher-seed{seed}"


@dataclass(frozen=True)
class DataCaps:
    """How much of the Rotten Tomatoes split the steps read (all of it unless in fast mode)."""

    max_train: int | None = None
    max_eval: int | None = None
    max_plots: int | None = None


def data_caps(fast: bool) -> DataCaps:
    return DataCaps(300, 200, 100) if fast else DataCaps()


def load_split(caps: DataCaps) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """``(train, valid, test, plot synopses)`` of the Rotten Tomatoes split, capped."""
    train = datasets.load_rotten_tomatoes("train")
    if caps.max_train and caps.max_train < len(train):
        train = stratified_subsample(train, caps.max_train, 0).reset_index(drop=True)
    valid, test = (datasets.load_rotten_tomatoes(s) for s in ("valid", "test"))
    if caps.max_eval:
        valid, test = valid.head(caps.max_eval), test.head(caps.max_eval)
    plots = list(datasets.load_rotten_tomatoes_plots("train")["text"])[:caps.max_plots]
    return train, valid, test, plots


def append_row(partial: Path, row: dict) -> None:
    """Add one finished run to ``partial`` (written row by row: a stopped run resumes)."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(partial, mode="a", header=not partial.is_file(), index=False)


def finish(out: Path, name: str, rows: list[dict], meta: dict) -> pd.DataFrame:
    """``NAME_runs.csv``, ``NAME_correct.csv`` and ``NAME.json`` from the finished rows; the
    partial file goes."""
    runs = pd.DataFrame(rows)
    correct = correct_frame(runs)
    if correct is not None:
        correct.to_csv(out / f"{name}_correct.csv", index=False)
    runs.drop(columns="test_correct", errors="ignore").to_csv(out / f"{name}_runs.csv",
                                                               index=False)
    (out / f"{name}.json").write_text(json.dumps(meta, indent=2, default=str) + "\n",
                                      encoding="utf-8")
    (out / f"{name}_runs.partial.csv").unlink(missing_ok=True)
    return runs


def run_teachers(seeds: list[int], out: Path, models: Path, fast: bool,
                 command: str = "") -> pd.DataFrame:
    """Fine-tune the teacher once per seed (``teacher_runs.csv``); weights to ``models``."""
    from transferlib.teacher import TeacherConfig, finetune_teacher, save_teacher

    caps = data_caps(fast)
    train, valid, test, _ = load_split(caps)
    base = TeacherConfig(epochs=1, max_tokens=32, batch_size=16) if fast else TeacherConfig()
    partial = out / "teacher_runs.partial.csv"
    rows = read_partial(partial)
    start = time.perf_counter()
    for seed in seeds:
        if any(int(r["seed"]) == seed for r in rows):
            continue
        result = finetune_teacher(train, valid, test, replace(base, seed=seed), progress=False)
        save_teacher(result, models / TEACHER_FILES.format(seed=seed))
        m = result.metrics
        row = {"strategy": "teacher", "seed": seed, "test_accuracy": m["test_accuracy"],
               "valid_accuracy": m["valid_accuracy"], "best_epoch": m["best_epoch"],
               "epochs_run": m["epochs_run"], "seconds": m["seconds"],
               "parameters": m["parameters"], "n_train": m["n_train"], "n_test": m["n_test"],
               "test_correct": m["test_correct"]}
        append_row(partial, row)
        rows.append(row)
        print(f"teacher seed {seed}: test {m['test_accuracy']:.4f} valid "
              f"{m['valid_accuracy']:.4f} ({m['seconds']:.0f} s)", flush=True)
    meta = {"command": command, "fast": fast, "seeds": seeds, "config": asdict(base),
            "caps": asdict(caps), "threads": torch.get_num_threads(),
            "machine": machine_info(), "seconds": time.perf_counter() - start}
    return finish(out, "teacher", rows, meta)


def best_teacher(out: Path, models: Path) -> Path:
    """The saved teacher whose seed had the best valid accuracy (chosen on valid only)."""
    runs_csv = out / "teacher_runs.csv"
    if not runs_csv.is_file():
        raise DataError(f"{runs_csv} is missing: run `python -m transferlib distill teacher` "
                        "first")
    runs = pd.read_csv(runs_csv)
    seed = int(runs.loc[runs["valid_accuracy"].idxmax(), "seed"])
    folder = models / TEACHER_FILES.format(seed=seed)
    if not folder.is_dir():
        raise DataError(f"{folder} is missing: the teacher of seed {seed} was trained "
                        "elsewhere; run `python -m transferlib distill teacher` again")
    return folder


def cmd_distill(args: argparse.Namespace) -> int:
    """Run the step ``args.step`` (see the module docstring)."""
    fast = args.fast or fast_mode()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or REPO_ROOT / ("results/fast" if fast else "results"))
    models = Path(args.models or REPO_ROOT / ".cache" / ("teachers-fast" if fast
                                                          else "teachers"))
    seeds = args.seeds or ([0] if fast else [0, 1, 2])
    if args.step == "teacher":
        runs = run_teachers(seeds, out, models, fast, args.command_line)
        print(runs.drop(columns="test_correct", errors="ignore").to_string(index=False))
        return 0
    raise ArgumentError(f"unknown step {args.step!r}")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("distill", help="the MiniLM teacher and the LSTM distilled from it",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=["teacher", "label", "student", "deploy"])
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--out", help="results folder (default results/, results/fast in fast mode)")
    p.add_argument("--models", help="where teachers and the transfer set go (default "
                                    ".cache/teachers)")
    p.add_argument("--fast", action="store_true", help="tiny data, one epoch (CI)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.set_defaults(func=cmd_distill)
    return p
