"""Reading a user's own CSV of labelled texts, with clear errors (taught in notebook 05).

``read_labelled_csv`` names the file, row and column of every problem, and never drops a row
silently: skipped rows are returned with their reasons in a ``SkipReport``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import DataError

SPLITS = ("train", "valid", "test")


@dataclass
class SkipReport:
    """Rows left out, by reason, with their 1-based line numbers in the file (header = line 1)."""

    skipped: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, lines: list[int]) -> None:
        if lines:
            self.skipped.setdefault(reason, []).extend(lines)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def __str__(self) -> str:
        if not self.skipped:
            return "no rows skipped"
        parts = []
        for reason, lines in self.skipped.items():
            shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
            parts.append(f"skipped {len(lines)} {reason}: lines {shown}")
        return "; ".join(parts)


def read_labelled_csv(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    split_column: str | None = "split",
) -> tuple[pd.DataFrame, SkipReport]:
    """Read a CSV with a text and a label column (and optionally a split column).

    Returns a DataFrame with columns ``text, label[, split]`` plus ``line`` (line number in the
    file) and the report of skipped rows (empty texts, empty labels). Raises ``DataError`` for a
    missing/empty/non-UTF-8 file, a missing column (listing the columns that exist), fewer than
    two classes, or unknown split values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: not valid UTF-8 (byte {exc.start}); "
                        "re-save the file as UTF-8") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    rows = list(csv.reader(text.splitlines(keepends=True)))
    header, body = rows[0], rows[1:]
    if not body:
        raise DataError(f"{path}: has a header but no data rows")
    wanted = [text_column, label_column] + ([split_column] if split_column in header else [])
    for col in (text_column, label_column):
        if col not in header:
            hint = " (is the delimiter a comma?)" if len(header) == 1 else ""
            raise DataError(f"{path}: no column {col!r}; the columns are {header}{hint}")
    index = {c: header.index(c) for c in wanted}
    # csv.reader joins quoted newlines into one record: track the physical line of each record
    reader = csv.reader(text.splitlines(keepends=True))
    next(reader)
    records, lines = [], []
    for record in reader:
        if len(record) != len(header):
            raise DataError(f"{path}, line {reader.line_num}: {len(record)} fields, the header "
                            f"has {len(header)}")
        records.append([record[index[c]] for c in wanted])
        lines.append(reader.line_num)
    df = pd.DataFrame(records, columns=["text", "label"] + (["split"] if len(wanted) == 3 else []))
    df["line"] = lines
    report = SkipReport()
    empty_text = df["text"].str.strip() == ""
    empty_label = df["label"].str.strip().isin(["", "nan", "NaN", "None", "null"])
    report.add("rows with empty text", df.loc[empty_text, "line"].tolist())
    report.add("rows with an empty/NaN label", df.loc[~empty_text & empty_label, "line"].tolist())
    df = df[~empty_text & ~empty_label].reset_index(drop=True)
    df["label"] = df["label"].str.strip()
    if df["label"].nunique() < 2:
        raise DataError(f"{path}: column {label_column!r} has {df['label'].nunique()} class(es) "
                        f"{sorted(df['label'].unique())[:3]}; a classifier needs at least two")
    if "split" in df:
        bad = df.loc[~df["split"].isin(SPLITS)]
        if len(bad):
            raise DataError(f"{path}, line {bad['line'].iloc[0]}: column {split_column!r} has "
                            f"value {bad['split'].iloc[0]!r}; allowed: {SPLITS}")
    return df, report


def split_frame(df: pd.DataFrame, seed: int = 0, valid_frac: float = 0.1,
                test_frac: float = 0.1) -> pd.DataFrame:
    """Add a seeded random ``split`` column (train/valid/test) to a frame that has none."""
    if len(df) < 10:
        raise DataError(f"only {len(df)} usable rows; need at least 10 to split")
    order = df.sample(frac=1.0, random_state=seed).index
    n_test, n_valid = max(1, int(len(df) * test_frac)), max(1, int(len(df) * valid_frac))
    split = pd.Series("train", index=df.index)
    split[order[:n_test]] = "test"
    split[order[n_test:n_test + n_valid]] = "valid"
    return df.assign(split=split)
