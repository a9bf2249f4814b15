"""The records of a resumable experiment: rows written as runs finish, read back on resume.

Taught in notebook 01 (where the results come from). An experiment rewrites
``NAME_runs.partial.csv`` after every run, with a sidecar JSON of its settings; run again with
the same settings, it skips the runs already there (``is_done``) and goes on; with other
settings it refuses to mix them (``check_partial``). ``summarize`` turns runs into mean ± std.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from transferlib.errors import DataError


def summarize(runs: pd.DataFrame, by: list[str], value: str = "test_accuracy") -> pd.DataFrame:
    """Mean, std (ddof 1; NaN for one seed) and seed count of ``value`` per group (notebook 01)."""
    out = runs.groupby(by, sort=False)[value].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"mean": f"{value}_mean", "std": f"{value}_std",
                               "count": "n_seeds"})


def read_partial(partial: Path | None) -> list[dict]:
    """The rows an interrupted run already wrote to ``partial`` (none when it is absent)."""
    if partial is None or not Path(partial).is_file():
        return []
    frame = pd.read_csv(partial, dtype={"test_correct": str})
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def is_done(rows: list[dict], **key) -> bool:
    """Whether ``rows`` hold a run whose columns equal ``key`` (a resumed run skips it)."""
    return any(all(str(r.get(k)) == str(v) for k, v in key.items()) for r in rows)


def check_partial(partial: Path, meta: dict) -> None:
    """Resume only a run of the same settings: ``partial``'s sidecar JSON records the sizes,
    the source model and fast mode of the run that wrote it; another run into the same folder
    with other settings is refused instead of mixing its rows with the old ones."""
    settings = {k: meta[k] for k in ("sizes", "pretrained", "fast")}
    sidecar = partial.with_suffix(".json")
    partial.parent.mkdir(parents=True, exist_ok=True)
    if partial.is_file() and sidecar.is_file():
        before = json.loads(sidecar.read_text(encoding="utf-8"))
        if before != json.loads(json.dumps(settings, default=str)):
            raise DataError(f"{partial} holds runs of other settings ({sidecar} differs from "
                            "this run's): delete both files, or use another --out")
    if partial.is_file():
        print(f"resuming from {partial} ({len(read_partial(partial))} runs done)", flush=True)
    sidecar.write_text(json.dumps(settings, indent=1, default=str), encoding="utf-8")
