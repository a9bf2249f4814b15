"""Reading a user's own CSV of labelled texts, with clear errors (taught in notebook 06).

``read_labelled_csv`` names the file, line and column of every problem, and never drops a row
silently: skipped rows are returned with their reasons and line numbers in a ``SkipReport``,
together with notes on suspicious but kept rows (texts repeated across splits).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from transferlib.config import SPLITS
from transferlib.errors import DataError

# label cells that mean "no label" (compared case-insensitively, after stripping)
MISSING_LABELS = ("", "nan", "null", "<na>")
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class SkipReport:
    """Rows left out, by reason, with their 1-based line numbers in the file (header = line 1),
    and ``notes`` on rows that were kept but deserve a look."""

    skipped: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, reason: str, lines: list[int]) -> None:
        if lines:
            self.skipped.setdefault(reason, []).extend(lines)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def __str__(self) -> str:
        parts = []
        for reason, lines in self.skipped.items():
            shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
            parts.append(f"skipped {len(lines)} {reason}: lines {shown}")
        parts += self.notes
        return "; ".join(parts) if parts else "no rows skipped"


def _decode(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: is a folder, not a CSV file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"{path}, line {line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                        f"column {column}); re-save the file as UTF-8") from None


def _records(path: Path, text: str) -> list[tuple[int, int, list[str]]]:
    """``(first line, last line, fields)`` of every record; quoted newlines stay in fields."""
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, len(text) + 1))  # a 1 MB text is one legal field
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        out = []
        while True:
            first = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return out
            except csv.Error as exc:
                raise DataError(f"{path}, line {first}: unreadable CSV ({exc})") from None
            out.append((first, reader.line_num, record))
    finally:
        csv.field_size_limit(old_limit)


def _header(path: Path, header: list[str], columns: list[str]) -> list[str]:
    header = [h.strip() for h in header]
    for col in columns:
        if header.count(col) > 1:
            raise DataError(f"{path}, line 1: column {col!r} appears {header.count(col)} times "
                            f"in the header {header}")
    for col in columns:
        if col not in header:
            hint = ""
            found = [name for d, name in OTHER_DELIMITERS.items() if d in ",".join(header)]
            if found:
                hint = (f" — the file looks {found[0]}-separated; transferlib reads "
                        "comma-separated files: re-save it as CSV with commas")
            raise DataError(f"{path}, line 1: no column {col!r}; the columns are {header}{hint}")
    return header


def read_labelled_csv(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    split_column: str | None = "split",
) -> tuple[pd.DataFrame, SkipReport]:
    """Read a CSV with a text and a label column (and optionally a split column).

    Returns a DataFrame with columns ``text, label[, split]`` plus ``line`` (the line where the
    row starts in the file) and a ``SkipReport`` of skipped rows (blank lines, empty or
    whitespace-only texts, empty/NaN labels) and notes (texts repeated across splits or with
    different labels: kept). Quoted fields may hold commas and newlines. Raises ``DataError``
    for a missing/empty/non-UTF-8 file, a header without data rows, a missing column (listing
    the columns that exist, with a hint for ``;``/tab-separated files), a row with the wrong
    number of fields, fewer than two classes, or split values other than train/valid/test.
    """
    path = Path(path)
    text = _decode(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    records = _records(path, text)
    while records and not records[0][2]:
        records.pop(0)  # blank lines before the header
    if not records:
        raise DataError(f"{path}: the file is empty")
    header = _header(path, records[0][2], [text_column, label_column])
    body = records[1:]
    if not any(fields for _, _, fields in body):
        raise DataError(f"{path}: has a header but no data rows")
    wanted = [text_column, label_column] + ([split_column] if split_column in header else [])
    index = [header.index(c) for c in wanted]
    report = SkipReport()
    rows, lines, blank = [], [], []
    for first, last, fields in body:
        if not fields:
            blank.append(first)
            continue
        if len(fields) != len(header):
            hint = (f" (this record runs on to line {last}: an unclosed '\"'?)" if last > first
                    else " (quote texts that contain commas)" if len(fields) > len(header)
                    else "")
            raise DataError(f"{path}, line {first}: {len(fields)} field(s), the header has "
                            f"{len(header)}{hint}")
        rows.append([fields[i] for i in index])
        lines.append(first)
    report.add("blank lines", blank)
    names = ["text", "label"] + (["split"] if len(wanted) == 3 else [])
    df = pd.DataFrame(rows, columns=names, dtype=object)
    df["line"] = pd.Series(lines, dtype="int64")
    empty_text = df["text"].str.strip() == ""
    label = df["label"].str.strip()
    empty_label = label.str.lower().isin(MISSING_LABELS) | (label == "None")
    report.add("rows with empty text", df.loc[empty_text, "line"].tolist())
    report.add("rows with an empty/NaN label", df.loc[~empty_text & empty_label, "line"].tolist())
    df = df[~empty_text & ~empty_label].reset_index(drop=True)
    if df.empty:
        raise DataError(f"{path}: no usable rows ({report})")
    df["label"] = df["label"].str.strip()
    counts = df["label"].value_counts()
    if len(counts) < 2:
        raise DataError(f"{path}: column {label_column!r} has only one class "
                        f"{counts.index[0]!r} ({counts.iloc[0]} rows); a classifier needs at "
                        "least two")
    if "split" in df:
        df["split"] = df["split"].str.strip()
        bad = df.loc[~df["split"].isin(SPLITS)]
        if len(bad):
            values = sorted(bad["split"].unique())
            raise DataError(f"{path}, line {bad['line'].iloc[0]}: column {split_column!r} has "
                            f"value {bad['split'].iloc[0]!r} ({len(bad)} rows with values "
                            f"{values[:5]}); allowed: {', '.join(SPLITS)}")
        _note_duplicates(df, report)
    return df, report


def _note_duplicates(df: pd.DataFrame, report: SkipReport) -> None:
    """Add notes on texts found in more than one split, or with more than one label (kept)."""
    key = df["text"].str.strip().str.lower()
    for column, what in (("split", "in more than one split"), ("label", "with different labels")):
        spread = df.groupby(key)[column].nunique()
        repeated = spread[spread > 1].index
        if len(repeated):
            rows = df.loc[key.isin(repeated)]
            example = rows.loc[key[rows.index] == repeated[0]]
            shown = ", ".join(f"line {n} ({v})" for n, v in zip(example["line"][:3],
                                                               example[column][:3]))
            report.notes.append(
                f"{len(repeated)} texts appear {what} (kept; e.g. {shown})"
                + (": the test score may be optimistic" if column == "split" else ""))


def read_text_csv(path: str | Path, text_column: str = "text", split_column: str = "split"
                  ) -> tuple[list[str], SkipReport]:
    """The texts of an unlabelled CSV (``finetune --lm-data``): the rows whose split is
    ``train`` when the file has a split column, else every row. Same checks and error messages
    as ``read_labelled_csv``; blank lines and empty texts are skipped and reported."""
    path = Path(path)
    text = _decode(path)
    records = _records(path, text)
    while records and not records[0][2]:
        records.pop(0)
    if not records:
        raise DataError(f"{path}: the file is empty")
    header = _header(path, records[0][2], [text_column])
    col = header.index(text_column)
    split = header.index(split_column) if split_column in header else None
    report, texts, blank, empty = SkipReport(), [], [], []
    for first, _last, fields in records[1:]:
        if not fields:
            blank.append(first)
            continue
        if len(fields) != len(header):
            raise DataError(f"{path}, line {first}: {len(fields)} field(s), the header has "
                            f"{len(header)}")
        if split is not None and fields[split].strip() != "train":
            continue
        if not fields[col].strip():
            empty.append(first)
            continue
        texts.append(fields[col])
    report.add("blank lines", blank)
    report.add("rows with empty text", empty)
    if not texts:
        raise DataError(f"{path}: no usable texts in column {text_column!r} ({report})")
    return texts, report


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
