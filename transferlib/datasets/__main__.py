"""``python -m transferlib.datasets build | build-vectors | verify``: the data files' command line
(taught in notebook 00). An application on top of the loaders and the builders, so neither of
them imports the other's command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transferlib import config
from transferlib.datasets import loaders
from transferlib.datasets.build import build
from transferlib.datasets.build_vectors import build_vectors
from transferlib.errors import exit_status


def main(argv: list[str] | None = None) -> int:
    """Command line: ``build`` the data files, ``build-vectors`` or ``verify`` them; 2 on an
    expected error."""
    builders = {"build": build, "build-vectors": build_vectors}
    parser = argparse.ArgumentParser(prog="python -m transferlib.datasets",
                                     description=loaders.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd_build = sub.add_parser("build", help="fetch the sources and write the data files")
    cmd_build.add_argument("--out", type=Path, default=None, help="default: transferlib's data/")
    cmd_build.add_argument("--raw", type=Path, default=None, help="archive cache (default: temp)")
    cmd_vec = sub.add_parser("build-vectors", help="extract the shipped GloVe vectors (needs the "
                             "build extra: pyarrow)")
    cmd_vec.add_argument("--out", type=Path, default=None, help="default: transferlib's data/")
    cmd_vec.add_argument("--raw", type=Path, default=None, help="archive cache (default: temp)")
    cmd_verify = sub.add_parser("verify", help="check the files against datacard.json")
    cmd_verify.add_argument("--data", type=Path, default=None, help="default: transferlib's data/")
    args = parser.parse_args(argv)

    def run() -> int:
        if args.command in ("build", "build-vectors"):
            out = args.out if args.out is not None else config.data_dir()
            _print_card(args.command, builders[args.command](out, args.raw))
        else:
            for rel, digest in loaders.verify(args.data).items():
                print(f"ok  {digest}  {rel}")
        return 0

    return exit_status(run)


def _print_card(command: str, card: dict) -> None:
    """What ``build`` / ``build-vectors`` wrote, from the datacard they return."""
    if command == "build":
        print(f"{'file':<36} {'rows':>7} {'bytes':>9}  sha256")
        for rel, e in card["files"].items():
            print(f"{rel:<36} {e['rows']:>7} {e['bytes']:>9}  {e['sha256'][:16]}")
    else:
        print(f"{card['words']} words x {card['dim']} ({card['composed_words']} composed)")
        for name, c in card["coverage"].items():
            print(f"{name:<28} token coverage {c['shipped']['token_coverage']:.2%}")


if __name__ == "__main__":
    sys.exit(main())
