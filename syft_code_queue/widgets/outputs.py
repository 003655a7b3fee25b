"""A finished job's output files as a JobTable's detail shows them: a preview (text, a CSV as
a table, a raster image) and the whole file for download.

Only files the job's state lists are opened, and only inside its outputs folder. An image is
previewed only when its bytes are PNG, JPEG, GIF or WebP (never SVG, which can carry script)
and is shown through an ``<img>``, where nothing runs.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path
from typing import Any, Optional

from ..errors import JobNotFoundError
from ..models import FileEntry, Job

PREVIEW_BYTES = 256 * 1024
CSV_ROWS = 200
IMAGE_BYTES = 5 * 1024 * 1024
DOWNLOAD_BYTES = 50 * 1024 * 1024
IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def listed_outputs(job: Job) -> list[FileEntry]:
    result = job.state.result if job.state else None
    return list(result.outputs) if result else []


def open_output(api: Any, job: Job, path: str) -> tuple[FileEntry, Path]:
    """The listed output ``path`` of ``job`` and where its bytes are; raises with the remedy."""
    entry = next((f for f in listed_outputs(job) if f.path == path), None)
    if entry is None:
        raise JobNotFoundError(f"job {job.short_uid} has no output file {path!r}; pick one of the files listed")
    folder: Optional[Path] = api.get_job_output(job.uid)
    if folder is None:
        raise FileNotFoundError(
            f"the outputs of job {job.short_uid} are not here (not synced yet, or removed by the owner's "
            "cleanup); try again in a moment"
        )
    file = folder / entry.path
    if entry.size == 0 and not file.exists():  # empty files never sync
        return entry, file
    if file.is_symlink() or not file.resolve().is_relative_to(folder.resolve()) or not file.is_file():
        raise FileNotFoundError(f"output {path!r} of job {job.short_uid} is not a regular file in its outputs folder")
    return entry, file


def _read(file: Path, limit: int) -> bytes:
    if not file.exists():
        return b""
    with open(file, "rb") as fh:
        return fh.read(limit)


def image_type(head: bytes) -> Optional[str]:
    for magic, mime in IMAGE_MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def preview(api: Any, job: Job, path: str) -> dict[str, Any]:
    entry, file = open_output(api, job, path)
    return {"uid": job.uid, **file_preview(entry.path, entry.size, file)}


def file_preview(
    path: str,
    size: int,
    file: Path,
    text_bytes: int = PREVIEW_BYTES,
    rows: int = CSV_ROWS,
    image_bytes: int = IMAGE_BYTES,
) -> dict[str, Any]:
    """How one output file (``path`` as listed, ``size`` bytes, its bytes at ``file``) is
    previewed: an image, a CSV as rows, text, or a note; at most ``text_bytes`` of text,
    ``rows`` rows and an image of ``image_bytes``."""
    head = _read(file, max(text_bytes, image_bytes) + 1)
    base = {"path": path, "size": size}
    mime = image_type(head)
    if mime is not None:
        if len(head) > image_bytes:
            return {**base, "type": "binary", "note": "This image is too large to preview; download it."}
        return {**base, "type": "image", "mime": mime, "data": base64.b64encode(head).decode("ascii")}
    shown = head[:text_bytes]
    truncated = len(head) > text_bytes
    if b"\0" in shown[:8192]:
        return {**base, "type": "binary", "note": "Binary file; download it to open it."}
    text = shown.decode("utf-8", errors="replace")
    if truncated:  # the last line may be cut: show whole lines only
        text = text[: text.rfind("\n") + 1] or text
    if path.lower().endswith((".csv", ".tsv")):
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        table = []
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            table.append(row)
            if len(table) > rows:
                break
        more = len(table) > rows or truncated
        return {**base, "type": "table", "rows": table[:rows], "more": more}
    return {**base, "type": "text", "text": text, "truncated": truncated}


def download(api: Any, job: Job, path: str) -> dict[str, Any]:
    entry, file = open_output(api, job, path)
    if entry.size > DOWNLOAD_BYTES:
        raise ValueError(
            f"output {path!r} is {entry.size} bytes, more than a notebook can pass on; "
            "copy it from the folder client.get_job_output() returns"
        )
    data = _read(file, DOWNLOAD_BYTES + 1)
    return {"path": entry.path, "data": base64.b64encode(data).decode("ascii")}
