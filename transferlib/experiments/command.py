"""``python -m transferlib experiments NAME ...``: the command line of the experiments.

Taught in notebook 01 (the questions) and 07 (the best strategy, chosen on valid). The runs
themselves are in ``experiments.runs``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from transferlib.cli_helpers import add_device_arguments
from transferlib.config import REPO_ROOT, fast_mode, positive_int, source_model_dir
from transferlib.errors import ArgumentError, DataError
from transferlib.experiments.runs import EXPERIMENTS, Context, experiment_sizes, run_experiment
from transferlib.experiments.sources import SOURCE_COUNTS, run_sources_experiment
from transferlib.strategies import PRESETS


def cmd_experiments(args: argparse.Namespace) -> int:
    """``python -m transferlib experiments NAME``: one experiment or ``all`` (sharing the
    adapted LMs and the RT classifiers)."""
    fast = args.fast or fast_mode()
    seeds = args.seeds or ([0] if fast else [0, 1, 2])
    which = EXPERIMENTS if "all" in args.which else tuple(dict.fromkeys(args.which))
    if "sources" in which:
        if len(which) > 1:
            raise ArgumentError("run `experiments sources` on its own")
        return cmd_sources(args, fast, seeds)
    if not fast and "lowres" in which and len(seeds) < 3:
        raise DataError(f"lowres needs >= 3 seeds for mean ± std, got {seeds}")
    out = Path(args.out or REPO_ROOT / ("results/fast" if fast else "results"))
    given = {"epochs": args.epochs, "lm_epochs": args.lm_epochs,
             "lowres_counts": tuple(args.counts) if args.counts else None}
    sizes = replace(experiment_sizes(fast), **{k: v for k, v in given.items() if v is not None})
    ctx = Context(Path(args.pretrained or source_model_dir()), sizes, args.device,
                  not args.no_amp,  # "best": keep every classifier (~10 MB each) for domains
                  keep_models=set(PRESETS) if args.strategy == "best" else {args.strategy})
    command = args.command_line
    strategy = args.strategy
    for name in which:
        if strategy == "best" and name in ("lowres", "domains"):
            strategy = best_strategy(out / "ablation.csv")
            print(f"best transfer strategy by mean valid accuracy: {strategy}")
        run_experiment(name, out, seeds, fast, strategy=strategy,
                       strategies=args.strategies, ctx=ctx, command=command, arms=args.arms)
    return 0


def cmd_sources(args: argparse.Namespace, fast: bool, seeds: list[int]) -> int:
    """``experiments sources --sources NAME=FOLDER ...``: the source-size curve (notebook 07)."""
    if not args.sources:
        raise ArgumentError("experiments sources needs --sources NAME=FOLDER [NAME=FOLDER ...]")
    sources = dict(args.sources)
    sizes = replace(experiment_sizes(fast), lowres_counts=tuple(args.counts) if args.counts
                    else (50, None) if fast else SOURCE_COUNTS)
    if args.epochs:
        sizes = replace(sizes, epochs=args.epochs)
    out = Path(args.out or REPO_ROOT / ("results/fast" if fast else "results"))
    lowres = Path(args.vectors_from) if args.vectors_from else None
    if lowres is not None and not lowres.is_file():
        raise DataError(f"--vectors-from {lowres}: no such file")
    run_sources_experiment(out, sources, seeds, sizes, args.reference or next(iter(sources)),
                           fast, args.device, not args.no_amp, args.command_line, lowres)
    return 0


def _source(text: str) -> tuple[str, Path]:
    """A ``--sources`` item: ``NAME=FOLDER`` with a model folder that exists."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER, got {text!r}")
    if not (Path(folder) / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{folder}: not a model folder (no config.json)")
    return name, Path(folder)


def best_strategy(ablation_csv: Path) -> str:
    """The transfer strategy (not scratch, not the v1 row) with the highest mean valid
    accuracy in an ablation summary: chosen on valid, never on test (notebook 07)."""
    if not ablation_csv.is_file():
        raise DataError(f"--strategy best needs an ablation summary; {ablation_csv} is missing "
                        "(run the ablation first, or `experiments all`)")
    summary = pd.read_csv(ablation_csv)
    transfer = summary[summary["strategy"].isin([s for s in PRESETS if PRESETS[s].pretrained])]
    return str(transfer.loc[transfer["valid_accuracy"].idxmax(), "strategy"])


def _count(text: str) -> int | None:
    """A label count of ``--counts``: a positive integer, or ``all`` (→ None, the whole pool)."""
    return None if text == "all" else positive_int(text)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``experiments`` on the CLI's subparsers (notebook 01)."""
    transfer = [s for s in PRESETS if s != "scratch"]
    p = sub.add_parser("experiments",
                       help="ablation, low-resource, domains, zero-shot, source size")
    p.add_argument("which", nargs="+", choices=[*EXPERIMENTS, "sources", "all"],
                   help="one or more experiments, run in one process so they share the "
                        "adapted LMs (all: every one)")
    p.add_argument("--fast", action="store_true", help="tiny sizes (same as TRANSFERLIB_FAST=1)")
    p.add_argument("--seeds", type=int, nargs="+", help="default: 0 1 2 (fast: 0)")
    p.add_argument("--out", help="output folder (default: results/, fast: results/fast/)")
    p.add_argument("--pretrained", help="source LM folder (default: the shipped one)")
    p.add_argument("--strategy", default="best", choices=["best", *transfer],
                   help="the transfer strategy of lowres and domains (best: the ablation's "
                        "best by mean valid accuracy)")
    p.add_argument("--strategies", nargs="+", choices=list(PRESETS),
                   help="ablation: only these presets (default: all)")
    p.add_argument("--arms", nargs="+", choices=list(PRESETS),
                   help="lowres: the curve's arms (default: scratch and --strategy)")
    p.add_argument("--counts", nargs="+", type=_count,
                   help="lowres: label counts, 'all' for the whole pool (default: 50 … all)")
    p.add_argument("--sources", nargs="+", type=_source, metavar="NAME=FOLDER",
                   help="sources: the source models to fine-tune from")
    p.add_argument("--reference", help="sources: the source the others are compared with "
                                       "(default: the first)")
    p.add_argument("--vectors-from", metavar="LOWRES_RUNS_CSV",
                   help="sources: compare every source with the vectors arm of these runs")
    add_device_arguments(p, fallback=False)
    p.add_argument("--no-amp", action="store_true", help="fp32 (no autocast)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--epochs", type=positive_int,
                   help="classifier epochs (default: pipeline's sizes)")
    p.add_argument("--lm-epochs", type=positive_int,
                   help="target-LM epochs (default: pipeline's sizes)")
    p.set_defaults(func=cmd_experiments)
    return p

