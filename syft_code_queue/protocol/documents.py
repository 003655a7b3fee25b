"""Reading the queue's documents: ``job.json`` (the requester's), ``state.json`` (the
owner's), ``cancel.json``, the job folders in an inbox, and the published logs.

Parsers return None for a document that is not (yet) whole or valid, rather than raising:
over sync, a half-arrived file is normal. The owner's acceptance, which must tell "still
arriving" from "never acceptable", reads ``job.json`` in ``OwnerStore.read_request``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import UnsafeFolderError
from ..filesystem import read_regular
from ..models import EMAIL_PATTERN, UID_PATTERN, CancelRequest, JobRef, JobRequest, JobResult, JobState
from .layout import QueueLayout
from .manifest import VerifiedFiles, files_present

Model = TypeVar("Model", bound=BaseModel)


def read_model(path: Path, model: type[Model]) -> Optional[Model]:
    """Parse a document, or None if it is absent (or not a regular file: a FIFO must not
    block the reader). Raises on content that is not valid."""
    try:
        raw = read_regular(path)[1]
    except (FileNotFoundError, NotADirectoryError, UnsafeFolderError):
        return None
    return model.model_validate_json(raw)


def parse_request(raw: bytes) -> Optional[JobRequest]:
    """A ``job.json`` as listings show it: None when it is not a valid request."""
    try:
        return JobRequest.model_validate_json(raw)
    except ValidationError:
        return None


def parse_state(raw: bytes, ref: JobRef) -> Optional[JobState]:
    """A ``state.json``, or None when it does not parse or belongs to another job.

    A state that does not parse is treated as not yet arrived: only the owner writes it,
    always atomically, so a broken one can only be a partial sync."""
    try:
        state = JobState.model_validate_json(raw)
    except ValidationError:
        return None
    if state.uid != ref.uid or state.requester_email != ref.requester:
        return None
    return state


def read_state(layout: QueueLayout, ref: JobRef) -> Optional[JobState]:
    """The owner's state, or None if not written (or not synced) yet."""
    try:
        raw = layout.job(ref).state_file.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return parse_state(raw, ref)


def read_cancel(layout: QueueLayout, ref: JobRef) -> Optional[CancelRequest]:
    """The requester's cancel request, or None when there is none (or it is not whole)."""
    try:
        return read_model(layout.job(ref).cancel_file, CancelRequest)
    except ValidationError:
        return None


def submission_folders(layout: QueueLayout, requester: Optional[str] = None) -> list[JobRef]:
    """Every job folder in the inbox, or only one requester's; folders whose names are not
    an email and a uid are skipped. One directory read per requester."""
    if requester is None:
        requesters = sorted(name for name in _folders(layout.inbox) if EMAIL_PATTERN.match(name))
    else:
        requesters = [requester]
    return [JobRef(who, uid) for who in requesters for uid in _folders(layout.inbox / who) if UID_PATTERN.match(uid)]


def _folders(path: Path) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [entry.name for entry in entries if entry.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def format_logs(folder: Path, result: JobResult, verified: Optional[VerifiedFiles] = None) -> Optional[str]:
    """stdout, then stderr under a heading; None while either has not fully synced, and
    when neither was published (a release without the logs)."""
    if result.stdout is None and result.stderr is None:
        return None
    parts: list[str] = []
    for entry, heading in ((result.stdout, None), (result.stderr, "--- stderr ---")):
        if entry is None:
            continue
        if not files_present(folder, [entry], verified):
            return None
        path = folder / entry.path
        text = path.read_text(errors="replace") if path.exists() else ""
        if text and heading:
            parts.append(heading)
        if text:
            parts.append(text.rstrip("\n"))
    return "\n".join(parts) + ("\n" if parts else "")
