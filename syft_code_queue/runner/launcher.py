"""Starting jobs under their supervisor, seen from the runner: through the supervisor server.

A fresh Python interpreter per job costs tens of milliseconds before the job even starts, a
fork of a running one about a millisecond. So one supervisor server per process
(``python -I -S supervisor.py --serve FD``; supervisor.py has the protocol) is started on the
first job and forks a per-job supervisor for each job after that. Any number of threads start
and stop jobs at once: each request is one datagram, each job answers on its own socket, and
stopping goes straight to the job's supervisor through a pidfd.

A supervisor server that died (killed, or lost to the OOM killer) is replaced at the next job
start; the jobs it was supervising fail with a clear error and their processes are killed.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional

from ..errors import SupervisorError
from . import supervisor as protocol

log = logging.getLogger(__name__)

SUPERVISOR = Path(protocol.__file__)
ANSWER_TIMEOUT = 30.0  # seconds for the supervisor server to start, take a request, or start a job
STOP_GRACE = 10.0  # seconds for a supervisor to kill a job's tree once asked
LOST = "the job's supervisor was killed; processes the job started may still be running"
ORPHANED = (
    "the job supervisor server (supervisor.py --serve) died while the job ran; the job "
    "and every process it started were stopped"
)


@dataclass(frozen=True)
class JobIds:
    """The unprivileged uid/gid a job runs as when the server is root."""

    uid: int
    gid: int


@dataclass(frozen=True)
class Launch:
    """One supervised process: what to run, where, with which environment and identity."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    ids: Optional[JobIds] = None

    def start(self) -> SupervisedJob:
        """Start it under a supervisor of its own (supervisor.py), forked by the supervisor server."""
        return start(self)


class SupervisorServer:
    """One running ``supervisor.py --serve`` and our end of its control socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SUPERVISOR), "--serve", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                cwd="/",
                env={},
                start_new_session=True,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.control = ours
        if not _readable(self.control, ANSWER_TIMEOUT) or self.control.recv(len(protocol.READY)) != protocol.READY:
            self.discard()
            raise SupervisorError(f"the job supervisor server did not start (exit code {self.process.returncode})")
        self.control.settimeout(ANSWER_TIMEOUT)  # a request to a stuck supervisor server fails, never hangs

    def alive(self) -> bool:
        """Whether it still serves: it never writes again after READY, so a readable control
        socket means end of file, and that it is gone."""
        return self.process.poll() is None and not _readable(self.control, 0)

    def gone(self, timeout: float) -> bool:
        """Whether it ends within ``timeout`` seconds."""
        return _readable(self.control, timeout) or self.process.poll() is not None

    def discard(self) -> None:
        """Close our end (a live supervisor server then stops every job it runs) and reap it."""
        self.control.close()
        try:
            self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            log.error("the job supervisor server %s did not stop; killing it", self.process.pid)
            self.process.kill()
            self.process.wait()

    def forget(self) -> None:
        """In a forked child of the server: let go without touching the process (not ours)."""
        self.control.close()


_lock = threading.Lock()
_current: Optional[SupervisorServer] = None


def _server() -> SupervisorServer:
    """The supervisor server, started on first use and again whenever the last one died."""
    global _current
    with _lock:
        if _current is not None and not _current.alive():
            log.warning("the job supervisor server (pid %s) died; starting a new one", _current.process.pid)
            _current.discard()
            _current = None
        if _current is None:
            _current = SupervisorServer()
        return _current


def _forget_after_fork() -> None:
    """A forked child must not keep the server's control socket open: the supervisor server
    would outlive the server it belongs to, and with it the jobs."""
    global _current, _lock
    _lock = threading.Lock()
    if _current is not None:
        _current.forget()
        _current = None


os.register_at_fork(after_in_child=_forget_after_fork)


class SupervisedJob:
    """A running job as the runner sees it: its output pipes (``stdout``, ``stderr``) and its
    supervisor. After ``wait`` returned True, ``exit_code`` and ``error`` say how it ended."""

    def __init__(self, reply: socket.socket, pidfd: int, stdout: BinaryIO, stderr: BinaryIO) -> None:
        self.reply, self.pidfd, self.stdout, self.stderr = reply, pidfd, stdout, stderr
        self.exit_code: Optional[int] = None
        self.error: Optional[str] = None
        self.done = False

    def __enter__(self) -> "SupervisedJob":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, timeout: Optional[float]) -> bool:
        """True once the supervisor has reported (the job's whole tree is gone) or was lost."""
        if not self.done and _readable(self.reply, timeout):
            answer = self.reply.recv(4096)
            if answer:
                end = json.loads(answer)
                self.exit_code = end["exit_code"]
                self.error = ORPHANED if end["orphaned"] else None
            else:
                self.error = LOST
            self.done = True
        return self.done

    def stop(self) -> None:
        """Ask the supervisor to kill the job's tree and wait until it has."""
        self._signal(signal.SIGTERM)
        if not self.wait(STOP_GRACE):
            log.error("the supervisor of a job did not stop; killing it")
            self._signal(signal.SIGKILL)
            self.wait(None)

    def _signal(self, sig: int) -> None:
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
        except ProcessLookupError:
            pass  # it has just ended

    def close(self) -> None:
        """Let go of the job, stopping it first if it still runs (the runner raised)."""
        if not self.wait(0):
            self.stop()
        self.reply.close()
        os.close(self.pidfd)
        self.stdout.close()
        self.stderr.close()


def start(launch: Launch) -> SupervisedJob:
    """Start ``launch`` under a supervisor of its own, forked by the supervisor server. If the
    job was not started (the supervisor server died before it forked), try once more."""
    request = json.dumps(
        {
            "argv": launch.argv,
            "cwd": str(launch.cwd),
            "env": launch.env,
            "uid": launch.ids.uid if launch.ids else None,
            "gid": launch.ids.gid if launch.ids else None,
        }
    ).encode()
    server = _server()
    job = _request(server, request)
    if job is None:
        server.gone(1.0)  # it closes our end as it dies: give that a moment to show
        job = _request(_server(), request)
    if job is None:
        raise SupervisorError("the job supervisor server did not start the job")
    return job


def _request(server: SupervisorServer, request: bytes) -> Optional[SupervisedJob]:
    """Send one start request; the started job, or None when it was not started."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pidfd = None
    try:
        with theirs:
            try:
                socket.send_fds(server.control, [request], [out_w, err_w, theirs.fileno()])
            except (BrokenPipeError, ConnectionResetError):
                pass  # it died: ``theirs`` closes here, so the reply reads as end of file
            finally:
                os.close(out_w)
                os.close(err_w)
        pidfd = _started(reply)
    finally:
        if pidfd is None:
            reply.close()
            os.close(out_r)
            os.close(err_r)
    if pidfd is None:
        return None
    return SupervisedJob(reply, pidfd, open(out_r, "rb", buffering=0), open(err_r, "rb", buffering=0))


def _started(reply: socket.socket) -> Optional[int]:
    """The per-job supervisor's pidfd once it says it started the job; None if it never will."""
    if not _readable(reply, ANSWER_TIMEOUT):
        raise SupervisorError("the job supervisor server did not answer")
    answer, fds, _ = protocol.receive(reply, len(protocol.STARTED), 1)
    if answer == protocol.STARTED and len(fds) == 1:
        return fds[0]
    for fd in fds:
        os.close(fd)
    return None


def _readable(sock: socket.socket, timeout: Optional[float]) -> bool:
    """Whether ``sock`` has a message or end of file within ``timeout`` seconds (None: wait)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(None if timeout is None else timeout * 1000))
