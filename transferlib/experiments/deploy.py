"""``python -m transferlib distill deploy``: the teacher and the distilled student side by side
in PyTorch and ONNX Runtime, fp32 and int8 — latency, throughput, size, accuracy.

Taught in notebook 08 (the trade-off plot of section 10).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from transferlib.config import machine_info
from transferlib.errors import DataError
from transferlib.experiments.distill import best_teacher, data_caps, load_split


def interleaved_ms(candidates: list, repeats: int) -> list[tuple[float, ...]]:
    """Median ms of each ``(fn, [batch, ...])`` on each of its batches, timed in rounds: every
    round calls every candidate once per batch, so a machine that slows down during the run
    slows every candidate alike (one warm-up call each first)."""
    times = [[[] for _ in batches] for _, batches in candidates]
    for fn, batches in candidates:
        for batch in batches:
            fn(*batch)
    for _ in range(repeats):
        for (fn, batches), slots in zip(candidates, times, strict=True):
            for batch, slot in zip(batches, slots, strict=True):
                start = time.perf_counter()
                fn(*batch)
                slot.append((time.perf_counter() - start) * 1000)
    return [tuple(statistics.median(slot) for slot in slots) for slots in times]


def measure_deploy(out: Path, models: Path, fast: bool, repeats: int,
                   student: str = "kd-all") -> pd.DataFrame:
    """Teacher and student side by side in every runtime: median latency on the same test
    reviews (the first one; the first 64), size, test accuracy; throughput and size as ratios
    to the teacher in the same runtime → ``distill_deploy.csv``. Every runtime of one model
    reads the same batches, all candidates timed in interleaved rounds (``interleaved_ms``;
    tokenization is not timed); the student's ``student-ARM`` folder is the first seed's."""
    import tempfile

    from transferlib.batching import TextClassificationDataset, collate_padded, make_loader
    from transferlib.checkpoint import load_model
    from transferlib.export_onnx import classifier_runners
    from transferlib.teacher import (
        WordPieceDataset,
        collate_word_pieces,
        load_teacher,
        teacher_runners,
        word_piece_loader,
    )

    _, _, test, _ = load_split(data_caps(fast))
    teacher, tokenizer, classes, meta = load_teacher(best_teacher(out, models))
    lstm, vocab, config = load_model(models / f"student-{student}")
    labels = [classes.index(str(y)) for y in test["label"]]
    wp = WordPieceDataset(test["text"], tokenizer, meta["metrics"]["config"]["max_tokens"],
                          labels)
    if config["classes"] != classes:
        raise DataError(f"the student's classes {config['classes']} are not the teacher's "
                        f"{classes}: train both on the same split")
    ds = TextClassificationDataset(test["text"], test["label"], vocab, classes,
                                   config["meta"]["config"]["max_len"])
    first = range(min(64, len(test)))
    inputs = {"teacher": ([collate_word_pieces([wp[0]], wp.pad_id)[:2],
                           collate_word_pieces([wp[i] for i in first], wp.pad_id)[:2]],
                          list(word_piece_loader(wp, 64, shuffle=False))),
              "student": ([collate_padded([ds[0]], ds.pad_id)[:2],
                           collate_padded([ds[i] for i in first], ds.pad_id)[:2]],
                          list(make_loader(ds, 64, shuffle=False)))}
    with tempfile.TemporaryDirectory(prefix="transferlib-deploy-") as work:
        runners = {"teacher": teacher_runners(teacher, Path(work)),
                   "student": classifier_runners(lstm, vocab, classes, Path(work))}
        candidates = [(model, runtime.removesuffix(" eager"), fn, size, *inputs[model])
                      for model, by_runtime in runners.items()
                      for runtime, (fn, size) in by_runtime.items()]
        rows = [{"model": model, "runtime": runtime,
                 "test_accuracy": sum(int((fn(a, b).argmax(1) == y).sum())
                                      for a, b, y in batches) / len(test),
                 "size_bytes": size}
                for model, runtime, fn, size, _, batches in candidates]
        timed = interleaved_ms([(fn, shapes) for _, _, fn, _, shapes, _ in candidates], repeats)
    for row, (ms1, ms64) in zip(rows, timed, strict=True):
        row.update(latency_ms_batch1=ms1, latency_ms_batch64=ms64,
                   reviews_per_s_batch64=len(first) / ms64 * 1000)
    frame = pd.DataFrame(rows)
    teacher_rows = frame[frame["model"] == "teacher"].set_index("runtime")
    for column, new in (("reviews_per_s_batch64", "throughput_vs_teacher"),
                        ("size_bytes", "size_vs_teacher")):
        frame[new] = [r[column] / teacher_rows[column].get(r["runtime"], float("nan"))
                      for _, r in frame.iterrows()]
    frame.to_csv(out / "distill_deploy.csv", index=False)
    (out / "distill_deploy.json").write_text(json.dumps(
        {"student": student, "repeats": repeats, "threads": torch.get_num_threads(),
         "machine": machine_info()}, indent=2) + "\n", encoding="utf-8")
    return frame
