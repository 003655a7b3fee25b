"""Finished jobs, and the cleanup of their bulky files once ``cleanup_completed_after`` has
passed: code, logs and outputs go; ``job.json`` and ``state.json`` stay as the audit.

``Settled`` is touched by the serve thread (it settles what it finds finished, and cleans
up), by workers (a run's end) and by owner actions (a cancel): one lock guards it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from .. import lifecycle
from ..models import JobRef, JobState, utcnow
from ..protocol.owner import OwnerStore

CLEANED = float("inf")  # the finish time of a job already cleaned up: never due again

log = logging.getLogger(__name__)


class Settled:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished: dict[JobRef, float] = {}  # job -> when it finished (epoch seconds)

    def __contains__(self, ref: JobRef) -> bool:
        return ref in self._finished

    def add(self, ref: JobRef, state: JobState) -> None:
        finished = CLEANED if state.cleaned_up else (state.updated_at or utcnow()).timestamp()
        with self._lock:
            self._finished[ref] = finished

    def clean_up(self, store: OwnerStore, keep: Optional[float], changed: Callable[[JobRef], None]) -> None:
        """Remove the bulky files of every job finished more than ``keep`` seconds ago."""
        if keep is None:
            return
        cutoff = time.time() - keep
        with self._lock:
            due = [ref for ref, finished in self._finished.items() if finished <= cutoff]
        for ref in due:
            try:
                with store.locked(ref):
                    state = store.read_state(ref)
                    if state is not None and not state.cleaned_up:
                        store.remove_bulky(ref)
                        store.update(ref, lifecycle.mark_cleaned)
            except Exception:  # one job's cleanup failing must not stop the others'
                log.exception("job %s could not be cleaned up; it is left as it is", ref)
            with self._lock:
                self._finished[ref] = CLEANED
            changed(ref)
