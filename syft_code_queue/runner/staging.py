"""A job's staging folder: its code, its outputs, home and tmp, outside the owner's tree, with
a read-only passwd/group shared by every job; held under a lock while in use, swept when a
dead runner left it behind, and measured against the scratch cap.

The code is the owner's accepted copy, shown to the job without copying a byte wherever the
job cannot change it (``CodeView``): bound read-only by the sandbox in place, or hard links
to its files, made read-only and owned by the server, which a job running as a uid of its own
can neither write, chmod nor remove. Only a job that runs as the server's own user without
the sandbox, which could change a linked file, gets a copy; so does code on another file
system than the staging folder (no links across file systems).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Literal, Optional

from ..filesystem import make_folders, open_regular, remove_tree, walk
from .launcher import JobIds
from .limits import SandboxPolicy, format_size, own_folder

log = logging.getLogger(__name__)

INSIDE_UID = 1000  # the job's uid as seen inside the sandbox
INSIDE_ROOT = "/job"  # where the staging folder appears inside the sandbox
LOCK_FILE = ".in-use"  # held (flock) by the runner while a staging folder is in use

CodeView = Literal["bound", "linked", "copied"]  # how the job's code is shown to it


# --- the job's staging folder ------------------------------------------------------------


@dataclass(frozen=True)
class Staging:
    """A job's own part of the file system: ``code`` (the approved code, which it cannot
    change), writable ``outputs``, ``home`` and ``tmp``; without the sandbox also its read-only
    ``bin``. It lives outside the owner's tree, so a job running as its own uid can reach it.
    ``etc`` holds the sandbox's passwd and group, the same for every job: shared by all
    staging folders, mounted read-only."""

    root: Path
    etc: Path
    job_uid: Optional[int] = None  # the job's own uid, when it has one: what it leaves is found by owner
    bound: Optional[Path] = None  # the approved code itself, which the sandbox binds read-only

    @property
    def code(self) -> Path:
        return self.bound or self.root / "code"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def bin(self) -> Path:
        """The job's own programs (links) without the sandbox; inside it, bubblewrap makes them."""
        return self.root / "bin"

    def link_programs(self, programs: dict[str, str]) -> None:
        """Make ``bin`` with a link per program (name -> target), readable by the job's uid."""
        self.bin.mkdir(mode=0o755)
        os.chmod(self.bin, 0o755)
        for name, target in programs.items():
            os.symlink(target, self.bin / name)

    @classmethod
    @contextmanager
    def create(cls, code: Path, ids: Optional[JobIds], view: CodeView) -> Iterator["Staging"]:
        """A fresh staging folder, locked while the job uses it, with ``code`` shown as
        ``view`` asks (``code_view`` says which is safe; links fall back to a copy). Folders
        whose lock nobody holds were left by a server that died mid-job; they hold a
        requester's outputs and go now."""
        parent = staging_parent(ids)
        _sweep_stale(parent)
        root = Path(tempfile.mkdtemp(prefix="job-", dir=parent))
        # Lock before the lock file has its name: a sweeper in another thread or process
        # must never find it unlocked.
        unnamed = root / f"{LOCK_FILE}.new"
        lock = os.open(unnamed, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.rename(unnamed, root / LOCK_FILE)
        staging = cls(root, _sandbox_etc(parent), ids.uid if ids else None, code if view == "bound" else None)
        try:
            os.chmod(root, 0o711 if ids else 0o700)
            if view == "linked":
                _link_code(code, staging.code)
            elif view == "copied":
                _copy_code(code, staging.code)
            for folder in (staging.outputs, staging.home, staging.tmp):
                folder.mkdir(mode=0o700)
                if ids:
                    os.chown(folder, ids.uid, ids.gid)
            yield staging
        finally:
            try:
                remove_tree(root)
                if ids:
                    _remove_owned(SHARED_MEMORY, ids.uid)
            finally:  # released even if removal fails: a held lock would outlive the job
                os.close(lock)

    def over_limit(self, policy: SandboxPolicy) -> Optional[str]:
        """Why the job must stop now because of what it wrote, or None."""
        outputs = tree_size(self.outputs)
        if outputs > policy.max_outputs_size:
            return (
                f"the outputs folder grew past {format_size(policy.max_outputs_size)} "
                "(max_outputs_size); the job was stopped and no outputs were returned"
            )
        scratch = tree_size(self.home) + tree_size(self.tmp)
        if self.job_uid is not None:  # without a sandbox, the host's /dev/shm is writable too
            scratch += sum(info.st_size for _, info in _owned(SHARED_MEMORY, self.job_uid))
        if scratch > policy.max_scratch_size:
            return (
                f"the job's home and temporary files grew past {format_size(policy.max_scratch_size)} "
                "(max_scratch_size); the job was stopped"
            )
        return None

    def collect_outputs(self, dest: Path, limit: int) -> Optional[str]:
        """Copy the regular files of ``outputs`` to ``dest``; links and special files are left
        behind. Returns why nothing was copied when the folder is over ``limit``."""
        if tree_size(self.outputs) > limit:
            return (
                f"the outputs folder is larger than {format_size(limit)} (max_outputs_size); no outputs were returned"
            )
        for source, info in _entries(self.outputs):
            if stat.S_ISREG(info.st_mode):
                target = dest / source.relative_to(self.outputs)
                make_folders(target.parent)
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
    etc = own_folder(parent / "etc", 0o755)
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
        return own_folder(base / f"syft-code-queue-jobs-{os.geteuid()}", 0o700)
    for folder in (base, *base.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"jobs run as uid {ids.uid} cannot reach their staging folder under {base}: {folder} "
                "is not searchable by other users; point TMPDIR at a folder that is (such as /tmp)"
            )
    return own_folder(base / "syft-code-queue-jobs", 0o711)


def _sweep_stale(parent: Path) -> None:
    """Remove what dead servers left; one leftover that resists is logged, never fatal: it
    must not fail the new job that found it."""
    for folder in parent.iterdir():
        try:
            _sweep_one(folder)
        except Exception:
            log.exception("could not remove %s, left behind by a server that stopped mid-job", folder)


def _sweep_one(folder: Path) -> None:
    try:
        lock = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # being created right now, or not one of ours
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # a running job's
    else:
        if os.fstat(lock).st_nlink == 0:
            return  # another sweeper removed it while we waited for its lock
        log.warning("removing %s, left behind by a server that stopped mid-job", folder)
        remove_tree(folder)
    finally:
        os.close(lock)


SHARED_MEMORY = Path("/dev/shm")


def _owned(folder: Path, uid: int) -> Iterator[tuple[Path, os.stat_result]]:
    """The files below ``folder`` that belong to ``uid``."""
    return ((path, info) for path, info in _entries(folder) if info.st_uid == uid)


def _remove_owned(folder: Path, uid: int) -> None:
    """Remove what a job running as ``uid`` left in a folder shared with other users."""
    for path, _ in list(_owned(folder, uid)):
        try:
            os.unlink(path)
        except OSError as exc:
            log.warning("could not remove %s, left by a job: %s", path, exc)


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


def code_view(ids: Optional[JobIds], sandboxed: bool) -> CodeView:
    """How a job may be shown its code without being able to change it: bound read-only by
    the sandbox where it runs as the server's user (who can reach the owner's private copy);
    linked where it runs as a uid of its own (which cannot reach it, nor change a file of the
    server's); copied where it runs as the server's user without the sandbox (it could chmod
    and write a linked file, and so the accepted copy)."""
    if ids is not None:
        return "linked"
    return "bound" if sandboxed else "copied"


def _link_code(source: Path, dest: Path) -> None:
    """Hard-link the approved code's files into ``dest``: no byte copied. Each file is made
    read-only and must be the server's, so a job of another uid cannot change it; folders are
    made anew (the server's, not writable by the job). Where links cannot be made (another
    file system), the code is copied instead."""
    descriptors = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _stage_tree(source, dest, partial(_link_file, descriptors=descriptors))
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        log.info("the approved code cannot be linked into the staging folder (%s); copying it", exc.strerror)
        remove_tree(dest)
        _copy_code(source, dest)
    finally:
        os.close(descriptors)


def _link_file(source: Path, target: Path, descriptors: int) -> None:
    """Link the very file opened and checked (``descriptors``: this process's /proc fd
    folder), whatever its name points at by then."""
    fd = open_regular(source)
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            raise OSError(errno.EPERM, "a code file is not the server's own", str(source))
        os.fchmod(fd, 0o444)
        os.link(str(fd), target, src_dir_fd=descriptors, follow_symlinks=True)
    finally:
        os.close(fd)


def _copy_code(source: Path, dest: Path) -> None:
    """Copy the approved code, readable by the job's uid; only directories and regular files."""
    _stage_tree(source, dest, _copy_readable)


def _copy_readable(source: Path, target: Path) -> None:
    _copy_file(source, target)
    os.chmod(target, 0o644)


def _stage_tree(source: Path, dest: Path, place: Callable[[Path, Path], None]) -> None:
    """``dest`` made as ``source``'s folders (the server's, 0755 whatever its umask), with
    ``place(file, target)`` for each regular file; nothing else is carried over."""
    dest.mkdir()
    os.chmod(dest, 0o755)
    for relative, item in walk(source):
        target = dest / relative
        if item.is_dir(follow_symlinks=False):
            target.mkdir()
            os.chmod(target, 0o755)
        elif item.is_file(follow_symlinks=False):
            place(Path(item.path), target)


def _copy_file(source: Path, target: Path) -> None:
    try:
        fd = open_regular(source)
    except PermissionError:  # the job's own file, made unreadable by the job (owner's uid)
        os.chmod(source, 0o600)
        fd = open_regular(source)
    with os.fdopen(fd, "rb") as fin, open(target, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
