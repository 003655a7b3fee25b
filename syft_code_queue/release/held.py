"""Held results: a run's logs and outputs in the owner's private storage, each file with the
verdict it got when it was held (``held.json``), and the owner's view of them
(``HeldOutputs``: what ``server.get_held_outputs`` returns, what the approval panel shows).

The verdicts and hashes are taken once, when the run ends: a release later copies only
those bytes, so a held file changed after it was checked is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ReleaseError
from ..models import FileEntry, Job, JobResult, JobStatus, Verdict
from ..protocol.layout import STDERR_FILE, HeldPaths
from .acro import acro_findings
from .policy import ColumnSummary, CsvTable, Finding, OutputPolicy, read_csv, worst

HELD_SCHEMA_VERSION = 1
PREVIEW_BYTES = 64 * 1024


class HeldFile(FileEntry):
    """One held file (an output, or a log) and its verdict."""

    verdict: Verdict = "pass"
    messages: tuple[str, ...] = ()


class HeldResults(BaseModel):
    """``held.json``: what a run left, how it ended, and each file's verdict. Owner-private."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = HELD_SCHEMA_VERSION
    uid: str
    requester_email: str
    held_at: datetime
    exit_code: Optional[int] = None
    truncated: bool = False
    status: JobStatus  # what a release makes the job: completed or failed, as the run ended
    reason: str  # how the run ended ("exit code 0", a failure's reason)
    logs: tuple[HeldFile, ...] = ()  # stdout.txt, stderr.txt (paths relative to the held folder)
    outputs: tuple[HeldFile, ...] = ()  # paths relative to outputs/
    policy_passed: bool = Field(default=False)  # every file (logs included) passed

    @property
    def files(self) -> tuple[HeldFile, ...]:
        return (*self.outputs, *self.logs)


def check_held(
    paths: HeldPaths, held: JobResult, policy: OutputPolicy
) -> tuple[tuple[HeldFile, ...], tuple[HeldFile, ...]]:
    """The verdict of every held output and log: the policy's findings, and ACRO's for the
    files an ACRO ``results.json`` among the outputs covers."""
    findings: dict[str, list[Finding]] = {
        e.path: policy.check(e.path, paths.outputs_dir / e.path) for e in held.outputs
    }
    for entry in held.outputs:
        for path, found in (acro_findings(entry.path, paths.outputs_dir / entry.path) or {}).items():
            if path in findings:
                findings[path].extend(found)
    outputs = tuple(_held(e, findings[e.path]) for e in held.outputs)
    logs = tuple(
        _held(e, policy.check(e.path, paths.folder / e.path)) for e in (held.stdout, held.stderr) if e is not None
    )
    return outputs, logs


def _held(entry: FileEntry, findings: list[Finding]) -> HeldFile:
    return HeldFile(
        path=entry.path,
        size=entry.size,
        sha256=entry.sha256,
        verdict=worst(findings),
        messages=tuple(f"{f.verdict}: {f.message}" for f in findings),
    )


@dataclass(frozen=True)
class CsvPreview:
    """The first rows of a held CSV and its per-column summary, for a reviewer."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total_rows: int
    columns: tuple[ColumnSummary, ...]


@dataclass(frozen=True)
class HeldOutputs:
    """The owner's view of one job's held results. Owner only: never give it to a requester."""

    job: Job
    paths: HeldPaths
    held: HeldResults

    @property
    def folder(self) -> Path:
        return self.paths.folder

    @property
    def outputs_dir(self) -> Path:
        return self.paths.outputs_dir

    @property
    def files(self) -> tuple[HeldFile, ...]:
        """The held outputs, each with its verdict."""
        return self.held.outputs

    @property
    def log_files(self) -> tuple[HeldFile, ...]:
        """``stdout.txt`` and ``stderr.txt`` as held, each with its verdict."""
        return self.held.logs

    @property
    def release_notes(self) -> str:
        """The requester's context for the review: what the results are, the controls applied."""
        return self.job.release_notes

    @property
    def exit_code(self) -> Optional[int]:
        return self.held.exit_code

    @property
    def passed(self) -> bool:
        """Whether every file, logs included, passed the output policy."""
        return self.held.policy_passed

    @property
    def logs(self) -> Optional[str]:
        """stdout, then stderr under a heading, as held; None when the run left neither."""
        if not self.held.logs:
            return None
        parts: list[str] = []
        for entry in self.held.logs:
            text = self.read(entry.path, max_bytes=-1, log=True).decode(errors="replace")
            if text and entry.path == STDERR_FILE:
                parts.append("--- stderr ---")
            if text:
                parts.append(text.rstrip("\n"))
        return "\n".join(parts) + ("\n" if parts else "")

    def entry(self, path: str, *, log: bool = False) -> HeldFile:
        """The held output at ``path`` (relative to ``outputs/``), or with ``log`` the held
        ``stdout.txt`` or ``stderr.txt``."""
        for entry in self.held.logs if log else self.held.outputs:
            if entry.path == path:
                return entry
        what = "log" if log else "output"
        raise ReleaseError(f"job {self.job.uid} holds no {what} {path!r}; get_held_outputs lists the held files")

    def path(self, path: str, *, log: bool = False) -> Path:
        entry = self.entry(path, log=log)
        return (self.paths.folder if log else self.paths.outputs_dir) / entry.path

    def read(self, path: str, max_bytes: int = PREVIEW_BYTES, *, log: bool = False) -> bytes:
        """At most ``max_bytes`` (-1: all) of a held file, for a preview."""
        if self.entry(path, log=log).size == 0:
            return b""
        with open(self.path(path, log=log), "rb") as fh:
            return fh.read(max_bytes)

    def csv_preview(self, path: str, max_rows: int = 50) -> CsvPreview:
        """A held CSV's first rows, and per column its min, max, min non-zero and whether its
        counts are multiples of 5: what output checkers look at."""
        table: CsvTable = read_csv(self.path(path)) if self.entry(path).size else CsvTable((), ())
        return CsvPreview(table.header, table.rows[:max_rows], len(table.rows), table.summary())
