"""The approval panel's "Outputs to release" section: what the owner sees of a job's held
results before deciding, and the decisions taken there.

A card of a job ``awaiting_release`` carries ``release_section``: the requester's release
notes, each held output and log with its verdict and messages, and which start ticked: a
file that passed the output policy; one to review or that failed waits for the owner to tick
it (a name SyftBox never syncs cannot be ticked). The logs are released together or not.

A file's preview is loaded when the owner opens it, and is bounded: ``TEXT_BYTES`` of text,
``CSV_ROWS`` rows of ``CSV_COLUMNS`` columns of a table (with its column checks, taken over
every row of a file up to ``CSV_CHECK_BYTES``), an image up to ``IMAGE_BYTES``. An SVG is shown
as an image (an ``<img>`` runs no script) and as its source, where hidden text would show.
Every preview is a view of the held file the server records in the audit log.
"""

from __future__ import annotations

import base64
import csv
import math
from typing import Any, Literal, Optional

from pydantic import Field

from ..errors import ReleaseError
from ..models import Job, JobStatus
from ..release import HeldFile, HeldOutputs
from ..release.policy import ColumnSummary
from ..server import CodeQueueServer
from ..syftbox import never_synced
from .base import Action, Uid
from .outputs import image_type

TEXT_BYTES = 64 * 1024
IMAGE_BYTES = 2 * 1024 * 1024
CSV_ROWS = 50
CSV_COLUMNS = 40
CSV_CELL_CHARS = 200
CSV_CHECK_BYTES = 16 * 1024 * 1024  # the output policy's default max_file_size
MAX_FILES = 10_000


class HeldFileAction(Action):
    """Preview one held output, or with ``log`` one of the held logs."""

    kind: Literal["held_file"]
    uid: Uid
    path: str = Field(min_length=1, max_length=4096)
    log: bool = False


class ReleaseAction(Action):
    """Release the ticked outputs and, with ``logs``, the logs."""

    kind: Literal["release"]
    uid: Uid
    files: list[str] = Field(default_factory=list, max_length=MAX_FILES)
    logs: bool = False
    reason: str = Field(default="", max_length=2000)


class WithholdAction(Action):
    """Release nothing; the server requires a reason, shown under the reason field."""

    kind: Literal["withhold"]
    uid: Uid
    reason: str = Field(default="", max_length=2000)


ReleaseActionType = (HeldFileAction, ReleaseAction, WithholdAction)


class ReleaseSections:
    """The sections of the held jobs a panel shows, each read once per version of its job
    (the panel redraws a page on every change; a held record never changes while held)."""

    def __init__(self, server: CodeQueueServer) -> None:
        self.server = server
        self._known: dict[str, tuple[Job, Optional[dict[str, Any]]]] = {}

    def of(self, jobs: list[Job]) -> list[Optional[dict[str, Any]]]:
        """Each job's section (None for a job not awaiting release); forgets the others."""
        known, self._known = self._known, {}
        for job in jobs:
            cached = known.get(job.uid)
            section = cached[1] if cached is not None and cached[0] is job else release_section(self.server, job)
            self._known[job.uid] = (job, section)
        return [self._known[job.uid][1] for job in jobs]


def release_section(server: CodeQueueServer, job: Job) -> Optional[dict[str, Any]]:
    """What the card of a held job shows beside its outputs; None for any other job."""
    if job.status != JobStatus.awaiting_release:
        return None
    try:
        held = server.get_held_outputs(job.uid)
    except ReleaseError as exc:
        return {"error": str(exc)}
    logs = [_file(f) for f in held.log_files]
    return {
        "notes": held.release_notes,
        "exit_code": held.exit_code,
        "passed": held.passed,
        "files": [_file(f) for f in held.files],
        "logs": logs,
        "logs_ticked": bool(logs) and all(f["ticked"] for f in logs),
    }


def _file(entry: HeldFile) -> dict[str, Any]:
    releasable = not never_synced(entry.path)
    return {
        "path": entry.path,
        "size": entry.size,
        "verdict": entry.verdict,
        "messages": list(entry.messages),
        "releasable": releasable,
        "ticked": releasable and entry.verdict == "pass",
    }


def handle(server: CodeQueueServer, action: Any) -> dict[str, Any]:
    """Carry out one of the section's actions; returns the acknowledgement's fields."""
    if isinstance(action, HeldFileAction):
        return {"preview": preview(server, action.uid, action.path, action.log)}
    if isinstance(action, ReleaseAction):
        job = server.release_job(action.uid, files=action.files, logs=action.logs, reason=action.reason)
        released = len(job.release.files) if job.release else 0
        logs = " and the logs" if job.release and job.release.logs_released else ""
        return {"message": f"Released {released} file{'' if released == 1 else 's'}{logs} of {job.name!r}"}
    try:
        job = server.withhold_job(action.uid, action.reason)
    except ReleaseError as exc:
        if action.reason.strip():
            raise
        return {"ok": False, "error": str(exc), "errors": {"reason": str(exc)}}
    return {"message": f"Withheld the results of {job.name!r} [{job.short_uid}]"}


def preview(server: CodeQueueServer, uid: str, path: str, log: bool = False) -> dict[str, Any]:
    """A bounded preview of one held file: an image, a table with its column checks, or text."""
    held = server.get_held_outputs(uid)
    entry = held.entry(path, log=log)
    head = server.read_held_file(uid, path, max(TEXT_BYTES, IMAGE_BYTES) + 1, log=log)
    base = {"uid": uid, "path": entry.path, "log": log, "size": entry.size}
    svg = entry.path.lower().endswith(".svg")
    mime = image_type(head) or ("image/svg+xml" if svg and b"\0" not in head[:8192] else None)
    if mime is not None:
        if len(head) > IMAGE_BYTES:
            return {
                **base,
                "type": "binary",
                "note": f"This image is larger than {IMAGE_BYTES // 2**20} MB to preview.",
            }
        image = {**base, "type": "image", "mime": mime, "data": base64.b64encode(head).decode("ascii")}
        return {**image, "source": _text(head)[0]} if svg else image
    if b"\0" in head[:8192]:
        return {**base, "type": "binary", "note": "Binary file; its contents are not shown."}
    if not log and entry.path.lower().endswith(".csv") and entry.size <= CSV_CHECK_BYTES:
        table = _table(held, entry.path)
        if table is not None:
            return {**base, **table}
    text, truncated = _text(head)
    return {**base, "type": "text", "text": text, "truncated": truncated}


def _text(head: bytes) -> tuple[str, bool]:
    shown = head[:TEXT_BYTES]
    text = shown.decode("utf-8", errors="replace")
    truncated = len(head) > TEXT_BYTES
    if truncated:  # the last line may be cut: show whole lines only
        text = text[: text.rfind("\n") + 1] or text
    return text, truncated


def _table(held: HeldOutputs, path: str) -> Optional[dict[str, Any]]:
    try:
        table = held.csv_preview(path, max_rows=CSV_ROWS)
    except (csv.Error, OSError):
        return None  # shown as text
    rows = [[v[:CSV_CELL_CHARS] for v in row[:CSV_COLUMNS]] for row in (table.header, *table.rows)]
    return {
        "type": "table",
        "rows": rows,
        "total_rows": table.total_rows,
        "more": table.total_rows > len(table.rows) or len(table.header) > CSV_COLUMNS,
        "columns": [_column(c) for c in table.columns[:CSV_COLUMNS]],
    }


def _column(column: ColumnSummary) -> dict[str, Any]:
    return {
        "name": column.name[:CSV_CELL_CHARS],
        "numeric": column.numeric,
        "integers": column.integers,
        "min": _number(column.min),
        "max": _number(column.max),
        "min_nonzero": _number(column.min_nonzero),
        "multiples_of_5": column.multiples_of_5,
    }


def _number(value: Optional[float]) -> Optional[float | str]:
    """JSON has no infinity nor NaN: such a value goes as its text."""
    return value if value is None or math.isfinite(value) else str(value)
