"""Manifests: the list of (path, size, sha256) that pins a code folder or a job's results.

A folder is walked without following links; what SyftBox never carries is left out of a
manifest (listed, it would keep a submission "still arriving" forever); comparison tells
"not arrived yet" from "can never match"; a copy reads exactly the bytes the manifest pins.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Iterable, Optional

from ..cache import BoundedCache
from ..errors import UnsafeFolderError
from ..filesystem import hash_regular, make_folders, open_regular
from ..filesystem import walk as folder_entries
from ..models import FileEntry
from ..syftbox import FileIdentity, _identity_of, never_synced, sha256_file

log = logging.getLogger(__name__)


def build_manifest(folder: Path) -> list[FileEntry]:
    """Hash every regular file under ``folder`` that SyftBox will carry; refuse anything that
    could escape it. Files SyftBox never syncs are left out (and logged): listed, they would
    keep the submission "still arriving" until it times out."""
    entries: list[FileEntry] = []
    left_out: list[str] = []
    for relative, item in folder_entries(folder):
        if item.is_symlink():
            raise UnsafeFolderError(f"symlinks are not allowed in a code folder: {item.path}")
        if item.is_dir(follow_symlinks=False):
            continue
        if not item.is_file(follow_symlinks=False):
            raise UnsafeFolderError(f"only regular files are allowed in a code folder: {item.path}")
        if never_synced(relative):
            left_out.append(relative)
        else:
            size, digest = sha256_file(item.path)
            entries.append(FileEntry(path=relative, size=size, sha256=digest))
    if left_out:
        log.warning("left out of the submission (SyftBox does not sync them): %s", ", ".join(left_out))
    return entries


def through_symlink(folder: Path, rel: str) -> bool:
    """Whether any component of ``folder/rel`` is a symlink: such a path may lead anywhere."""
    path = os.fspath(folder)
    for part in rel.split("/"):
        path = f"{path}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False
    return False


class VerifiedFiles:
    """Files already found to hold their manifest entry's bytes, by path, with the identity of
    the version hashed: a requester asking again and again whether results arrived does not
    hash them again. Rewritten, replaced or removed, a file has another identity and is
    checked anew."""

    def __init__(self, kept: int) -> None:
        self._seen: BoundedCache[str, tuple[FileIdentity, int, str]] = BoundedCache(kept)

    def holds(self, path: str, entry: FileEntry, info: os.stat_result) -> bool:
        """Whether the file at ``path`` (``info``: its stat) holds exactly ``entry``'s bytes."""
        if self._seen.get(path) == (_identity_of(info), entry.size, entry.sha256):
            return True
        hashed, size, digest = hash_regular(path)  # stat before reading: a change makes it stale
        if size != entry.size or digest != entry.sha256:
            return False
        self._seen.put(path, (_identity_of(hashed), entry.size, entry.sha256))
        return True

    def entry(self, path: str, relative: str) -> FileEntry:
        """The manifest entry of the regular file at ``path`` (named ``relative``), hashed
        once per version of the file."""
        seen = self._seen.get(path)
        if seen is not None and seen[0] == _identity_of(os.lstat(path)):
            return FileEntry(path=relative, size=seen[1], sha256=seen[2])
        hashed, size, digest = hash_regular(path)  # stat before reading: a change makes it stale
        self._seen.put(path, (_identity_of(hashed), size, digest))
        return FileEntry(path=relative, size=size, sha256=digest)


def compare_to_manifest(
    folder: Path, files: Iterable[FileEntry], verified: Optional[VerifiedFiles] = None
) -> tuple[list[str], list[str]]:
    """(paths not arrived yet, or not yet these bytes; why others can never match: a path
    through a symlink, a file larger than listed). 0-byte files never sync, so a missing
    empty file counts as present. ``verified``: files unchanged since it vouched for them
    are not hashed again."""
    holds = verified.holds if verified is not None else _hashes_to
    pending: list[str] = []
    broken: list[str] = []
    for entry in files:
        if through_symlink(folder, entry.path):
            broken.append(f"{entry.path} goes through a symlink; only regular files are accepted")
            continue
        path = f"{folder}/{entry.path}"
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            if entry.size:
                pending.append(entry.path)
            continue
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block whoever opens it to hash it
            broken.append(f"{entry.path} is not a regular file; only regular files are accepted")
        elif info.st_size > entry.size:
            broken.append(f"{entry.path} is larger than its manifest entry: corrupt")
        elif info.st_size != entry.size:
            pending.append(entry.path)
        else:
            try:
                if not holds(path, entry, info):
                    pending.append(entry.path)
            except UnsafeFolderError:  # replaced by a special file since the lstat
                broken.append(f"{entry.path} is not a regular file; only regular files are accepted")
    return pending, broken


def _hashes_to(path: str, entry: FileEntry, info: os.stat_result) -> bool:
    return hash_regular(path)[2] == entry.sha256


def copy_verified(source: Path, dest: Path, files: Iterable[FileEntry], spares: Optional[list[str]] = None) -> None:
    """Copy exactly the manifest's bytes from ``source`` to ``dest``, hashing as it reads.
    ``spares``: empty files of ours to move into place and write, instead of new ones.

    Raises ``ValueError`` naming the first file that differs: the runner must run the bytes
    that were approved, not whatever is in the synced folder now."""
    for entry in files:
        src = source / entry.path
        out = dest / entry.path
        make_folders(out.parent)
        if spares:
            os.rename(spares.pop(), out)
        if entry.size == 0 and not src.exists():
            out.write_bytes(b"")
            continue
        if through_symlink(source, entry.path):
            raise ValueError(f"{entry.path} goes through a symlink")
        try:
            fd = open_regular(src)
        except (UnsafeFolderError, FileNotFoundError):
            raise ValueError(f"{entry.path} is missing or not a regular file") from None
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "rb") as fin, open(out, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                fout.write(chunk)
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise ValueError(f"{entry.path} changed after it was approved")


def files_present(folder: Path, files: Iterable[FileEntry], verified: Optional[VerifiedFiles] = None) -> bool:
    """Whether every file of ``files`` is under ``folder`` with exactly its listed bytes."""
    return compare_to_manifest(folder, files, verified) == ([], [])
