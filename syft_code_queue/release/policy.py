"""The owner's output policy: a verdict for each held file (``pass``, ``review`` or ``fail``,
with messages) before anyone decides to release it.

The logs are files like any other (``stdout.txt``, ``stderr.txt``). Checks look at what a
file is (extension, size, a name SyftBox would never carry) and, for CSV tables, at what it
holds: how many rows, forbidden columns, counts under a minimum. The owner's own checks run
last; one that raises asks for a person (``review``) rather than passing.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..models import Verdict
from ..syftbox import never_synced

log = logging.getLogger(__name__)

SEVERITY: dict[str, int] = {"pass": 0, "review": 1, "fail": 2}


class Finding(NamedTuple):
    """One check's word on one file."""

    verdict: Verdict
    message: str


# A check of the owner's: (the file's path in the results, the held file) -> a finding, or
# None when it has nothing to say about that file.
Check = Callable[[str, Path], Optional[Finding]]


def worst(findings: list[Finding]) -> Verdict:
    return max((f.verdict for f in findings), key=SEVERITY.__getitem__, default="pass")


class OutputPolicy(BaseModel):
    """What may leave the owner's machine without a second look (``create_server(output_policy=...)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    allowed_extensions: tuple[str, ...] = (".csv", ".json", ".txt", ".md", ".png", ".svg", ".pdf", ".html")
    max_file_size: int = Field(default=16 * 2**20, gt=0)
    max_csv_rows: Optional[int] = Field(default=5000, ge=0)
    forbidden_columns: tuple[str, ...] = ()
    min_cell_count: Optional[int] = Field(default=None, ge=1)
    checks: tuple[Callable[[str, Path], Optional[Finding]], ...] = ()

    @field_validator("allowed_extensions")
    @classmethod
    def _dotted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in value)

    def check(self, path: str, file: Path) -> list[Finding]:
        """Every finding of this policy on one held file (none: it passes)."""
        findings: list[Finding] = []
        if never_synced(path):
            findings.append(Finding("fail", "SyftBox never syncs a file named like this; the job must rename it"))
        suffix = PurePosixPath(path).suffix.lower()
        if suffix not in self.allowed_extensions:
            allowed = ", ".join(self.allowed_extensions)
            findings.append(Finding("fail", f"{suffix or 'no extension'} is not an allowed extension ({allowed})"))
        size = file.stat().st_size if file.exists() else 0
        if size > self.max_file_size:
            findings.append(Finding("fail", f"{size} bytes, over max_file_size ({self.max_file_size})"))
        elif suffix == ".csv" and size:  # an empty file is never written, so there is nothing to read
            findings.extend(self._check_csv(file))
        for check in self.checks:
            findings.extend(_run_check(check, path, file))
        return findings

    def _check_csv(self, file: Path) -> list[Finding]:
        try:
            table = read_csv(file)
        except (csv.Error, OSError) as exc:
            return [Finding("review", f"not readable as CSV ({exc}); look at it yourself")]
        findings: list[Finding] = []
        if self.max_csv_rows is not None and len(table.rows) > self.max_csv_rows:
            findings.append(
                Finding("fail", f"{len(table.rows)} rows, over max_csv_rows ({self.max_csv_rows}): row-level data?")
            )
        forbidden = {c.lower() for c in self.forbidden_columns}
        named = [name for name in table.header if name.strip().lower() in forbidden]
        if named:
            findings.append(Finding("fail", f"forbidden columns: {', '.join(named)}"))
        if self.min_cell_count is not None:
            small = [
                column.name
                for column in table.summary()
                if column.integers and column.min_nonzero is not None and abs(column.min_nonzero) < self.min_cell_count
            ]
            if small:
                findings.append(
                    Finding("fail", f"counts under min_cell_count ({self.min_cell_count}) in: {', '.join(small)}")
                )
        return findings


def _run_check(check: Check, path: str, file: Path) -> list[Finding]:
    name = getattr(check, "__name__", repr(check))
    try:
        found = check(path, file)
    except Exception as exc:  # the owner's code: it must not pass a file by failing
        log.exception("output check %s failed on %s", name, path)
        return [Finding("review", f"check {name} failed ({exc}); look at it yourself")]
    if found is None:
        return []
    try:
        verdict, message = found
        if verdict not in SEVERITY:
            raise ValueError(verdict)
    except (TypeError, ValueError):
        return [Finding("review", f"check {name} returned {found!r}, not a Finding(verdict, message)")]
    return [Finding(verdict, str(message))]


@dataclass(frozen=True)
class ColumnSummary:
    """What output checkers look at in a column: its range, its smallest non-zero value, and
    whether its counts are rounded to multiples of 5 (None: not a column of whole numbers)."""

    name: str
    numeric: bool
    integers: bool
    min: Optional[float]
    max: Optional[float]
    min_nonzero: Optional[float]
    multiples_of_5: Optional[bool]


@dataclass(frozen=True)
class CsvTable:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def summary(self) -> tuple[ColumnSummary, ...]:
        return tuple(
            _summarise(name, [row[i] for row in self.rows if i < len(row)]) for i, name in enumerate(self.header)
        )


def read_csv(file: Path) -> CsvTable:
    """A CSV file's header and rows (as text)."""
    text = file.read_text(encoding="utf-8", errors="replace")
    rows = [tuple(row) for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        return CsvTable((), ())
    return CsvTable(rows[0], tuple(rows[1:]))


def _summarise(name: str, cells: list[str]) -> ColumnSummary:
    numbers: list[float] = []
    for cell in cells:
        text = cell.strip()
        if not text:
            continue
        try:
            numbers.append(float(text))
        except ValueError:
            return ColumnSummary(name, False, False, None, None, None, None)
    if not numbers:
        return ColumnSummary(name, False, False, None, None, None, None)
    integers = all(n.is_integer() for n in numbers)
    nonzero = [n for n in numbers if n != 0]
    return ColumnSummary(
        name=name,
        numeric=True,
        integers=integers,
        min=min(numbers),
        max=max(numbers),
        min_nonzero=min(nonzero, key=abs) if nonzero else None,
        multiples_of_5=all(n % 5 == 0 for n in numbers) if integers else None,
    )
