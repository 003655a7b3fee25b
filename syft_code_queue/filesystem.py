"""Trees and files a requester or a job controls: walked and removed without recursion,
opened as regular files only.

A job can nest folders thousands deep in what it leaves, and a requester can put a FIFO or a
device where a manifest names a file. Every walk here keeps its own stack (no Python
recursion limit to hit), never follows a link, and every open refuses anything but a regular
file without blocking (``O_NONBLOCK`` so a FIFO cannot stall the opener; ``fstat`` after the
open, so what was checked is what is read).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Iterator, Union

from .errors import UnsafeFolderError

log = logging.getLogger(__name__)

PathLike = Union[Path, str]


def walk(folder: PathLike) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every entry below ``folder`` with its relative path ("a/b.py"), sorted, depth first.
    Links are listed, never followed: only real folders are entered."""
    stack: list[Iterator[os.DirEntry[str]]] = []
    prefixes: list[str] = []

    def enter(directory: str, prefix: str) -> None:
        with os.scandir(directory) as found:
            stack.append(iter(sorted(found, key=lambda entry: entry.name)))
        prefixes.append(prefix)

    enter(os.fspath(folder), "")
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            prefixes.pop()
            continue
        relative = prefixes[-1] + item.name
        yield relative, item
        if item.is_dir(follow_symlinks=False):
            enter(item.path, relative + "/")


def make_folders(folder: PathLike, mode: int = 0o777) -> None:
    """``os.makedirs(folder, exist_ok=True)`` without recursion, however deep ``folder`` is."""
    missing: list[str] = []
    current = os.fspath(folder)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


def remove_tree(root: PathLike) -> None:
    """Remove ``root`` and everything below it, however deep, without following links.
    Folders whose permissions a job took away are given them back first; nothing above
    ``root`` is touched. What cannot be removed is logged, never raised: a leftover must not
    fail the caller (the next sweep tries again)."""
    top = os.fspath(root)
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            os.unlink(top)
            return
    except FileNotFoundError:
        return
    stack = [top]
    while stack:
        current = stack[-1]
        try:
            entries = list(os.scandir(current))
        except PermissionError:
            if not _give_back(current):
                stack.pop()
            continue
        except (FileNotFoundError, NotADirectoryError):
            stack.pop()
            continue
        folders = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
        for entry in entries:
            if entry.path in folders:
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
            except PermissionError:
                _give_back(current)
                _unlink_quietly(entry.path)
        if folders:
            stack.extend(folders)
            continue
        stack.pop()
        try:
            os.rmdir(current)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if not _give_back(current) or not _rmdir_quietly(current):
                log.warning("could not remove %s: %s", current, exc)
                stack.clear()  # a folder that stays would be retried forever


def _give_back(path: str) -> bool:
    try:
        os.chmod(path, 0o700, follow_symlinks=False)
        return True
    except (OSError, NotImplementedError):
        return False


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)


def _rmdir_quietly(path: str) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def is_regular(path: PathLike) -> bool:
    """Whether ``path`` itself (not what a link points to) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: PathLike) -> int:
    """A read descriptor on the regular file at ``path``. Raises ``UnsafeFolderError`` for a
    link, a FIFO, a device or a socket (without blocking on any of them), and ``OSError``
    when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a link; a socket (or a FIFO opened to write)
            raise UnsafeFolderError(f"{path} is not a regular file") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFolderError(f"{path} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def read_regular(path: PathLike, max_bytes: int = -1) -> tuple[os.stat_result, bytes]:
    """(stat, bytes) of the regular file at ``path`` (at most ``max_bytes`` when given);
    refuses what ``open_regular`` refuses."""
    with os.fdopen(open_regular(path), "rb") as fh:
        return os.fstat(fh.fileno()), fh.read(max_bytes)


def hash_regular(path: PathLike) -> tuple[os.stat_result, int, str]:
    """(its stat before reading, size read, sha256) of the regular file at ``path``; see
    ``open_regular`` for what is refused."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        digest = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            size += len(chunk)
            digest.update(chunk)
    return info, size, digest.hexdigest()
