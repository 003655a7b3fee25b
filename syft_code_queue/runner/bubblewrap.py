"""Bubblewrap: whether it works here (probed once, for real), and the argv that builds a
job's sandbox: user, pid and net namespaces, a read-only system, only the job's own staging
folder visible and writable, a private tmp.

The job's ``bin`` folder (``/job/bin``) holds links: ``python`` where the runtime has none
(``runner/python.py``), and, with an allow-list, the allowed programs, which are then the
whole ``PATH``.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import stat
import subprocess
import threading
from pathlib import Path
from typing import Mapping, Optional

from ..protocol.layout import INSIDE_DATA
from .launcher import JobIds
from .limits import SandboxPolicy
from .python import MINIMAL_PATH, JobPython
from .staging import INSIDE_ROOT, INSIDE_UID, Staging

log = logging.getLogger(__name__)


def unreadable_by_others(folder: Path) -> Optional[str]:
    """Why a job running as a uid of its own cannot read ``folder`` (a folder on the way
    that others cannot pass, or the folder itself not readable by others), or None."""
    for ancestor in [folder, *folder.parents]:
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return f"{ancestor} cannot be passed by other users"
    if not os.stat(folder).st_mode & stat.S_IROTH:
        return f"{folder} cannot be read by other users"
    return None


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
JOB_BIN = f"{INSIDE_ROOT}/bin"  # the job's own bin folder inside the sandbox
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
    programs: dict[str, str],
    python: JobPython,
    data: Mapping[str, Path],
) -> list[str]:
    """The bubblewrap command line: system directories read-only, the job's code and its
    Python read-only, its outputs, home and tmp writable, a capped /dev/shm of its own, each
    of its datasets bound read-only (zero-copy) at ``/job/data/<name>``, nothing else of the
    host visible; ``programs``: the links of the job's ``bin`` folder (name -> target)."""
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
    for directory in python.mounts:
        args += ["--ro-bind", directory, directory]
    for name, folder in sorted(data.items()):
        args += ["--ro-bind", str(folder), f"{INSIDE_DATA}/{name}"]
    for path in hidden:
        args += ["--ro-bind", "/dev/null", path]
    args += ["--dir", JOB_BIN]
    for name, target in sorted(programs.items()):
        args += ["--symlink", target, f"{JOB_BIN}/{name}"]
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


def job_programs(python: JobPython, allowed: Optional[frozenset[str]]) -> dict[str, str]:
    """name -> target of each link in the job's ``bin`` folder: ``python`` where the runtime
    lacks one; with an allow-list, only allowed names, each allowed program found on the
    job's ``PATH`` (which is then this folder alone)."""
    links = python.links()
    if allowed is None:
        return links
    out = {name: target for name, target in links.items() if name in allowed}
    for name in allowed - out.keys():
        path = shutil.which(name, path=python.path(None))
        if path is not None:
            out[name] = path
    return out


def shell_command(bash: str, prologue: str) -> list[str]:
    """``bash -c '<limits>; exec bash run.sh'``: the limits, then the job's script in place."""
    return [bash, "-c", f"{prologue}\nexec {shlex.quote(bash)} run.sh", "syft-job"]
