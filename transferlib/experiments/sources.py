"""The source-size curve: how much transfer grows with what the source model has read.

Taught in notebook 07 (section 10). Every source language model (a model folder: the shipped
one, or ones pretrained on a share of the source text with ``python -m transferlib pretrain
--fraction F``) is fine-tuned with the ``full`` recipe at a few label counts, by exactly the
runs of the low-resource curve (``runs.lowres_run``: same samples, epochs and seeds), so the
only thing that changes along the curve is the source model. ``python -m transferlib experiments
sources --sources NAME=FOLDER ...`` writes ``sources_runs.csv``, ``sources_correct.csv``,
``sources.csv``, ``sources.png`` and ``sources.json`` (each source's size, perplexity and
pretraining seconds, and the comparisons with their 95 % intervals)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from transferlib.checkpoint import read_config
from transferlib.config import machine_info, recorded_path
from transferlib.errors import ArgumentError, DataError
from transferlib.experiments.records import check_partial, is_done, read_partial, summarize
from transferlib.experiments.report import correct_frame, read_runs, write_outputs
from transferlib.experiments.runs import Context, ExperimentSizes, lowres_counts, lowres_run
from transferlib.stats import compare, runs_from_frame

SOURCE_COUNTS = (100, 1000, None)  # None: every label of the training pool
RECIPE = "full"  # the fine-tuning recipe of every point (strategies.PRESETS)


def source_facts(folder: Path) -> dict:
    """What a source model read and how well it predicts: training tokens, vocabulary,
    held-out perplexity, pretraining seconds, embedding (from its ``metrics.json``)."""
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path} is missing: a source model folder written by "
                        "`python -m transferlib pretrain` has one")
    m = json.loads(path.read_text(encoding="utf-8"))
    return {"folder": recorded_path(folder), "train_tokens": int(m["train_tokens"]),
            "epochs": m["epochs"], "vocab_size": m["vocab_size"],
            "valid_perplexity": m["valid_perplexity"], "seconds": m["seconds"],
            "embedding": m.get("embedding"), "source_fraction": m.get("source_fraction", 1.0),
            "command": m.get("command")}


def run_sources(sources: dict[str, Path], seeds: Sequence[int], sizes: ExperimentSizes,
                device: str = "auto", amp: bool = True, partial: Path | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``RECIPE`` fine-tuned from every source in ``sources`` (name → model folder) at every
    label count of ``sizes.lowres_counts`` → ``(runs, summary)``. Seed-major (an
    interrupted run has every source of its first seeds), resumable from ``partial``."""
    contexts = {name: Context(Path(folder), sizes, device, amp)
                for name, folder in sources.items()}
    tokens = {name: source_facts(folder)["train_tokens"] for name, folder in sources.items()}
    rows = read_partial(partial)
    for seed in seeds:
        for name, ctx in contexts.items():
            for n in lowres_counts(ctx):
                if is_done(rows, source=name, n_labels=n, seed=seed):
                    continue
                rows.append({"source": name, "source_tokens": tokens[name],
                             **lowres_run(ctx, RECIPE, n, seed)})
                print(f"sources {name} {n} labels seed {seed}: test "
                      f"{rows[-1]['test_accuracy']:.4f}", flush=True)
                if partial:
                    pd.DataFrame(rows).to_csv(partial, index=False)
    runs = pd.DataFrame(rows)
    runs = runs[runs["source"].isin(list(sources)) & runs["seed"].isin(seeds)]
    runs = runs.assign(strategy=[source_label(s) for s in runs["source"]])
    summary = summarize(runs, ["source", "n_labels"])
    summary.insert(1, "source_tokens", summary["source"].map(tokens))
    return runs.reset_index(drop=True), summary


def source_label(name: str) -> str:
    """The name a source's runs carry in comparisons: the recipe and the source."""
    return f"{RECIPE} from {name}"


def source_comparisons(runs: pd.DataFrame, reference: str,
                       others: pd.DataFrame | None = None) -> list[dict]:
    """At each label count, every source against ``reference`` (a source name), and, when
    ``others`` (e.g. the low-resource runs) has the ``vectors`` arm at that count on the same
    test set, every source against it: does what the source read add to the word vectors?"""
    if reference not in set(runs["source"]):
        raise ArgumentError(f"reference source {reference!r} has no runs")
    both = runs if others is None else pd.concat(
        [runs, others[others["strategy"] == "vectors"]], ignore_index=True)
    correct, out = correct_frame(both), []
    for n, part in both.groupby("n_labels"):
        here = None if correct is None else correct[correct["n_labels"] == n]
        names = list(dict.fromkeys(part.loc[part["source"].notna(), "source"]))
        pairs = [(source_label(s), source_label(reference)) for s in names if s != reference]
        if "vectors" in set(part["strategy"]):
            pairs += [(source_label(s), "vectors") for s in names]
        for a, b in pairs:
            c = compare(runs_from_frame(part, a, here), runs_from_frame(part, b, here),
                        show=False)
            out.append({"n_labels": int(n), **c.to_dict(), "text": str(c)})
    return out


def run_sources_experiment(out: Path, sources: dict[str, Path], seeds: Sequence[int],
                           sizes: ExperimentSizes, reference: str, fast: bool, device: str = "auto",
                           amp: bool = True, command: str = "",
                           lowres_runs: Path | None = None) -> dict[str, Path]:
    """Run the source-size curve and write its files (notebook 07); ``reference`` names the
    source the others are compared with, ``lowres_runs`` a ``lowres_runs.csv`` whose
    ``vectors`` arm each source is compared with."""
    start = time.perf_counter()
    if reference not in sources:
        raise ArgumentError(f"--reference {reference!r} is not one of {list(sources)}")
    meta: dict = {"experiment": "sources", "command": command, "seeds": list(seeds),
                  "recipe": RECIPE, "sizes": asdict(sizes), "reference": reference,
                  "pretrained": {n: recorded_path(f) for n, f in sources.items()},
                  "fast": fast,
                  "sources": {n: {**source_facts(f), "model": read_config(f)["model"]}
                              for n, f in sources.items()}}
    partial = Path(out) / "sources_runs.partial.csv"
    check_partial(partial, meta)
    runs, summary = run_sources(sources, seeds, sizes, device, amp, partial)
    others = None
    if lowres_runs is not None:
        others = read_runs(Path(lowres_runs))
        others = others[others["n_labels"].isin(runs["n_labels"])
                        & others["n_test"].isin(runs["n_test"])]
        meta["vectors_from"] = recorded_path(lowres_runs)
    meta["comparisons"] = source_comparisons(runs, reference, others)
    print("\n".join(c["text"] for c in meta["comparisons"]))
    meta.update(machine=machine_info(), seconds=time.perf_counter() - start)
    paths = write_outputs(Path(out), "sources", runs, summary, meta)
    for done in (partial, partial.with_suffix(".json")):
        done.unlink(missing_ok=True)
    print(summary.to_string(index=False))
    return paths
