"""Bubblewrap: whether it works here (probed once, for real), and the argv that builds a
job's sandbox: user, pid and net namespaces, a read-only system, only the job's own staging
folder visible and writable, a private tmp.

Also what the job's ``PATH`` holds, with or without the sandbox.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

from .launcher import JobIds
from .limits import SandboxPolicy
from .staging import INSIDE_ROOT, INSIDE_UID, Staging

log = logging.getLogger(__name__)

MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"


@functools.lru_cache(maxsize=None)
def python_dirs(as_other_user: bool) -> tuple[str, ...]:
    """The serving interpreter's installation(s) outside /usr (a venv needs its base too),
    if the job's user can reach them: a job run under a leased uid needs world access.
    Decided once per process: every job would otherwise resolve and stat the same paths."""
    dirs = sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)})
    outside = [d for d in dirs if not d.startswith("/usr/")]
    if as_other_user and not all(_world_readable(d) for d in outside):
        return ()
    return tuple(outside)


def _world_readable(directory: str) -> bool:
    path = Path(directory)
    for ancestor in [path, *path.parents]:
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def job_path(as_other_user: bool) -> str:
    """The interpreter serving the queue comes first when the job can use it, so ``python``
    and the owner's installed packages are what a job gets, as the README's examples expect."""
    if python_dirs(as_other_user) or sys.prefix.startswith("/usr"):
        return f"{Path(sys.executable).parent}:{MINIMAL_PATH}"
    return MINIMAL_PATH


SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The few /etc entries programs need; nothing with secrets (no shadow, no ssh, no machine-id).
ETC_ENTRIES = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "mime.types",
    "protocols",
    "services",
    "pip.conf",
)
NETWORK_ETC_ENTRIES = ("resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf")
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


# --- bubblewrap ------------------------------------------------------------------------


class Bubblewrap:
    """Finds bubblewrap and checks once, for real, that it can build our sandbox here (user
    namespaces may be disabled, /proc may not be mountable in a container, ...)."""

    def __init__(self, policy: SandboxPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._checked = False
        self._path: Optional[str] = None
        self._problem: Optional[str] = None

    def status(self) -> tuple[Optional[str], Optional[str]]:
        """(path to a working bwrap, None) or (None, why it cannot be used)."""
        with self._lock:
            if not self._checked:
                self._path, self._problem = self._probe()
                self._checked = True
            return self._path, self._problem

    def _probe(self) -> tuple[Optional[str], Optional[str]]:
        if self.policy.sandbox == "none":
            return None, "disabled by sandbox='none'"
        path = shutil.which("bwrap")
        if path is None:
            return None, "bubblewrap (bwrap) is not installed"
        argv = [
            path,
            *namespace_args(self.policy),
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--",
            "true",
        ]
        ids = JobIds(self.policy.job_uid_base, self.policy.job_uid_base) if os.geteuid() == 0 else None
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=30,
                env={"PATH": MINIMAL_PATH},
                user=ids.uid if ids else None,
                group=ids.gid if ids else None,
                extra_groups=[] if ids else None,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"bubblewrap could not be started: {exc}"
        if done.returncode != 0:
            return None, f"bubblewrap does not work here: {done.stderr.strip() or done.returncode}"
        return path, None


def namespace_args(policy: SandboxPolicy) -> list[str]:
    args = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]
    if policy.allow_network:
        args.append("--share-net")
    return args


def bwrap_argv(
    bwrap: str,
    policy: SandboxPolicy,
    staging: "Staging",
    command: list[str],
    hidden: list[str],
    allowed_bin: dict[str, str],
    as_other_user: bool,
) -> list[str]:
    """The bubblewrap command line: system directories read-only, the job's code read-only,
    its outputs, home and tmp writable, a capped /dev/shm of its own, nothing else of the
    host visible."""
    args = [
        bwrap,
        *namespace_args(policy),
        "--uid",
        str(INSIDE_UID),
        "--gid",
        str(INSIDE_UID),
        "--hostname",
        "syft-job",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    etc = ETC_ENTRIES + (NETWORK_ETC_ENTRIES if policy.allow_network else ())
    python_config = tuple(name for name in os.listdir("/etc") if name.startswith("python3"))
    for entry in etc + python_config:
        args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    args += [
        "--ro-bind",
        str(staging.etc / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(staging.etc / "group"),
        "/etc/group",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",  # a job's shared memory is scratch too: capped, and gone with the sandbox
        str(policy.max_scratch_size),
        "--tmpfs",
        "/dev/shm",
        "--bind",
        str(staging.tmp),
        "/tmp",
        "--ro-bind",
        str(staging.code),
        f"{INSIDE_ROOT}/code",
        "--bind",
        str(staging.outputs),
        f"{INSIDE_ROOT}/outputs",
        "--bind",
        str(staging.home),
        f"{INSIDE_ROOT}/home",
    ]
    for directory in python_dirs(as_other_user):
        args += ["--ro-bind", directory, directory]
    for path in hidden:
        args += ["--ro-bind", "/dev/null", path]
    if allowed_bin:
        args += ["--dir", f"{INSIDE_ROOT}/bin"]
        for name, target in sorted(allowed_bin.items()):
            args += ["--symlink", target, f"{INSIDE_ROOT}/bin/{name}"]
    # Nothing else is writable: the root and /dev are read-only, so every place a job can
    # write is counted (outputs, home, tmp) or capped (/dev/shm).
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    return [*args, "--chdir", f"{INSIDE_ROOT}/code", "--", *command]


def hidden_binaries(blocked: frozenset[str], keep: str) -> list[str]:
    """Where the blocked programs live, so the sandbox can put /dev/null over them (never over
    ``keep``, the shell that runs run.sh)."""
    found: set[str] = set()
    for name in blocked:
        for directory in BIN_DIRS:
            candidate = os.path.join(directory, name)
            if os.path.exists(candidate):
                real = os.path.realpath(candidate)
                if real != os.path.realpath(keep) and real.startswith(("/usr/", "/bin/", "/sbin/", "/lib")):
                    found.add(real)
    return sorted(found)


def allowed_binaries(allowed: frozenset[str], as_other_user: bool) -> dict[str, str]:
    """name -> host path of each allowed program on the minimal PATH (the sandbox's PATH then
    holds only these)."""
    out = {}
    for name in allowed:
        path = shutil.which(name, path=job_path(as_other_user))
        if path is not None:
            out[name] = path
    return out


def shell_command(bash: str, prologue: str) -> list[str]:
    """``bash -c '<limits>; exec bash run.sh'``: the limits, then the job's script in place."""
    return [bash, "-c", f"{prologue}\nexec {shlex.quote(bash)} run.sh", "syft-job"]
