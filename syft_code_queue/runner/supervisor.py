"""The job supervisor: a small process between the server and a job, so that nothing the job
started outlives it.

A process group is not enough: a job can ``setsid``, double-fork into a daemon, or ignore
SIGTERM. The per-job supervisor is a *child subreaper*, so every orphaned descendant is
re-parented to it instead of to init, and it can always find and SIGKILL the whole tree.

It starts COMMAND in a new session (as uid/gid U/G when given: the server is root and the job
must not be), then waits. When the job's main process exits, or the supervisor gets SIGTERM (the
runner's timeout or cancel, or its parent dying: PR_SET_PDEATHSIG), it SIGKILLs every descendant
until none is left, reports the job's status (128 + signal number when a signal ended it; 137
when it was stopped) and exits.

Starting a Python interpreter for each job costs tens of milliseconds, so per-job supervisors
are forks of one long-lived *supervisor server* (``python -I -S supervisor.py --serve FD``),
started by the runner's side (launcher.py) on first use. It imports only the standard library,
so it never loads the server's code, and it does nothing but fork. Its protocol, on the
SOCK_SEQPACKET socket FD:

- the server sends a start request: JSON ``{"argv", "cwd", "env", "uid", "gid"}`` with three
  descriptors (SCM_RIGHTS): the job's stdout, its stderr, and a per-job reply socket;
- the per-job supervisor answers on the reply socket: ``started`` with a pidfd of itself (how
  the runner stops it, with no pid-reuse race), then, once the job's tree is gone, JSON
  ``{"exit_code", "orphaned"}``; ``orphaned`` means its parent died and the job was stopped.
  End of file without that answer means the supervisor was killed;
- end of file on FD means the server is gone (whichever thread of it started us): every
  per-job supervisor gets SIGTERM, kills its tree, and the supervisor server exits when all
  have. A supervisor server that dies takes its per-job supervisors, and so their trees, along
  (PR_SET_PDEATHSIG: it has a single thread, so that is reliable).

Before it execs, the job's main process joins a fresh, empty session keyring and installs a
seccomp filter refusing ``add_key``, ``request_key`` and ``keyctl`` (as container runtimes
do): the kernel's keyrings are not namespaced, so without both a job could read keys the
serving process holds, in its session keyring or its uid's user keyring.
"""

from __future__ import annotations

import array
import ctypes
import errno as errnos
import json
import os
import platform
import select
import signal
import socket
import struct
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
WATCHED = STOP_SIGNALS | {signal.SIGCHLD}
STOPPED_EXIT = 128 + signal.SIGKILL
READY = b"ready"  # the supervisor server's first message: it is serving
STARTED = b"started"  # a per-job supervisor's first message, with a pidfd of itself
MAX_REQUEST = 1 << 20  # bytes; argv and environment of one job
REQUEST_FDS = 3  # stdout, stderr, reply socket

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
KEYCTL_JOIN_SESSION_KEYRING = 1
X32_SYSCALL_BIT = 0x40000000
# (audit arch, keyctl's syscall number, the three key syscalls) per machine
KEY_SYSCALLS = {
    "x86_64": (0xC000003E, 250, (248, 249, 250)),
    "aarch64": (0xC00000B7, 219, (217, 218, 219)),
}


def _key_filter(arch: int, numbers: tuple[int, ...]) -> bytes:
    """A classic BPF seccomp program: the key syscalls fail with EPERM, the rest pass. A
    process of another architecture (a 32-bit one) would find them allowed: the filter
    refuses to run it instead, and x32 system calls are refused."""
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    deny, allow, kill = 0x00050000 | errnos.EPERM, 0x7FFF0000, 0x80000000
    program = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    program.append((jge, len(numbers) + 1, 0, X32_SYSCALL_BIT))  # x32 numbers: all refused
    for index, number in enumerate(numbers):
        program.append((jeq, len(numbers) - index, 0, number))
    program += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    return b"".join(struct.pack("HBBI", *op) for op in program)


def isolate_keys() -> None:
    """A fresh session keyring, then the filter; where keyrings are unavailable (refused to
    this whole container already) there is nothing to isolate."""
    machine = KEY_SYSCALLS.get(platform.machine())
    if machine is None:
        raise OSError(errnos.ENOSYS, f"no key syscall filter for {platform.machine()}: refusing to run the job")
    arch, keyctl, numbers = machine
    if _libc.syscall(keyctl, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        error = ctypes.get_errno()
        if error not in (errnos.ENOSYS, errnos.EPERM):
            raise OSError(error, f"keyctl(JOIN_SESSION_KEYRING): {os.strerror(error)}")
    code = _key_filter(arch, numbers)
    program = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(program))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"seccomp filter: {os.strerror(error)}")


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


def reap(main: int) -> int | None:
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
    while has_children():
        for pid in descendants(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        signal.sigtimedwait({signal.SIGCHLD}, 0.01)


def has_children() -> bool:
    """Reap the exited children; whether any is left. Every process of the tree has one of our
    children as an ancestor (orphans are re-parented to us), so without children there is no
    tree, and no need to read /proc."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        return False
    return True


def start(request: dict, stdout: int, stderr: int) -> int:
    """Fork the job's main process: COMMAND in a new session, as the job's uid/gid."""
    supervisor = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:
        stdin = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)  # from here on, what goes wrong is in the job's stderr
        os.setsid()
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, *STOP_SIGNALS):
            signal.signal(sig, signal.SIG_DFL)  # Python ignores SIGPIPE and SIGXFSZ; the job must not
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.chdir(request["cwd"])
        if request["gid"] is not None:
            os.setgroups([])
            os.setgid(request["gid"])
        if request["uid"] is not None:
            os.setuid(request["uid"])
        # After the uid switch, which clears it; then make sure the supervisor is still there.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(STOPPED_EXIT)
        isolate_keys()
        argv = request["argv"]
        os.execvpe(argv[0], argv, request["env"])
    except BaseException as exc:  # anything at all: the child must never return into the supervisor
        os.write(2, f"syft-code-queue: could not start the job: {exc}\n".encode())
    os._exit(127)


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}): {os.strerror(errno)}")


def supervise(request: dict, stdout: int, stderr: int, reply: socket.socket, parent: int) -> int:
    """The per-job supervisor, with WATCHED blocked: run the job, kill its tree, report on
    ``reply``. ``parent`` is the process that forked us; if it is gone already, run nothing."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        return STOPPED_EXIT
    me = os.pidfd_open(os.getpid())
    try:
        socket.send_fds(reply, [STARTED], [me])
    except OSError:
        return STOPPED_EXIT  # the runner is gone already: run nothing
    finally:
        os.close(me)
    code = run(request, stdout, stderr)
    end = {"exit_code": code, "orphaned": os.getppid() != parent}
    try:
        reply.send(json.dumps(end).encode())
    except OSError:
        pass  # nobody is waiting any more
    return code


def run(request: dict, stdout: int, stderr: int) -> int:
    """Run the job until its main process exits or we are told to stop, kill its whole tree;
    the job's exit code."""
    try:
        main_pid = start(request, stdout, stderr)
    except OSError as exc:  # no fork possible right now
        os.write(stderr, f"syft-code-queue: could not start the job: {exc}\n".encode())
        return 127
    finally:
        os.close(stdout)
        os.close(stderr)
    # Signals are taken synchronously with sigwaitinfo: no handler can interrupt the clean-up.
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


def serve(control: socket.socket) -> int:
    """The supervisor server: fork a per-job supervisor for each start request on ``control``
    until the server closes it, then stop them all."""
    control.set_inheritable(False)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the mask survives exec: not the server's
    os.get_exec_path({})  # os.execvpe imports ``warnings`` through this: once here, not in every job
    parent = os.getpid()
    wake_r, wake_w = os.pipe()  # SIGCHLD wakes select through this
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    control.send(READY)
    while True:
        readable = select.select([control, wake_r], [], [])[0]
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap_children(children)
        if control not in readable:
            continue
        message, fds, flags = receive(control, MAX_REQUEST, REQUEST_FDS)
        if not message and not fds:
            break
        try:
            if len(fds) != REQUEST_FDS or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                continue  # not a request of ours; closing its reply socket tells the sender
            request = json.loads(message)
            signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)  # the child takes them with sigwaitinfo
            try:
                pid = os.fork()
                if pid == 0:
                    _child(request, fds, control, (wake_r, wake_w), parent)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
            children.add(pid)
        except (OSError, ValueError) as exc:  # cannot fork now, or a garbled request: refuse this one
            print(f"syft-code-queue supervisor server: job not started: {exc!r}", file=sys.stderr)
        finally:
            for fd in fds:
                os.close(fd)
    for pid in children:
        os.kill(pid, signal.SIGTERM)  # unreaped children of ours: the pids cannot have been reused
    for pid in children:
        os.waitpid(pid, 0)
    return 0


def receive(sock: socket.socket, size: int, max_fds: int) -> tuple[bytes, list[int], int]:
    """One message, the descriptors it carries (close-on-exec, so no job inherits them:
    ``socket.recv_fds`` drops its flags argument) and the message flags."""
    fds = array.array("i")
    message, ancillary, flags, _ = sock.recvmsg(
        size, socket.CMSG_SPACE(max_fds * fds.itemsize), socket.MSG_CMSG_CLOEXEC
    )
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return message, list(fds), flags


def _child(request: dict, fds: list[int], control: socket.socket, wake: tuple[int, int], parent: int) -> None:
    """In the fork: drop what belongs to the supervisor server, become the job's supervisor."""
    code = 127
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control.close()
        for fd in wake:
            os.close(fd)
        stdout, stderr, reply = fds
        code = supervise(request, stdout, stderr, socket.socket(fileno=reply), parent)
    except BaseException as exc:  # never return into the server's loop
        os.write(2, f"syft-code-queue supervisor: {exc!r}\n".encode())
    os._exit(code)


def _reap_children(children: set[int]) -> None:
    while children:
        pid = os.waitpid(-1, os.WNOHANG)[0]
        if not pid:
            return
        children.discard(pid)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--serve" or not argv[1].isdigit():
        print("usage: supervisor.py --serve FD (started by syft_code_queue's runner)", file=sys.stderr)
        return 2
    return serve(socket.socket(fileno=int(argv[1])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
