"""The job supervisor: a small process between the server and a job, so that nothing the job
started outlives it.

A process group is not enough: a job can ``setsid``, double-fork into a daemon, or ignore
SIGTERM. The supervisor is a *child subreaper*, so every orphaned descendant is re-parented to it
instead of to init, and it can always find and SIGKILL the whole tree. It runs as its own process
(``python -I -S supervisor.py --parent P [--uid U --gid G] -- COMMAND...``) and imports only the standard
library, so it starts fast and never loads the server's code.

It starts COMMAND in a new session (as uid/gid U/G when given: the server is root and the job
must not be), then waits. When the job's main process exits, or the supervisor gets SIGTERM (the
runner's timeout or cancel, or the server dying: PR_SET_PDEATHSIG), it SIGKILLs every descendant
until none is left and exits with the job's status (128 + signal number when a signal ended it;
137 when it was stopped).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Optional

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
WATCHED = STOP_SIGNALS | {signal.SIGCHLD}
STOPPED_EXIT = 128 + signal.SIGKILL


def descendants(root: int) -> list[int]:
    """Every process below ``root``, found through the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def reap(main: int) -> Optional[int]:
    """Collect every exited child without blocking; the main child's wait status if it was one."""
    status = None
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == main:
            status = st


def kill_all() -> None:
    """SIGKILL the whole tree until it is empty. Orphans land here (we are the subreaper), so
    repeating the sweep catches whatever was forked while the previous one ran."""
    me = os.getpid()
    while True:
        pids = descendants(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap(-1)
        signal.sigtimedwait({signal.SIGCHLD}, 0.01)


def start(command: list[str], uid: Optional[int], gid: Optional[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, *STOP_SIGNALS):
            signal.signal(sig, signal.SIG_DFL)  # Python ignores SIGPIPE and SIGXFSZ; the job must not
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        os.execvp(command[0], command)
    except BaseException as exc:  # anything at all: the child must never return into the supervisor
        os.write(2, f"syft-code-queue: could not start the job: {exc}\n".encode())
    os._exit(127)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def main(argv: list[str]) -> int:
    options: dict[str, Optional[int]] = {"--parent": None, "--uid": None, "--gid": None}
    while argv and argv[0] in options:
        options[argv[0]] = int(argv[1])
        argv = argv[2:]
    if options["--parent"] is None or not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: supervisor.py --parent PID [--uid U] [--gid G] -- COMMAND...", file=sys.stderr)
        return 2
    # Signals are taken synchronously with sigwaitinfo: no handler can interrupt the clean-up.
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != options["--parent"]:
        return STOPPED_EXIT  # the server died while we were starting: run nothing
    main_pid = start(argv[1:], options["--uid"], options["--gid"])
    status = None
    while status is None:
        if signal.sigwaitinfo(WATCHED).si_signo != signal.SIGCHLD:
            break
        status = reap(main_pid)
    kill_all()
    if status is None:
        return STOPPED_EXIT
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
