"""``python -m transferlib.workbook release|grade|book``: the teacher's kit
(``workbook.classroom``) and the course as a static website (``workbook.book``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from transferlib.config import REPO_ROOT
from transferlib.errors import ArgumentError, exit_status
from transferlib.workbook.classroom import grade, release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transferlib.workbook",
                                     description="hand out and grade the course's notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write student/ and instructor/ copies")
    rel.add_argument("--out", required=True, help="folder for student/ and instructor/")
    rel.add_argument("--notebooks", default=str(REPO_ROOT / "notebooks"),
                     help="the course's notebooks (default: this repository's)")
    rel.add_argument("--solutions", default=str(REPO_ROOT / "solutions"),
                     help="the worked solutions (default: this repository's)")
    gr = sub.add_parser("grade", help="run returned notebooks and collect every verdict")
    gr.add_argument("submissions", help="a folder of SUBMISSIONS/<student>/<notebook>.ipynb")
    gr.add_argument("--out", required=True, help="the CSV to write")
    gr.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    gr.add_argument("--notebooks", default=str(REPO_ROOT / "notebooks"),
                    help="the folder the notebooks run in (default: this repository's)")
    book = sub.add_parser("book", help="build the course as a static website (Jupyter Book)")
    book.add_argument("--out", required=True, help="folder for src/, vendor/ and html/")
    args = parser.parse_args(argv)
    return exit_status(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.command == "book":
        return _book(Path(args.out))
    if args.command == "release":
        written = release(Path(args.notebooks), Path(args.solutions), Path(args.out))
        for kind, paths in written.items():
            print(f"{kind}: {len(paths)} notebooks in {Path(args.out) / kind}")
        return 0
    if not Path(args.submissions).is_dir():
        raise ArgumentError(f"{args.submissions} is not a folder")
    rows = grade(Path(args.submissions), Path(args.out), args.timeout, Path(args.notebooks))
    print(f"graded {len(rows)} exercises of {len({r.student for r in rows})} students "
          f"→ {args.out}")
    return 0


def _book(out: Path) -> int:
    """Build the website; print its folder, the build's seconds and the site's size."""
    from transferlib.workbook.book import build_book  # Jupyter Book: only this command needs it

    start = time.perf_counter()
    html = build_book(out)
    seconds = time.perf_counter() - start
    files = [p for p in html.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"{html}\nbuilt in {seconds:.1f} s: {len(files)} files, {size / 1e6:.1f} MB "
          f"(open {html / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
