"""Result rows in a CSV, and their means: one store for `lamigo eval` (per-image rows and the
per-condition summaries) and the GNU Radio SNR sweep (per-run rows and their markdown table).

A CSV of fixed columns is written a row at a time, so an interrupted run keeps every row it
finished and `lamigo eval` resumes from them; a CSV with other columns than the caller's is
refused rather than mixed."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path

import numpy as np

from lamigo.errors import ConfigError

__all__ = ["ResultCSV", "cell_number", "cell_text", "group_rows", "mean_of"]


def cell_text(value: object) -> str:
    """A value as a CSV cell: empty for None or NaN, 6 significant digits for a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".6g")
    return str(value)


def cell_number(value: object) -> float | None:
    """A cell (or a value) as a number: None for an empty cell, text that is no number, or NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


class ResultCSV:
    """A CSV of result rows with the columns `fields`; a row's missing columns stay empty."""

    def __init__(self, path: Path, fields: Sequence[str]) -> None:
        self.path = Path(path)
        self.fields = tuple(fields)

    def read(self) -> list[dict]:
        """The rows written so far (as text); [] when there is no file. ConfigError when its
        columns are not `fields`."""
        if not self.path.is_file():
            return []
        with self.path.open(newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames is not None and list(reader.fieldnames) != list(self.fields):
                raise ConfigError(f"{self.path} has other columns than this version writes; move it away "
                                  "or use another --out")
            return list(reader)

    def text_row(self, row: dict) -> dict[str, str]:
        """`row` as its cells (`cell_text`), every column present."""
        return {name: cell_text(row.get(name)) for name in self.fields}

    def write(self, rows: Iterable[dict] = ()) -> None:
        """The header and `rows`, replacing what the file held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(self.text_row(row) for row in rows)

    def append(self, row: dict) -> dict[str, str]:
        """Add one row at the end (the header first when there is no file); its cells."""
        if not self.path.is_file():
            self.write()
        cells = self.text_row(row)
        with self.path.open("a", newline="") as file:
            csv.DictWriter(file, fieldnames=self.fields).writerow(cells)
        return cells


def group_rows(rows: Iterable[dict], key: Callable[[dict], Hashable]) -> dict[Hashable, list[dict]]:
    """`rows` by `key(row)`, groups and rows in first-seen order."""
    groups: dict[Hashable, list[dict]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def mean_of(rows: Sequence[dict], name: str) -> float | None:
    """The mean of column `name` over the rows that hold a value (numbers or their text);
    None when none does."""
    values = [float(row[name]) for row in rows if row.get(name) not in (None, "")]
    return float(np.mean(values)) if values else None
