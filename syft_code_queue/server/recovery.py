"""Crash recovery: settle the jobs a server that died had started, and stop what they left
running. A job is never run twice: one that may have started is failed, not re-run.

Jobs start in their own session, so when the server is killed (SIGKILL, OOM, power cut of a
notebook kernel) nothing takes them down with it. A restarted server finds them by the one
mark every process of a job carries, whatever session or process group it moved to: the
``SYFT_JOB_ID`` in the environment it inherited.
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Optional

from .. import lifecycle
from ..errors import InvalidTransitionError
from ..models import JobRef, JobStatus
from ..protocol.owner import OwnerStore
from .journal import StartJournal
from .scratch import ScratchSlots

log = logging.getLogger(__name__)

PROC = Path("/proc")


def job_processes(uid: str) -> list[int]:
    """Live processes whose environment names job ``uid`` (empty where /proc is missing)."""
    mark = f"SYFT_JOB_ID={uid}".encode()
    found: list[int] = []
    try:
        entries = list(PROC.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if mark in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop_job_processes(uid: str, rounds: int = 5) -> int:
    """SIGKILL every process of job ``uid`` (again, for any it forked meanwhile); returns how
    many were stopped. A killed process's environment is unreadable, so none is counted twice."""
    stopped: set[int] = set()
    for _ in range(rounds):
        pids = job_processes(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                stopped.add(pid)
            except ProcessLookupError:
                pass
            except PermissionError:
                log.warning("cannot stop process %s left by job %s: permission denied", pid, uid)
    return len(stopped)


RECOVERED_REASON = "the server stopped while the job was running; it was not run again"


def recover(store: OwnerStore, journal: StartJournal, slots: ScratchSlots, by: str) -> None:
    """Jobs a server that died had started (``running``, or only named in its start journal)
    are settled as failed, never re-run; what they left running is stopped first, and the
    scratch slots are emptied. Runs before the serve thread starts: nothing else acts yet."""
    started = {JobRef(record.requester_email, record.uid): record.at for record in journal.entries()}
    for ref in store.submissions():
        try:
            _settle(store, ref, started.get(ref), by)
        except Exception:  # one job that cannot be settled must not keep the queue from starting
            log.exception("job %s could not be settled after a restart", ref)
    slots.reset()


def _settle(store: OwnerStore, ref: JobRef, started_at: Optional[datetime], by: str) -> None:
    state = store.read_state(ref)
    if state is not None and (state.status.is_terminal or state.status == JobStatus.awaiting_release):
        return  # settled, or it ran to its end and its results are held
    if started_at is None and (state is None or state.status != JobStatus.running):
        return
    stopped = stop_job_processes(ref.uid)
    reason = RECOVERED_REASON + (f" ({stopped} leftover processes were stopped)" if stopped else "")
    failed = partial(lifecycle.fail_recovered, ref=ref, by=by, reason=reason, started_at=started_at)
    if state is None:  # its acceptance, never flushed, was lost with the power
        store.create(failed(None))
        return
    try:
        store.update(ref, failed)
    except InvalidTransitionError:
        log.warning("job %s could not be settled after a restart", ref)
