"""``python -m transferlib distill {teacher,label,student,deploy}``: the command line of the
teacher and distillation steps (``experiments.distill``, ``experiments.deploy``).

Taught in notebook 08.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transferlib.cli_helpers import add_device_arguments
from transferlib.config import REPO_ROOT, fast_mode, positive_int
from transferlib.devices import pick_device
from transferlib.errors import ArgumentError
from transferlib.experiments.deploy import measure_deploy
from transferlib.experiments.distill import (
    arms,
    label_transfer_sets,
    run_students,
    run_teachers,
)


def cmd_distill(args: argparse.Namespace) -> int:
    """Run the step ``args.step`` (see the module docstring)."""
    fast = args.fast or fast_mode()
    out = Path(args.out or REPO_ROOT / ("results/fast" if fast else "results"))
    models = Path(args.models or REPO_ROOT / ".cache" / ("teachers-fast" if fast
                                                          else "teachers"))
    device = pick_device(args.device)  # chosen once, here
    seeds = args.seeds or ([0] if fast else [0, 1, 2])
    if args.step == "teacher":
        runs = run_teachers(seeds, out, models, fast, args.command_line, device)
        print(runs.drop(columns="test_correct", errors="ignore").to_string(index=False))
        return 0
    names = args.arms or list(arms())
    unknown = sorted(set(names) - set(arms()))
    if unknown:
        raise ArgumentError(f"unknown arms {unknown}; allowed: {', '.join(arms())}")
    models.mkdir(parents=True, exist_ok=True)
    if args.step == "label":
        label_transfer_sets(out, models, fast, names, device)
        return 0
    if args.step == "student":
        runs = run_students(seeds, out, models, fast, names, args.command_line, device)
        print(runs.drop(columns="test_correct", errors="ignore").to_string(index=False))
        return 0
    if args.step == "deploy":
        frame = measure_deploy(out, models, fast, 3 if fast else 20)
        print(frame.to_string(index=False))
        return 0
    raise ArgumentError(f"unknown step {args.step!r}")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("distill", help="the MiniLM teacher and the LSTM distilled from it "
                                       "(optional extra [teacher])",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=["teacher", "label", "student", "deploy"])
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--out", help="results folder (default results/, results/fast in fast mode)")
    p.add_argument("--models", help="where teachers and the transfer set go (default "
                                    ".cache/teachers)")
    p.add_argument("--arms", nargs="+", help=f"students (default all: {', '.join(arms())})")
    p.add_argument("--fast", action="store_true", help="tiny data, one epoch (CI)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    add_device_arguments(p, "cpu", why=", as the measured runs; deploy always measures on "
                                       "the CPU", fallback=False)
    p.set_defaults(func=cmd_distill)
    return p
