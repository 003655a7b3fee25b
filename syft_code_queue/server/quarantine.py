"""Jobs whose handling raised: each is tried once per process, and its failure costs that job
only, never the pass (a poison submission must not stop the queue for everyone).

Touched by the serve thread only. A job that raised before it had a state is refused with
the reason (``Intake.fail``); one that already had a state is left as it is, and looked at
again by the next process.
"""

from __future__ import annotations

from typing import Callable

from ..models import JobRef
from .intake import Intake


class Quarantine:
    def __init__(self, intake: Intake, changed: Callable[[JobRef], None]) -> None:
        self._intake = intake
        self._changed = changed
        self._broken: set[JobRef] = set()

    def __contains__(self, ref: JobRef) -> bool:
        return ref in self._broken

    def handle(self, ref: JobRef, handle: Callable[[JobRef], None]) -> None:
        """``handle(ref)``, unless it raised before in this process; if it raises now, the job
        is quarantined (and refused, when it has no state yet)."""
        if ref in self._broken:
            return
        try:
            handle(ref)
        except Exception as exc:
            self._broken.add(ref)
            if self._intake.fail(ref, exc):
                self._changed(ref)
