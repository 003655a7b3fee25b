"""How a job is launched so that it cannot reach the owner's data: bubblewrap when it works,
otherwise a plain process with resource limits, always under the supervisor (supervisor.py).

The job gets a private staging folder outside the owner's tree (its code, outputs, home and
tmp), a clean environment, rlimits applied by the job's own shell just before ``run.sh`` starts,
and, when the server runs as root, a dedicated unprivileged uid per running job: as root
RLIMIT_NPROC is not enforced, and a job running as root could read everything.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import resource
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import launcher
from .launcher import SupervisedJob

log = logging.getLogger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB
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
INSIDE_UID = 1000  # the job's uid as seen inside the sandbox
INSIDE_ROOT = "/job"
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The few /etc entries programs need; nothing with secrets (no shadow, no ssh, no machine-id).
ETC_ENTRIES = (
    "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "ssl",
    "ca-certificates", "ca-certificates.conf", "mime.types", "protocols", "services", "pip.conf",
)
NETWORK_ETC_ENTRIES = ("resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf")
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
LOCK_FILE = ".in-use"  # held (flock) by the runner while a staging folder is in use


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
        return launcher.start(self)


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
        argv = [path, *namespace_args(self.policy), "--ro-bind", "/", "/", "--proc", "/proc",
                "--dev", "/dev", "--", "true"]
        ids = JobIds(self.policy.job_uid_base, self.policy.job_uid_base) if os.geteuid() == 0 else None
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=30, env={"PATH": MINIMAL_PATH},
                user=ids.uid if ids else None, group=ids.gid if ids else None,
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
    bwrap: str, policy: SandboxPolicy, staging: "Staging", command: list[str],
    hidden: list[str], allowed_bin: dict[str, str], as_other_user: bool,
) -> list[str]:
    """The bubblewrap command line: system directories read-only, the job's code read-only,
    its outputs, home and tmp writable, nothing else of the host visible."""
    args = [bwrap, *namespace_args(policy), "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID),
            "--hostname", "syft-job", "--ro-bind", "/usr", "/usr"]
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
        "--ro-bind", str(staging.etc / "passwd"), "/etc/passwd",
        "--ro-bind", str(staging.etc / "group"), "/etc/group",
        "--proc", "/proc", "--dev", "/dev",
        "--bind", str(staging.tmp), "/tmp",
        "--ro-bind", str(staging.code), f"{INSIDE_ROOT}/code",
        "--bind", str(staging.outputs), f"{INSIDE_ROOT}/outputs",
        "--bind", str(staging.home), f"{INSIDE_ROOT}/home",
    ]
    for directory in python_dirs(as_other_user):
        args += ["--ro-bind", directory, directory]
    for path in hidden:
        args += ["--ro-bind", "/dev/null", path]
    if allowed_bin:
        args += ["--dir", f"{INSIDE_ROOT}/bin"]
        for name, target in sorted(allowed_bin.items()):
            args += ["--symlink", target, f"{INSIDE_ROOT}/bin/{name}"]
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
    return _own_folder(parent / "syft-code-queue-uids", 0o700)


def _own_folder(folder: Path, mode: int) -> Path:
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


# --- the job's staging folder ------------------------------------------------------------


@dataclass(frozen=True)
class Staging:
    """The only part of the file system a job can write: ``code`` (a copy of the approved
    code), ``outputs``, ``home``, ``tmp``. It lives outside the owner's tree, so a job running
    as its own uid can reach it. ``etc`` holds the sandbox's passwd and group, the same for
    every job: shared by all staging folders, mounted read-only."""

    root: Path
    etc: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @classmethod
    @contextmanager
    def create(cls, code: Path, ids: Optional[JobIds]) -> Iterator["Staging"]:
        """A fresh staging folder, locked while the job uses it. Folders whose lock nobody holds
        were left by a server that died mid-job; they hold a requester's outputs and go now."""
        parent = staging_parent(ids)
        _sweep_stale(parent)
        root = Path(tempfile.mkdtemp(prefix="job-", dir=parent))
        # Lock before the lock file has its name: a sweeper in another thread or process
        # must never find it unlocked.
        unnamed = root / f"{LOCK_FILE}.new"
        lock = os.open(unnamed, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.rename(unnamed, root / LOCK_FILE)
        staging = cls(root, _sandbox_etc(parent))
        try:
            os.chmod(root, 0o711 if ids else 0o700)
            _copy_code(code, staging.code)
            for folder in (staging.outputs, staging.home, staging.tmp):
                folder.mkdir(mode=0o700)
                if ids:
                    os.chown(folder, ids.uid, ids.gid)
            yield staging
        finally:
            _remove_tree(root)
            os.close(lock)

    def over_limit(self, policy: SandboxPolicy) -> Optional[str]:
        """Why the job must stop now because of what it wrote, or None."""
        outputs = tree_size(self.outputs)
        if outputs > policy.max_outputs_size:
            return (f"the outputs folder grew past {format_size(policy.max_outputs_size)} "
                    "(max_outputs_size); the job was stopped and no outputs were returned")
        scratch = tree_size(self.home) + tree_size(self.tmp)
        if scratch > policy.max_scratch_size:
            return (f"the job's home and temporary files grew past {format_size(policy.max_scratch_size)} "
                    "(max_scratch_size); the job was stopped")
        return None

    def collect_outputs(self, dest: Path, limit: int) -> Optional[str]:
        """Copy the regular files of ``outputs`` to ``dest``; links and special files are left
        behind. Returns why nothing was copied when the folder is over ``limit``."""
        if tree_size(self.outputs) > limit:
            return (f"the outputs folder is larger than {format_size(limit)} (max_outputs_size); "
                    "no outputs were returned")
        for source, info in _entries(self.outputs):
            if stat.S_ISREG(info.st_mode):
                target = dest / source.relative_to(self.outputs)
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_file(source, target)
        return None


SANDBOX_ETC = {
    "passwd": f"job:x:{INSIDE_UID}:{INSIDE_UID}:syft-code-queue job:{INSIDE_ROOT}/home:/bin/bash\n"
              "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "group": f"job:x:{INSIDE_UID}:\nnogroup:x:65534:\n",
}


def _sandbox_etc(parent: Path) -> Path:
    """``parent``'s folder of the sandbox's passwd and group, checked and (re)written when not
    exactly these bytes and modes: readable by every job, writable by none."""
    etc = _own_folder(parent / "etc", 0o755)
    for name, text in SANDBOX_ETC.items():
        path = etc / name
        try:
            info = path.lstat()
            current = path.read_text() if stat.S_ISREG(info.st_mode) else None
        except FileNotFoundError:
            info, current = None, None
        if current != text or info is None or stat.S_IMODE(info.st_mode) != 0o644 or info.st_uid != os.geteuid():
            tmp = etc / f".{name}.{os.getpid()}.{threading.get_ident()}"
            tmp.write_text(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    return etc


def staging_parent(ids: Optional[JobIds]) -> Path:
    """Where staging folders live: in the system's temporary folder, which a job running as its
    own uid must be able to pass through."""
    base = Path(tempfile.gettempdir())
    if ids is None:
        return _own_folder(base / f"syft-code-queue-jobs-{os.geteuid()}", 0o700)
    for folder in (base, *base.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"jobs run as uid {ids.uid} cannot reach their staging folder under {base}: {folder} "
                "is not searchable by other users; point TMPDIR at a folder that is (such as /tmp)"
            )
    return _own_folder(base / "syft-code-queue-jobs", 0o711)


def _sweep_stale(parent: Path) -> None:
    for folder in parent.iterdir():
        try:
            lock = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # being created right now, or not one of ours
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a running job's
        else:
            if os.fstat(lock).st_nlink == 0:
                continue  # another sweeper removed it while we waited for its lock
            log.warning("removing %s, left behind by a server that stopped mid-job", folder)
            _remove_tree(folder)
        finally:
            os.close(lock)


def tree_size(folder: Path) -> int:
    """Bytes in the files under ``folder``, links not followed."""
    return sum(info.st_size for _, info in _entries(folder))


def _entries(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every non-directory entry below ``folder`` with its lstat. A job running as the owner's
    own uid may take away a folder's permissions to hide what is inside; we give them back."""
    todo = [folder]
    while todo:
        current = todo.pop()
        try:
            entries = list(os.scandir(current))
        except PermissionError:
            os.chmod(current, 0o700)
            entries = list(os.scandir(current))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                todo.append(Path(entry.path))
            else:
                yield Path(entry.path), info


def _copy_code(source: Path, dest: Path) -> None:
    """Copy the approved code, readable by the job's uid; only directories and regular files."""
    dest.mkdir()
    os.chmod(dest, 0o755)  # explicit: the server's umask may be stricter
    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        target = dest / here.relative_to(source)
        for name in dirnames:
            if not (here / name).is_symlink():
                (target / name).mkdir()
                os.chmod(target / name, 0o755)
        for name in filenames:
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):
                _copy_file(path, target / name)
                os.chmod(target / name, 0o644)


def _copy_file(source: Path, target: Path) -> None:
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except PermissionError:  # the job's own file, made unreadable by the job (owner's uid)
        os.chmod(source, 0o600)
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fin, open(target, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _remove_tree(root: Path) -> None:
    """Remove a staging folder even where the job took away its own permissions. Nothing above
    ``root`` is ever touched: the parent is shared by every job of every server here, and a
    folder another sweeper removed first is simply gone."""
    top = os.fspath(root)

    def retry(func, path, failure) -> None:  # type: ignore[no-untyped-def]
        error = failure[1] if isinstance(failure, tuple) else failure  # onerror or onexc
        if isinstance(error, FileNotFoundError):
            return
        try:
            parent = os.path.dirname(path)
            if parent == top or parent.startswith(top + os.sep):
                os.chmod(parent, 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
        except FileNotFoundError:
            pass
        except OSError:
            log.warning("could not remove %s from a job's staging folder", path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=retry)
    else:
        shutil.rmtree(root, onerror=retry)


def format_size(n: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def shell_command(bash: str, prologue: str) -> list[str]:
    """``bash -c '<limits>; exec bash run.sh'``: the limits, then the job's script in place."""
    return [bash, "-c", f"{prologue}\nexec {shlex.quote(bash)} run.sh", "syft-job"]
