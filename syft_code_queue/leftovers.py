"""Stopping what a dead server's jobs left running.

Jobs start in their own session, so when the server is killed (SIGKILL, OOM, power cut of a
notebook kernel) nothing takes them down with it. A restarted server finds them by the one
mark every process of a job carries, whatever session or process group it moved to: the
``SYFT_JOB_ID`` in the environment it inherited.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

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
