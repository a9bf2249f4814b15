"""``python -m transferlib ... --help`` stays light: a subcommand imports its own modules only
when it runs, so ``predict --help`` loads neither torch nor the experiment or benchmark code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from transferlib import cli

PROBE = """
import json, runpy, sys
sys.argv = ["transferlib", *json.loads(sys.argv[1])]
try:
    runpy.run_module("transferlib", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
                        ("transferlib", "torch", "pandas", "matplotlib"))), file=sys.stderr)
"""


def _imported_by(argv: list[str]) -> tuple[set[str], str]:
    """The modules a fresh interpreter holds after ``python -m transferlib *argv``, and stdout."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True,
                          text=True, timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1])), done.stdout


@pytest.mark.parametrize("argv", [["predict", "--help"], ["--help"], ["finetune", "--help"]])
def test_help_imports_no_subcommand_runner_and_no_torch(argv):
    modules, out = _imported_by(argv)
    assert "usage: python -m transferlib" in out
    heavy = {"transferlib.experiments.runs", "transferlib.bench.levers", "transferlib.bench.tta",
             "transferlib.experiments.distill", "transferlib.teacher", "transferlib.distill",
             "transferlib.pipeline", "transferlib.training", "torch", "pandas", "matplotlib",
             "transformers"}
    assert modules & heavy == set()


def test_a_lazy_subcommand_imports_its_module_only_when_asked():
    modules, out = _imported_by(["bench", "--help"])
    assert "--repeats" in out  # the bench module's own flags
    assert "transferlib.bench.levers" in modules
    assert "transferlib.experiments.runs" not in modules


def test_top_level_help_lists_every_subcommand_with_its_modules_help():
    full = cli.build_parser()  # imports every subcommand module, as before
    light = cli.build_parser("")
    helps = [{a.dest: a.help for a in p._subparsers._group_actions[0]._choices_actions}
             for p in (full, light)]
    assert helps[0] == helps[1], "keep cli.LAZY_COMMANDS' help in step with each add_parser"
    assert [name for name, _, _ in cli.LAZY_COMMANDS] == ["experiments", "bench", "distill",
                                                          "bench-tta"]


def test_requested_command_is_the_first_positional_argument():
    assert cli.requested_command(["bench", "--fast"]) == "bench"
    assert cli.requested_command(["--help"]) == ""
    assert cli.requested_command([]) == ""
    parser = cli.build_parser("experiments")
    args = parser.parse_args(["experiments", "lowres", "--fast"])
    assert args.which == ["lowres"] and callable(args.func)
