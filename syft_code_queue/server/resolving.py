"""Resolving a submission's requirements off the serve thread.

A resolution asks the owner's package index (uv, up to its timeout): on the serve thread it
would hold up every other requester's submissions. So a job whose requirements only the index
can resolve is handed to one resolver thread and left without a state, as while it arrives;
once the resolution is recorded (``runtimes/``) or refused, the serve thread is told to look
at the job again, and accepts it from the record, or refuses it with the reason.

Touched by the serve thread (``start``, ``busy``, ``outcome``) and the resolver thread (the
end of each resolution), under ``_lock``: ``_busy`` holds the jobs being resolved,
``_failed`` what a finished resolution raised, until the serve thread takes it.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Optional

from ..models import JobRef

log = logging.getLogger(__name__)

Resolution = Callable[[], object]  # resolves and records, or raises why it cannot


class Resolver:
    """One thread resolving jobs' requirements, one job at a time, in the order asked;
    ``resolved(ref)`` is called when a job's resolution ended, however it ended."""

    def __init__(self, resolved: Callable[[JobRef], None]) -> None:
        self._resolved = resolved
        self._lock = threading.Lock()
        self._busy: set[JobRef] = set()
        self._failed: dict[JobRef, Exception] = {}
        self._todo: queue.SimpleQueue[tuple[JobRef, Resolution]] = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None

    def busy(self, ref: JobRef) -> bool:
        with self._lock:
            return ref in self._busy

    def waiting_of(self, requester: str) -> int:
        """How many of ``requester``'s jobs wait for their resolution (a bound: one
        requester's resolutions must not fill the resolver's queue without end)."""
        with self._lock:
            return sum(1 for ref in self._busy if ref.requester == requester)

    def start(self, ref: JobRef, resolution: Resolution) -> None:
        """Resolve ``ref``'s requirements on the resolver thread (started on first use: a
        daemon, so a resolution still waiting for the index never holds up an exit)."""
        with self._lock:
            if ref in self._busy:
                return
            self._busy.add(ref)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="scq-resolve", daemon=True)
                self._thread.start()
        self._todo.put((ref, resolution))

    def outcome(self, ref: JobRef) -> Optional[Exception]:
        """What ``ref``'s last resolution raised (taken: asked once), or None."""
        with self._lock:
            return self._failed.pop(ref, None)

    def _run(self) -> None:
        while True:
            ref, resolution = self._todo.get()
            try:
                resolution()
            except Exception as exc:  # the serve thread refuses the job, or fails it alone
                with self._lock:
                    self._failed[ref] = exc
            finally:
                with self._lock:
                    self._busy.discard(ref)
            try:
                self._resolved(ref)
            except Exception:
                log.exception("the serve thread could not be told that job %s was resolved", ref)
