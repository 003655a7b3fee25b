"""Resource limits of a job: the policy (``SandboxPolicy``), the rlimits its own shell
applies just before ``run.sh`` starts, and the leased unprivileged uid each job of a root
server runs as (as root, RLIMIT_NPROC is not enforced, and a root job could read everything).
"""

from __future__ import annotations

import fcntl
import logging
import os
import resource
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .launcher import JobIds

log = logging.getLogger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB


class SandboxPolicy(BaseModel):
    """Containment settings of ``SafeCodeRunner``; every limit applies to each job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sandbox: Literal["bwrap", "none"] = "bwrap"  # "bwrap": use bubblewrap whenever it works
    require_sandbox: bool = False  # fail jobs rather than run them without bubblewrap
    allow_network: bool = False
    max_outputs_size: int = Field(default=100 * MiB, gt=0)  # bytes in the outputs folder
    max_scratch_size: int = Field(default=1 * GiB, gt=0)  # bytes in the job's home and tmp
    max_cpu_time: int = Field(default=600, gt=0)  # CPU seconds, per process (RLIMIT_CPU)
    max_memory: int = Field(default=2 * GiB, ge=64 * MiB)  # address space, per process (RLIMIT_AS)
    max_processes: int = Field(default=100, ge=4)  # processes and threads of the job (RLIMIT_NPROC)
    max_open_files: int = Field(default=512, ge=16)  # per process (RLIMIT_NOFILE)
    max_file_size: int = Field(default=100 * MiB, gt=0)  # largest file a job may write (RLIMIT_FSIZE)
    job_uid_base: int = Field(default=1_900_000_000, ge=1000, le=2**31 - 2**20)  # root servers only

    @model_validator(mode="after")
    def _consistent(self) -> "SandboxPolicy":
        if self.require_sandbox and self.sandbox == "none":
            raise ValueError("require_sandbox=True contradicts sandbox='none'")
        return self


# --- limits ----------------------------------------------------------------------------


def limits_prologue(policy: SandboxPolicy, nproc: int) -> str:
    """A shell line applying the rlimits just before run.sh starts. It runs inside the sandbox,
    after bubblewrap made the user namespace: RLIMIT_NPROC then counts only the job's own
    processes, even when the owner (not root) has many others."""
    values = {
        "-c": 0,
        "-v": _cap(resource.RLIMIT_AS, policy.max_memory) // 1024,  # KiB
        "-n": _cap(resource.RLIMIT_NOFILE, policy.max_open_files),
        "-f": _cap(resource.RLIMIT_FSIZE, policy.max_file_size) // 1024,  # 1 KiB blocks
        "-u": _cap(resource.RLIMIT_NPROC, nproc),
    }
    flags = " ".join(f"{flag} {value}" for flag, value in values.items())
    # CPU: SIGXCPU at the soft limit (the exit code says why), SIGKILL a second later.
    cpu = _cap(resource.RLIMIT_CPU, policy.max_cpu_time + 1)
    return (
        f"ulimit {flags} && ulimit -S -t {cpu - 1} && ulimit -H -t {cpu} "
        "|| { echo 'syft-code-queue: could not apply resource limits' >&2; exit 125; }"
    )


def _cap(limit: int, wanted: int) -> int:
    """An unprivileged process cannot raise a hard limit: never ask for more than it has."""
    hard = resource.getrlimit(limit)[1]
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def tasks_of(uid: int) -> int:
    """Processes and threads whose real uid is ``uid`` (what RLIMIT_NPROC counts)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except (OSError, ValueError):
            continue
        if int(fields.get("Uid", "-1 0").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total


# --- identities ------------------------------------------------------------------------


def _has_processes(uid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    return True
            except FileNotFoundError:
                pass
    return False


@contextmanager
def lease_job_ids(base: int, slots: int = 4096) -> Iterator[JobIds]:
    """Hold an unused uid from ``base`` upwards for one job, across threads and processes (an
    flock per uid), skipping any uid that still owns a process."""
    folder = _lease_dir()
    for uid in range(base, base + slots):
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _has_processes(uid):  # left behind by a server that died mid-job
            os.close(fd)
            continue
        try:
            yield JobIds(uid, uid)
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"no free job uid in {base}..{base + slots - 1}")


def _lease_dir() -> Path:
    parent = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    return own_folder(parent / "syft-code-queue-uids", 0o700)


def format_size(n: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def own_folder(folder: Path, mode: int) -> Path:
    """A folder of ours in a shared place such as /tmp: created with ``mode``, and refused if
    someone else made it first (a planted folder or link could redirect our files)."""
    try:
        folder.mkdir()
        os.chmod(folder, mode)
    except FileExistsError:
        pass
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise RuntimeError(f"{folder} is not a private folder of this user; refusing to use it")
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(folder, mode)  # ours and private, but left with other bits by an older run
    return folder
