"""Bounds on everything a requester controls, checked before the owner spends work on it.

A submission is the requester's bytes: its ``job.json`` may be huge, nested thousands deep,
list a hundred thousand files, or be a FIFO. Each bound here is a ``QueueConfig`` limit (or
a fixed one no real request comes near) and is refused with a reason that names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import StillArriving, SubmissionError, UnsafeFolderError
from ..filesystem import open_regular
from ..models import JobRequest, QueueConfig
from ..syftbox import FileIdentity, _identity_of

MAX_DEPTH = 8  # a request is 4 deep (document, files, entry, value); more is never valid
SCRIPT = "run.sh"


def read_document(path: Path, max_bytes: int) -> tuple[FileIdentity, Any]:
    """The identity of ``path``'s version and its JSON, at most ``max_bytes`` of it.

    Raises StillArriving while it is absent or not whole JSON yet, SubmissionError when it
    can never be a request (too large, too deep, not a regular file)."""
    try:
        fd = open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        raise StillArriving(f"{path.name} has not arrived yet") from None
    except UnsafeFolderError:
        raise SubmissionError(f"{path.name} is not a regular file") from None
    with os.fdopen(fd, "rb") as fh:
        identity = _identity_of(os.fstat(fh.fileno()))
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise SubmissionError(f"{path.name} is larger than {max_bytes} bytes (max_request_bytes)")
    try:
        document = json.loads(raw)
    except RecursionError:
        raise SubmissionError(f"{path.name} is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        raise StillArriving(f"{path.name} is not complete JSON yet") from None
    if _depth(document) > MAX_DEPTH:
        raise SubmissionError(f"{path.name} is nested more than {MAX_DEPTH} levels deep")
    return identity, document


def _depth(document: Any) -> int:
    """How deep ``document`` nests, walked without recursion."""
    deepest = 0
    todo = [(document, 1)]
    while todo:
        value, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        todo.extend((child, depth + 1) for child in children)
    return deepest


def check_manifest_length(document: Any, config: QueueConfig) -> None:
    """Refuse a manifest with more entries than ``max_code_files`` before validating them."""
    files = document.get("files") if isinstance(document, dict) else None
    if isinstance(files, list) and len(files) > config.max_code_files:
        raise SubmissionError(f"the code has {len(files)} files, more than {config.max_code_files} (max_code_files)")


def check_request(request: JobRequest, config: QueueConfig) -> None:
    """Refuse code larger than ``max_code_size`` or a ``run.sh`` over ``max_script_bytes``
    (the command policy lexes it on the serve thread)."""
    total = sum(entry.size for entry in request.files)
    if total > config.max_code_size:
        raise SubmissionError(f"the code is {total} bytes, more than {config.max_code_size} (max_code_size)")
    script = next(entry for entry in request.files if entry.path == SCRIPT)
    if script.size > config.max_script_bytes:
        raise SubmissionError(
            f"{SCRIPT} is {script.size} bytes, more than {config.max_script_bytes} (max_script_bytes)"
        )
