"""The owner's private, immutable copy of each accepted request and its code.

The inbox is the requester's: whatever is there can change at any time, also after the owner
accepted it, while the owner reads it, and between approval and run. So at acceptance the
owner copies ``job.json`` (as parsed and checked: identity from the folder) and exactly the
bytes its manifest pins into ``PrivateLayout.accepted(ref)``, outside the synced tree. From
then on every view, review, callback, approval and run reads this copy; the inbox copy is
only compared with it, to flag a change made after acceptance.

A copy is written once (into a temporary folder, then renamed into place) and never
changed; only the cleanup of a finished job removes its code, keeping the request as the
audit record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from ..cache import BoundedCache
from ..filesystem import remove_tree
from ..models import JobRef, JobRequest
from ..syftbox import atomic_write
from .layout import PrivateLayout
from .manifest import copy_verified

REQUESTS_KEPT = 4_096  # parsed copies remembered: immutable, so never stale


class AcceptedCopies:
    """The accepted copies of one queue's jobs."""

    def __init__(self, private: PrivateLayout) -> None:
        self.private = private
        self._requests: BoundedCache[JobRef, JobRequest] = BoundedCache(REQUESTS_KEPT)

    def keep(self, ref: JobRef, request: JobRequest, code: Path) -> Path:
        """Copy ``request`` and the bytes its manifest pins from ``code``; returns the copy's
        code folder. Raises ``ValueError`` when the inbox no longer holds those bytes (then
        nothing is kept). A copy left by an acceptance that never recorded a state is
        replaced."""
        final = self.private.accepted(ref)
        partial = final.with_name(f".{final.name}.{os.getpid()}.new")
        remove_tree(partial)
        remove_tree(final)
        try:
            (partial / "code").mkdir(parents=True, mode=0o700)
            copy_verified(code, partial / "code", request.files)
            # not forced to disk, like the acceptance itself: a restart after a power cut that
            # lost both decides again; a copy lost alone leaves the job as accepted before copies
            atomic_write(partial / "job.json", request.model_dump_json(indent=2), durable=False)
            os.rename(partial, final)
        except BaseException:
            remove_tree(partial)
            raise
        self._requests.put(ref, request)
        return self.private.accepted_code(ref)

    def request(self, ref: JobRef) -> Optional[JobRequest]:
        """The accepted request, or None when the owner never accepted this job (or accepted
        it before copies were kept)."""
        known = self._requests.get(ref)
        if known is not None:
            return known
        try:
            raw = self.private.accepted_request(ref).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            request = JobRequest.model_validate_json(raw)
        except ValidationError:
            return None  # written only by the owner, atomically: not ours
        self._requests.put(ref, request)
        return request

    def code_dir(self, ref: JobRef) -> Optional[Path]:
        """The accepted code, or None when there is none (never accepted, or cleaned up)."""
        folder = self.private.accepted_code(ref)
        return folder if folder.is_dir() else None

    def holders(self, uid: str) -> list[str]:
        """The requesters whose job with this uid the owner accepted, sorted."""
        requesters = self.private.accepted_requesters()
        return sorted(who for who in requesters if self.private.accepted(JobRef(who, uid)).is_dir())

    def drop(self, ref: JobRef) -> None:
        """Forget a copy whose acceptance did not go through (the job was refused)."""
        self._requests.pop(ref)
        remove_tree(self.private.accepted(ref))

    def drop_code(self, ref: JobRef) -> None:
        """The cleanup of a finished job: its code goes, the request stays as the record."""
        remove_tree(self.private.accepted_code(ref))
