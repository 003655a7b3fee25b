"""A job's log as the JobTable's detail streams it: the front end asks for what follows the
text it already shows, and only that is sent.

The front end sends the offset it has and the last characters before it; if those no longer
match (a live log of stdout and stderr interleaves, and a finished job's published log is
laid out anew) the whole log is sent again from the start, marked ``reset``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..models import Job, JobStatus
from .base import Action, Uid

CHUNK_CHARS = 256 * 1024  # a larger log arrives in several answers
TAIL_CHARS = 64


class LogAction(Action):
    """Send the log of ``uid`` from ``offset`` (characters) on."""

    kind: Literal["log"]
    uid: Uid
    offset: int = Field(default=0, ge=0)
    source: str = Field(default="", max_length=8)  # what the shown text came from: live, final
    tail: str = Field(default="", max_length=TAIL_CHARS)


def log_chunk(api: Any, job: Job, action: LogAction) -> dict[str, Any]:
    logs = api.get_job_logs(job.uid)
    text = logs or ""
    source = "live" if job.status == JobStatus.running else "final"
    offset = action.offset
    fits = (
        action.source == source
        and offset <= len(text)
        and text[max(0, offset - len(action.tail)) : offset] == action.tail
    )
    start = offset if fits else 0
    piece = text[start : start + CHUNK_CHARS]
    end = start + len(piece)
    return {
        "uid": job.uid,
        "start": start,
        "end": end,
        "size": len(text),
        "text": piece,
        "source": source,
        "reset": not fits,
        "available": logs is not None,
        "complete": source == "final" and end >= len(text),
    }
