"""``python -m transferlib bench``: every efficiency lever measured side by side, in one run.

Taught in notebook 08. One process measures, on the shipped source LM and the Rotten Tomatoes
data: the naive baseline, each training lever alone, the combination ("transferlib best"),
LoRA, int8 / pruned / distilled models for inference, and the machine's own matmul peak next
to the FLOP/s that LM pretraining and fine-tuning achieve (with a profile of what bounds them).
It prints tables and writes ``bench.csv``, ``bench.png`` and ``bench.json`` (with
``config.machine_info()``). Speed numbers are medians of timed chunks after warm-up; ratios are
against the baseline of the same run. See ``bench.train``, ``bench.infer`` and
``bench.flops`` for what each row measures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch

from transferlib.bench import flops as fl
from transferlib.bench.infer import compressed_models, inference_rows, students
from transferlib.bench.measure import release_freed_memory
from transferlib.bench.train import (
    BASELINE,
    FAST,
    FULL,
    LORA,
    SOLO_LEVERS,
    LeverRun,
    best_lever,
    load_bench_data,
    run_interleaved,
)
from transferlib.checkpoint import atomic_write_text, read_config
from transferlib.cli_helpers import add_device_arguments
from transferlib.config import fast_mode, machine_info, source_model_dir
from transferlib.devices import amp_dtype, pick_device, torch_threads
from transferlib.errors import ArgumentError

TARGETS = {"finetune_speedup": 4.0, "lm_fraction_of_peak": 0.40}
COLUMNS = ["section", "row", "what", "settings", "tokens_per_s", "speedup", "peak_mem_mb",
           "pad_frac", "accuracy", "acc_delta", "trainable_params", "steps_trained", "seconds",
           "latency_ms", "examples_per_s", "size_bytes", "size_ratio", "nonzero_frac",
           "gflops", "frac_of_peak", "note"]


def _load() -> list[float] | None:
    """1/5/15-minute load averages: other jobs on the cores skew every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _train_section(data, sizes, results: dict) -> tuple[list, list, object, object]:
    levers = [BASELINE, *SOLO_LEVERS, LORA]
    skipped = [{"section": "train", "row": lv.name, "what": lv.what, "settings": lv.settings(),
                "note": "skipped in fast mode: compiling takes ~30 s on 2 cores; run without "
                        "--fast"} for lv in levers if lv.compile and not sizes.compile]
    _log(f"bench: building {len(levers) - len(skipped)} training rows")
    runs = [LeverRun(lv, data) for lv in levers if sizes.compile or not lv.compile]
    _log(f"bench: {sizes.repeats} interleaved rounds of timed chunks")
    run_interleaved(runs, sizes.repeats)
    finished = [run.finish() for run in runs]
    rows = [row for row, _ in finished] + skipped
    best = best_lever(pd.DataFrame(rows))
    _log(f"bench: 'transferlib best' = {best.settings()}, timed side by side with the baseline")
    base_run, best_run = runs[0], LeverRun(best, data)
    run_interleaved([best_run], 0)
    for r in range(sizes.repeats):
        for run in ((base_run, best_run) if r % 2 == 0 else (best_run, base_run)):
            run.timed_chunk()
    base_row = rows[0]
    base_row["tokens_per_s"] = statistics.median(base_run.speeds)
    base_row["note"] = f"median of {len(base_run.speeds)} chunks (timed with every row)"
    best_row, best_model = best_run.finish()
    rows.insert(1, best_row)
    results["best_settings"] = asdict(best)
    reference = best_model if best_model is not None else finished[0][1]
    return rows, [*runs, best_run], reference, best


def _train_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    base = frame.iloc[0]
    frame["speedup"] = frame["tokens_per_s"] / base["tokens_per_s"]
    frame["acc_delta"] = frame["accuracy"] - base["accuracy"]
    return frame


def _machine_section(data, sizes, train: pd.DataFrame, lm_shape: tuple[int, int],
                     results: dict) -> pd.DataFrame:
    dev, cfg = data.device, data.source.cfg
    runs_low = amp_dtype(dev)  # None: autocast cannot run the LSTM here (e.g. an AVX2-only CPU)
    low = runs_low or (torch.float16 if dev.type == "cuda" else torch.bfloat16)
    low_name = {torch.bfloat16: "bf16", torch.float16: "fp16"}[low]
    n = sizes.matmul_n
    peak = {"fp32": fl.matmul_flops(n, n, n, torch.float32, dev),
            low_name: fl.matmul_flops(n, n, n, low, dev)}
    h = max(h for _, h in fl.lstm_layer_sizes(cfg))
    b = sizes.batch_size
    recurrence = fl.matmul_flops(b, 4 * h, h, torch.float32, dev)
    rows = [{"section": "machine", "row": f"matmul {n}^3 {k}", "gflops": v / 1e9,
             "frac_of_peak": 1.0, "note": "2·n³ FLOPs / median time"
             + ("" if k == "fp32" or runs_low else "; autocast cannot run the LSTM in it here")}
            for k, v in peak.items()]
    rows.append({"section": "machine", "row": f"matmul {b}x{h} @ {h}x{4 * h} fp32",
                 "gflops": recurrence / 1e9, "frac_of_peak": recurrence / peak["fp32"],
                 "note": "the shape of one LSTM recurrence step"})
    lm_batch, bptt = lm_shape
    lm_flops = fl.lm_train_flops_per_token(cfg)
    steps = sizes.lm_steps
    windows = fl.lm_windows(data.source_vocab, lm_batch, bptt, 1 + steps * sizes.repeats)
    for amp in (False, True) if runs_low else (False,):
        prec = low_name if amp else "fp32"
        tps = fl.lm_throughput(data.source, windows, steps, amp, dev, data.seed)
        rows.append({"section": "machine", "row": f"LM pretraining {prec}", "tokens_per_s": tps,
                     "gflops": tps * lm_flops / 1e9, "frac_of_peak": tps * lm_flops / peak[prec],
                     "note": f"batch {lm_batch} x bptt {bptt}; {lm_flops / 1e6:.1f} MFLOP/token "
                             "= 3·(Σ 8h(d+h) + 2DV)"})
    ft_flops = fl.classifier_train_flops_per_token(data.cfg)
    by_row = train.set_index("row")
    for name in (BASELINE.name, "transferlib best"):
        if name not in by_row.index or pd.isna(by_row.loc[name].get("tokens_per_s")):
            continue
        tps = float(by_row.loc[name, "tokens_per_s"])
        prec = low_name if "amp=True" in str(by_row.loc[name, "settings"]) else "fp32"
        rows.append({"section": "machine", "row": f"fine-tuning ({name}) {prec}",
                     "tokens_per_s": tps, "gflops": tps * ft_flops / 1e9,
                     "frac_of_peak": tps * ft_flops / peak[prec],
                     "note": f"{ft_flops / 1e6:.1f} MFLOP per real token = 3·Σ 8h(d+h)"})
    _log("bench: profiling LM training")
    prof = fl.profile_lm(data.source, windows[:1 + max(2, steps)], True, dev, data.seed)
    results["profile"] = prof
    results["bound"] = fl.bound_summary(prof, recurrence, peak["fp32"])
    results["peak_flops"] = peak
    return pd.DataFrame(rows)


def _lm_shape(model_dir: Path, fast: bool) -> tuple[int, int]:
    meta = read_config(model_dir).get("meta", {})
    batch, bptt = int(meta.get("batch_size", 64)), int(meta.get("bptt", 64))
    return (min(batch, 16), min(bptt, 32)) if fast else (batch, bptt)


def run_bench(out: Path, fast: bool, repeats: int | None = None, device: str = "auto",
              model_dir: str | Path | None = None, seed: int = 0,
              threads: int | None = None) -> dict:
    """Run every measurement, write ``bench.csv``/``.png``/``.json`` into ``out`` and return
    ``{"table": DataFrame, ...}``; ``threads`` holds for the run only. Taught in notebook 08."""
    sizes = FAST if fast else FULL
    if repeats is not None:
        if repeats < 1:
            raise ArgumentError(f"--repeats must be >= 1, got {repeats}")
        sizes = replace(sizes, repeats=repeats)
    if threads is not None and threads < 1:
        raise ArgumentError(f"--threads must be >= 1, got {threads}")
    model_dir = Path(model_dir) if model_dir else source_model_dir()
    with torch_threads(threads):
        return _measure(out, fast, sizes, pick_device(device), model_dir, seed)


def _inference_table(reference, data, best, sizes) -> pd.DataFrame:
    """The compressed models and students of ``reference``: size, accuracy and latency against
    the fp32 model (the first row)."""
    _log("bench: inference rows")
    candidates = compressed_models(reference)
    candidates += students(reference, data, best.amp, best.bucket)
    infer = pd.DataFrame(inference_rows(candidates, data, sizes.latency_repeats))
    del candidates
    fp32 = infer.iloc[0]
    infer["size_ratio"] = infer["size_bytes"] / fp32["size_bytes"]
    infer["acc_delta"] = infer["accuracy"] - fp32["accuracy"]
    infer["speedup"] = fp32["latency_ms"] / infer["latency_ms"]
    return infer


def _measure(out: Path, fast: bool, sizes, dev: torch.device, model_dir: Path,
             seed: int) -> dict:
    start, cpu_start = time.perf_counter(), time.process_time()
    results: dict = {"command": " ".join(["python -m transferlib"] + sys.argv[1:]),
                     "fast": fast, "sizes": asdict(sizes), "machine": machine_info(),
                     "device": str(dev), "targets": TARGETS, "timings_s": {},
                     "load_avg_start": _load()}
    data = load_bench_data(model_dir, sizes, dev, seed)
    results["data"] = data.info
    results["timings_s"]["data_cpu"] = time.process_time() - cpu_start
    t, cpu = time.perf_counter(), time.process_time()
    train_rows, runs, reference, best = _train_section(data, sizes, results)
    train = _train_frame(train_rows)
    results["timings_s"]["train"] = time.perf_counter() - t
    results["timings_s"]["train_cpu"] = time.process_time() - cpu
    t, cpu = time.perf_counter(), time.process_time()
    infer = _inference_table(reference, data, best, sizes)
    results["timings_s"]["inference"] = time.perf_counter() - t
    results["timings_s"]["inference_cpu"] = time.process_time() - cpu
    t, cpu = time.perf_counter(), time.process_time()
    machine = _machine_section(data, sizes, train, _lm_shape(model_dir, fast), results)
    results["timings_s"]["machine"] = time.perf_counter() - t
    results["timings_s"]["machine_cpu"] = time.process_time() - cpu
    _log("bench: peak memory of one step per training row")
    results["memory"] = release_freed_memory()  # last: it slows allocation-heavy code
    for run in runs:
        run.measure_memory()
    del runs
    train = _train_frame(train_rows)
    table = pd.concat([train, infer, machine], ignore_index=True)
    table = table.reindex(columns=COLUMNS)
    results["timings_s"]["total"] = time.perf_counter() - start
    results["load_avg_end"] = _load()
    results["timings_s"]["total_cpu"] = time.process_time() - cpu_start
    results["achieved"] = _achieved(table)
    write_outputs(out, table, results)
    results["table"] = table
    return results


def _achieved(table: pd.DataFrame) -> dict:
    rows = table.set_index("row")
    best = rows.loc["transferlib best", "speedup"] if "transferlib best" in rows.index else None
    lm = table[table["row"].str.startswith("LM pretraining")]["frac_of_peak"]
    return {"finetune_speedup": None if best is None or pd.isna(best) else float(best),
            "lm_fraction_of_peak": float(lm.max()) if len(lm) else None}


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def format_table(table: pd.DataFrame, section: str) -> str:
    """The rows of one section with the columns that mean something there."""
    cols = {"train": ["row", "settings", "tokens_per_s", "speedup", "peak_mem_mb", "pad_frac",
                      "accuracy", "acc_delta", "trainable_params", "note"],
            "inference": ["row", "latency_ms", "speedup", "size_bytes", "size_ratio",
                          "nonzero_frac", "accuracy", "acc_delta", "note"],
            "machine": ["row", "tokens_per_s", "gflops", "frac_of_peak", "note"]}[section]
    part = table[table["section"] == section][cols].copy()
    for c in part.columns:
        if part[c].dtype.kind == "f":
            part[c] = part[c].map(lambda v: "" if pd.isna(v) else f"{v:,.3g}" if abs(v) < 1000
                                  else f"{v:,.0f}")
    part["note"] = part["note"].fillna("").astype(str).str.slice(0, 70)
    return part.fillna("").to_string(index=False)


def _bars(ax, labels, values, notes, color: str, xlabel: str, log: bool = False) -> None:
    values = list(values)
    ax.barh(range(len(values)), values, color=color)  # positions, so equal labels stay apart
    ax.set_yticks(range(len(values)), list(labels))
    for y, (v, note) in enumerate(zip(values, notes)):
        if pd.notna(v):
            ax.text(v, y, f" {note}", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    ax.invert_yaxis()


def plot(table: pd.DataFrame, path: Path) -> None:
    """Three panels: training speed-up vs baseline, inference latency, FLOP/s vs peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(19, 6), layout="constrained")
    tr = table[(table["section"] == "train") & table["speedup"].notna()]
    _bars(axes[0], tr["row"], tr["speedup"], [f"acc {a:.2f}" for a in tr["accuracy"]],
          "tab:blue", "train tokens/s vs baseline (x)")
    axes[0].axvline(1.0, color="k", lw=0.8)
    inf = table[table["section"] == "inference"]
    _bars(axes[1], inf["row"], inf["latency_ms"],
          [f"size {s:.2f}x, acc {a:.2f}" for s, a in zip(inf["size_ratio"], inf["accuracy"])],
          "tab:orange", "CPU ms per batch of 64")
    ma = table[table["section"] == "machine"]
    _bars(axes[2], ma["row"], ma["gflops"], [f"{f:.1%}" for f in ma["frac_of_peak"]],
          "tab:green", "GFLOP/s (log; label: fraction of peak)", log=True)
    for ax, title in zip(axes, ("training levers", "inference", "machine limit")):
        ax.set_title(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(out: Path, table: pd.DataFrame, results: dict) -> None:
    """``bench.csv`` (every row), ``bench.png`` and ``bench.json`` (rows + context)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.csv", table.to_csv(index=False))
    payload = {k: v for k, v in results.items() if k != "table"}
    payload["rows"] = table.astype(object).where(table.notna(), None).to_dict("records")
    payload["flops_formula"] = fl.__doc__
    atomic_write_text(out / "bench.json", json.dumps(_clean(payload), indent=2, default=str))
    plot(table, out / "bench.png")


def cmd_bench(args: argparse.Namespace) -> int:
    """The ``bench`` subcommand."""
    fast = args.fast or fast_mode()
    out = Path(args.out or ("results/bench-fast" if fast else "results/bench"))
    res = run_bench(out, fast, args.repeats, args.device, args.model, args.seed, args.threads)
    table = res["table"]
    for section in ("train", "inference", "machine"):
        print(f"\n== {section} ==")
        print(format_table(table, section))
    ach = res["achieved"]
    print(f"\nmachine: {res['machine']}; load average at start/end: {res['load_avg_start']} / "
          f"{res['load_avg_end']}")
    print(f"what bounds LM training: {res['bound']}")
    print(f"targets: fine-tuning speed-up {ach['finetune_speedup']} (target ≥ "
          f"{TARGETS['finetune_speedup']}×), LM pretraining at {ach['lm_fraction_of_peak']} of "
          f"peak (target ≥ {TARGETS['lm_fraction_of_peak']})")
    print(f"wrote {out}/bench.csv, bench.png, bench.json "
          f"({res['timings_s']['total']:.0f} s)")
    return 0


def add_parser(sub) -> None:
    """Register ``bench`` on the CLI's subparsers."""
    b = sub.add_parser("bench", help="measure every efficiency lever side by side "
                       "(table + CSV + PNG + JSON)")
    b.add_argument("--fast", action="store_true", help="CI-sized run (as TRANSFERLIB_FAST=1)")
    b.add_argument("--out", help="output folder (default results/bench, results/bench-fast "
                   "in fast mode)")
    b.add_argument("--repeats", type=int, help="timed chunks per row (median reported)")
    add_device_arguments(b, fallback=False)
    b.add_argument("--model", help="source LM folder (default: the shipped one)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one "
                   "per core; 1 is faster when other jobs share the cores)")
    b.set_defaults(func=cmd_bench)
