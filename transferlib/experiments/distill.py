"""The teacher and the distilled student, measured: ``python -m transferlib distill STEP``.

Taught in notebook 08. Four steps writing into ``--out`` (``results/`` by default); the
teacher and student steps add to the runs already there (``read_done``: an interrupted or a
finished run, merged by strategy and seed), the label step to the arms already scored:

* ``teacher``: fine-tune all-MiniLM-L6-v2 (``transferlib.teacher``) once per seed on the Rotten
  Tomatoes split → ``teacher_runs.csv`` (+ per-review records); the weights go to ``--models``
  (``.cache/teachers``, not committed: the command regenerates them).
* ``label``: each arm's transfer set (training reviews, augmented copies, plot sentences:
  ``transferlib.augment``) scored by the teacher with the best valid accuracy →
  ``--models``/``transfer-ARM.csv`` + ``transfer-logits.safetensors`` (one tensor per arm) +
  ``transfer-sets.json``; the teacher's test logits → ``teacher_test_logits.csv``.
* ``student``: transferlib's LSTM classifier from the shipped source model, trained on the labels
  alone and distilled from each arm's transfer set (``transferlib.distill``), once per seed and
  arm → ``distill_runs.csv`` (+ records), compared with ``stats.compare`` in notebook 08.
* ``deploy`` (``experiments.deploy``): size, accuracy and CPU latency at batch 1 and 64 of the
  teacher and the distilled student in PyTorch and ONNX Runtime, fp32 and int8 →
  ``distill_deploy.csv``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from transferlib import datasets
from transferlib.augment import AugmentConfig, sentences, teacher_text, transfer_set
from transferlib.config import machine_info
from transferlib.errors import DataError
from transferlib.experiments.records import read_partial
from transferlib.experiments.report import correct_frame
from transferlib.experiments.runs import stratified_subsample

TEACHER_FILES = "teacher-seed{seed}"


@dataclass(frozen=True)
class Arm:
    """One student: its transfer set (augmented copies, unlabelled plots or not) and alpha."""

    name: str
    what: str
    augment: AugmentConfig
    plots: bool
    alpha: float


def arms() -> dict[str, Arm]:
    """The students compared: labels alone; the teacher's predictions on the reviews and the
    plot sentences; two unchanged copies of each review (the control: as many rows and steps
    as the single-operation arms); each operation alone (two copies); all three (four copies;
    Tang et al. made 10-20 per example)."""
    none = AugmentConfig(copies=0)
    two = AugmentConfig(copies=2, p_mask=0.0, p_neighbour=0.0, p_ngram=0.0)
    return {a.name: a for a in (
        Arm("lstm-labels", "the labelled reviews, cross-entropy only", none, False, 0.0),
        Arm("kd-all", "reviews + 4 copies (mask, neighbour, n-gram) + plots", AugmentConfig(),
            True, 0.5),
        Arm("kd-plain", "reviews + plots, no copies", none, True, 0.5),
        Arm("kd-repeat", "reviews + 2 unchanged copies + plots (the control)", two, True, 0.5),
        Arm("kd-mask", "reviews + 2 copies, 10 % of words masked + plots",
            replace(two, p_mask=0.1), True, 0.5),
        Arm("kd-neighbour", "reviews + 2 copies, 10 % of words replaced by a GloVe neighbour "
            "+ plots", replace(two, p_neighbour=0.1), True, 0.5),
        Arm("kd-ngram", "reviews + 2 copies cut to a random 1-5-word n-gram + plots",
            replace(two, p_ngram=1.0), True, 0.5),
    )}


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


def read_done(out: Path, name: str) -> list[dict]:
    """The runs already finished: those of ``NAME_runs.csv`` (with their records) and those of
    an interrupted run's partial file, so that a later run with more seeds or arms adds to them
    and the same (strategy, seed) is never trained twice."""
    done: dict[tuple, dict] = {}
    runs_csv = out / f"{name}_runs.csv"
    if runs_csv.is_file():
        runs = pd.read_csv(runs_csv)
        records = out / f"{name}_correct.csv"
        if records.is_file():
            runs = runs.merge(pd.read_csv(records, dtype={"test_correct": str}),
                              on=["strategy", "seed"], how="left")
        for row in runs.astype(object).where(runs.notna(), None).to_dict("records"):
            done[(row["strategy"], int(row["seed"]))] = row
    for row in read_partial(out / f"{name}_runs.partial.csv"):
        done[(row["strategy"], int(row["seed"]))] = row
    return list(done.values())


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
                 command: str = "", device: torch.device | None = None) -> pd.DataFrame:
    """Fine-tune the teacher once per seed (``teacher_runs.csv``); weights to ``models``."""
    from transferlib.teacher import TeacherConfig, finetune_teacher, save_teacher

    caps = data_caps(fast)
    train, valid, test, _ = load_split(caps)
    base = TeacherConfig(epochs=1, max_tokens=32, batch_size=16) if fast else TeacherConfig()
    partial = out / "teacher_runs.partial.csv"
    rows = read_done(out, "teacher")
    start = time.perf_counter()
    for seed in seeds:
        if any(int(r["seed"]) == seed for r in rows):
            continue
        result = finetune_teacher(train, valid, test, replace(base, seed=seed), device)
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


def label_transfer_sets(out: Path, models: Path, fast: bool, names: list[str],
                        device: torch.device | None = None) -> dict:
    """Build each arm's transfer set (augmentation seed 0) and score every distinct text once
    with the best teacher → ``models/transfer-ARM.csv`` + ``models/transfer-logits.safetensors``
    (one tensor per arm); its logits on the test split → ``teacher_test_logits.csv`` (small,
    committed: notebook 08 softens them live)."""
    from safetensors.torch import load_file, save_file

    from transferlib.checkpoint import load_language_model
    from transferlib.config import source_model_dir
    from transferlib.teacher import load_teacher, teacher_logits
    from transferlib.transfer import build_target_vocab
    from transferlib.vectors import load_word_vectors

    train, _, test, plots = load_split(data_caps(fast))
    folder = best_teacher(out, models)
    model, tokenizer, classes, meta = load_teacher(folder)
    vectors = load_word_vectors()
    _, source_vocab, _ = load_language_model(source_model_dir())
    readable = set(build_target_vocab(source_vocab, list(train["text"]) + plots, 2).itos)
    plot_sentences = sentences(plots)
    frames = {}
    for name in names:
        arm = arms()[name]
        frames[name] = transfer_set(train, plot_sentences if arm.plots else [], arm.augment,
                                    vectors, 0, allowed=readable)
        frames[name].to_csv(models / f"transfer-{name}.csv", index=False)
    texts = list(dict.fromkeys(t for f in frames.values() for t in f["text"]))
    start = time.perf_counter()
    max_tokens = meta["metrics"]["config"]["max_tokens"]
    logits = teacher_logits(model, tokenizer, [teacher_text(t, tokenizer.mask_token)
                                               for t in texts], max_tokens, device)
    row = {t: i for i, t in enumerate(texts)}
    on_test = teacher_logits(model, tokenizer, list(test["text"]), max_tokens, device)
    pd.DataFrame({"label": test["label"], **{f"logit_{c}": on_test[:, i].numpy().round(4)
                                             for i, c in enumerate(classes)}}
                 ).to_csv(out / "teacher_test_logits.csv", index_label="review")
    tensors = {name: logits[[row[t] for t in f["text"]]].contiguous()
               for name, f in frames.items()}
    info = {"teacher": folder.name, "classes": classes, "texts_scored": len(texts),
            "seconds": time.perf_counter() - start,
            "rows": {name: len(f) for name, f in frames.items()}}
    before = models / "transfer-sets.json"
    if before.is_file() and (models / "transfer-logits.safetensors").is_file():
        old = json.loads(before.read_text())
        if old["teacher"] == folder.name:  # same teacher: keep the arms not scored now
            kept = load_file(models / "transfer-logits.safetensors")
            tensors = {**{k: v for k, v in kept.items() if k not in tensors}, **tensors}
            info["rows"] = {**old["rows"], **info["rows"]}
    save_file(tensors, models / "transfer-logits.safetensors")
    (models / "transfer-sets.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"scored {len(texts)} texts with {folder.name} in {info['seconds']:.0f} s", flush=True)
    return info


def run_students(seeds: list[int], out: Path, models: Path, fast: bool, names: list[str],
                 command: str = "", device: torch.device | None = None) -> pd.DataFrame:
    """Train every arm once per seed from its labelled transfer set (``distill_runs.csv``);
    seed-major order, so an interrupted run has every arm of its first seeds."""
    from safetensors.torch import load_file

    from transferlib.checkpoint import save_model
    from transferlib.config import source_model_dir
    from transferlib.distill import DistillConfig, distill_student

    _, valid, test, plots = load_split(data_caps(fast))
    logits = load_file(models / "transfer-logits.safetensors")
    scored = json.loads((models / "transfer-sets.json").read_text())
    missing = sorted(set(names) - set(logits))
    if missing:
        raise DataError(f"no teacher logits for {missing} in {models}: run `distill label` "
                        "with these arms first")
    base = DistillConfig(epochs=1, max_len=48) if fast else DistillConfig()
    partial = out / "distill_runs.partial.csv"
    rows = read_done(out, "distill")
    start = time.perf_counter()
    for seed in seeds:
        for name in names:
            if any(int(r["seed"]) == seed and r["strategy"] == name for r in rows):
                continue
            arm = arms()[name]
            transfer = pd.read_csv(models / f"transfer-{name}.csv", keep_default_na=False)
            labelled = transfer[transfer["origin"] == "train"]
            result = distill_student(transfer, logits[name], valid, test,
                                     replace(base, seed=seed, alpha=arm.alpha),
                                     source_model_dir(), list(labelled["text"]) + plots,
                                     device)
            if result.classes != scored["classes"]:  # the logits' columns are these classes
                raise DataError(f"student classes {result.classes} != the teacher's "
                                f"{scored['classes']}")
            m = result.metrics
            row = {"strategy": name, "seed": seed, **{k: m[k] for k in (
                "test_accuracy", "valid_accuracy", "best_epoch", "epochs_run", "seconds",
                "n_transfer", "parameters", "n_test", "test_correct")}}
            if seed == seeds[0]:  # one model per arm for the deployment step, saved first
                save_model(models / f"student-{name}", result.model, result.vocab,
                           result.classes, meta={"config": m["config"]})
            append_row(partial, row)
            rows.append(row)
            print(f"{name} seed {seed}: test {m['test_accuracy']:.4f} valid "
                  f"{m['valid_accuracy']:.4f} ({m['seconds']:.0f} s)", flush=True)
    meta = {"command": command, "fast": fast, "seeds": seeds, "config": asdict(base),
            "arms": {n: {**asdict(arms()[n]), "augment": asdict(arms()[n].augment)}
                     for n in sorted({str(r["strategy"]) for r in rows})},
            "transfer_sets": scored,
            "threads": torch.get_num_threads(), "machine": machine_info(),
            "seconds": time.perf_counter() - start}
    return finish(out, "distill", rows, meta)
