"""The server's scratch folders for runs: one slot per worker, reused from job to job.

A run needs a copy of the approved code, an outputs folder, a home and two log files. Making
that tree for every job and deleting it afterwards was most of a short job's file-system work,
and deleted inodes slow down later allocations on some file systems (ext4 without a journal
skips every recently freed inode). A slot keeps its folders; between two jobs only what the
job left is removed, without following links, and anything the job put in place of the
slot's own entries goes too. The code files a job ran are emptied and kept as spares, which
the next job's code copy takes over: their inodes are reused instead of freed and made again.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

from ..filesystem import remove_tree

log = logging.getLogger(__name__)

CODE, OUTPUTS, HOME, SPARE = "code", "outputs", "home", "spare"
STDOUT, STDERR = "stdout.txt", "stderr.txt"
FOLDERS = (CODE, OUTPUTS, HOME, SPARE)
LOGS = (STDOUT, STDERR)
SPARES_KEPT = 16  # emptied code files a slot keeps for the next job's copy


class Slot:
    """One worker's scratch folder and the paths a run uses in it (joined once); ``index``
    numbers it among the server's slots."""

    def __init__(self, root: Path, index: int) -> None:
        self.root, self.index = root, index
        self.code, self.outputs, self.home = root / CODE, root / OUTPUTS, root / HOME
        self.stdout, self.stderr = root / STDOUT, root / STDERR
        self.spare = root / SPARE

    def take_spares(self, wanted: int) -> list[str]:
        """Up to ``wanted`` empty files to copy the next job's code into. A job running as the
        server's user could reach them, so each is checked and wiped now: a plain file of
        ours with no other link, emptied, private, without extended attributes."""
        taken: list[str] = []
        with os.scandir(self.spare) as entries:
            for entry in entries:
                if len(taken) == wanted:
                    break
                if _wiped(entry.path):
                    taken.append(entry.path)
                else:
                    _remove(entry)
        return taken


class ScratchSlots:
    """Slots under ``base`` (private to the server): ``acquire`` hands out an empty one."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._lock = threading.Lock()
        self._free: list[Slot] = []
        self._made = 0

    def reset(self) -> None:
        """Remove every slot: what a previous server's runs left is never reused."""
        with self._lock:
            self._free.clear()
        remove_tree(self.base)

    def acquire(self) -> Slot:
        with self._lock:
            if self._free:
                return self._free.pop()
            index = self._made
            self._made += 1
            root = self.base / f"slot-{self._made}"
        remove_tree(root)  # left by an earlier server of this name
        root.mkdir(mode=0o700, parents=True)
        for name in FOLDERS:
            (root / name).mkdir()
        return Slot(root, index)

    def release(self, slot: Slot) -> None:
        """Empty the slot for the next job; a slot that cannot be emptied is dropped."""
        try:
            _empty(slot.root)
        except OSError as exc:
            log.warning("scratch folder %s could not be emptied (%s); removing it", slot.root, exc)
            remove_tree(slot.root)
            return
        with self._lock:
            self._free.append(slot)


def _empty(slot: Path) -> None:
    """Back to empty folders and empty logs, keeping their inodes."""
    if not stat.S_ISDIR(os.lstat(slot).st_mode):
        raise OSError(f"{slot} is no longer a folder")
    with os.scandir(slot) as entries:
        present = {entry.name: entry for entry in entries}
    spare = os.path.join(slot, SPARE)
    spare_is_folder = SPARE in present and present[SPARE].is_dir(follow_symlinks=False)
    spares = len(os.listdir(spare)) if spare_is_folder else SPARES_KEPT
    for name, entry in present.items():
        if name == SPARE and spare_is_folder:
            continue  # its files are checked when taken
        if name in FOLDERS and entry.is_dir(follow_symlinks=False):
            with os.scandir(entry.path) as inside:
                for item in list(inside):
                    if name == CODE and spares < SPARES_KEPT and _wiped(item.path):
                        os.rename(item.path, os.path.join(spare, str(item.inode())))
                        spares += 1
                    else:
                        _remove(item)
        elif name in LOGS and entry.is_file(follow_symlinks=False):
            os.truncate(entry.path, 0)  # a job's logs never show under the next job
        else:
            _remove(entry)
    for name in FOLDERS:
        if name not in present or not present[name].is_dir(follow_symlinks=False):
            os.mkdir(os.path.join(slot, name))


def _wiped(path: str) -> bool:
    """Empty ``path`` for reuse if it is a plain file of ours with no other link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.geteuid():
            return False
        os.ftruncate(fd, 0)
        os.fchmod(fd, 0o600)
        for name in os.listxattr(fd):
            os.removexattr(fd, name)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _remove(entry: os.DirEntry[str]) -> None:
    if entry.is_dir(follow_symlinks=False):
        remove_tree(entry.path)
    else:
        os.unlink(entry.path)
