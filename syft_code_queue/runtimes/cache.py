"""The cache of built environments: one per lock hash, built once, kept under a size cap by
evicting the least recently used.

Each environment has a lock file beside it, flocked across threads and processes: shared
while a job uses it (so it is never evicted under a running job), exclusive while it is built
or evicted. Its modification time is when a job last used it. The build's marker, written
last, holds its size: an environment without one was never finished and is built again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..protocol.layout import EnvironmentPaths
from ..runner.limits import own_folder
from ..runner.python import JobPython
from ..runner.staging import tree_size
from .documents import Lock

log = logging.getLogger(__name__)

PIP_CONFIG = (
    "# Written by syft-code-queue: everything the job declared is installed already, and a job\n"
    "# has no network, so pip never asks an index.\n"
    "[global]\nno-index = true\ndisable-pip-version-check = true\nno-input = true\n"
)
Builder = Callable[[Lock, Path, Path], None]  # (lock, environment folder, its interpreter)


class EnvironmentCache:
    """``shared``: the jobs run as other (unprivileged) users, who must be able to read the
    environments, never write them."""

    def __init__(self, paths: EnvironmentPaths, max_size: int, build: Builder, shared: bool) -> None:
        self.paths = paths
        self.max_size = max_size
        self.build = build
        self.shared = shared

    @contextmanager
    def use(self, lock: Lock) -> Iterator[JobPython]:
        """The environment of ``lock``, built first if it is not in the cache, held for the
        duration (it cannot be evicted meanwhile)."""
        sha = lock.sha256
        if self.shared:  # in the system's temporary folder: refused if someone else made it
            own_folder(self.paths.root, 0o711)
        else:
            self.paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.paths.lock_file(sha), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            built = False
            if not self.paths.built_marker(sha).exists():
                fcntl.flock(fd, fcntl.LOCK_EX)  # not atomic: another builder may finish first
                if not self.paths.built_marker(sha).exists():
                    self._build(lock)
                    built = True
                fcntl.flock(fd, fcntl.LOCK_SH)
            os.utime(fd)  # last used: now
            if built:
                self.evict(keep=sha)
            yield self.python(lock)
        finally:
            os.close(fd)

    def python(self, lock: Lock) -> JobPython:
        sha = lock.sha256
        prefix = os.path.realpath(lock.prefix)
        base = () if prefix.startswith("/usr/") else (prefix,)
        return JobPython(
            interpreter=str(self.paths.interpreter(sha)),
            scripts=str(self.paths.scripts(sha)),
            mounts=(str(self.paths.environment(sha)), *base),
            version=lock.python,
        )

    def _build(self, lock: Lock) -> None:
        sha = lock.sha256
        target = self.paths.environment(sha)
        shutil.rmtree(target, ignore_errors=True)  # what an interrupted build left
        log.info("building the environment of lock %s (%d packages)", sha[:12], len(lock.pins))
        try:
            self.build(lock, target, self.paths.interpreter(sha))
            self.paths.pip_config(sha).write_text(PIP_CONFIG)
            if self.shared:
                _readable_by_all(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        self.paths.built_marker(sha).write_text(str(tree_size(target)))

    def size_of(self, sha: str) -> int:
        try:
            return int(self.paths.built_marker(sha).read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def evict(self, keep: str) -> list[str]:
        """Remove the least recently used environments not in use until the cache fits its
        cap (never ``keep``, the one just built); returns the lock hashes evicted."""
        entries = []
        for sha in self.paths.known():
            size = self.size_of(sha)
            if size:
                entries.append((os.stat(self.paths.lock_file(sha)).st_mtime_ns, sha, size))
        total = sum(size for _, _, size in entries)
        evicted = []
        for _, sha, size in sorted(entries):
            if total <= self.max_size:
                break
            if sha != keep and self._remove_unused(sha):
                total -= size
                evicted.append(sha)
        if total > self.max_size:
            log.warning("the environment cache holds %d bytes, over its cap of %d: all in use", total, self.max_size)
        return evicted

    def _remove_unused(self, sha: str) -> bool:
        fd = os.open(self.paths.lock_file(sha), os.O_RDWR | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a job is using it
            self.paths.built_marker(sha).unlink(missing_ok=True)  # first: a half-removed one is unbuilt
            shutil.rmtree(self.paths.environment(sha), ignore_errors=True)
            log.info("evicted the environment of lock %s", sha[:12])
            return True
        finally:
            os.close(fd)


def _readable_by_all(root: Path) -> None:
    """Folders searchable and files readable by every user (whatever the server's umask)."""
    for folder, _subfolders, files in os.walk(root):
        os.chmod(folder, os.stat(folder).st_mode | 0o755)
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                extra = 0o555 if info.st_mode & stat.S_IXUSR else 0o444
                os.chmod(path, (info.st_mode | extra) & ~0o022)
