"""``InotifyFeed``: the exact change feed on Linux. ``sync()`` drains the kernel's queue,
and the kernel queues an event in the system call that makes the change, so when ``sync()``
returns every change completed before the call has been published."""

from __future__ import annotations

import logging
import os
import select
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from ..syftbox import is_sync_artifact
from . import inotify
from .feed import ChangeFeed, nearest_existing, within_depth

log = logging.getLogger(__name__)


@dataclass
class _Watch:
    path: str
    root: Optional[str]  # the watched tree it belongs to; None: an ancestor of a missing root
    depth: int


class InotifyFeed(ChangeFeed):
    """Exact changes under folder trees, from one inotify instance (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.exact = True
        self._inotify = inotify.Inotify()
        self._finalizer = weakref.finalize(self, self._inotify.close)
        self._lock = threading.RLock()
        self._watches: dict[int, _Watch] = {}
        self._wd_of: dict[str, int] = {}
        self._roots: dict[str, Optional[int]] = {}  # root -> max depth
        self._pending: set[str] = set()  # roots that do not exist yet
        self._lost = False  # a watch could not be added since the last sync
        self._thread_lock = threading.Lock()
        self._users = 0
        self._thread: Optional[threading.Thread] = None
        self._stop_w: Optional[int] = None

    # -- watching -----------------------------------------------------------------------
    def watch(self, root: Path, max_depth: Optional[int] = None) -> None:
        path = os.path.abspath(root)
        with self._lock:
            if path in self._roots or not self.exact:
                return
            self._roots[path] = max_depth
            self._attach(path)

    def _attach(self, root: str) -> bool:
        """Watch the tree at ``root``, or its nearest existing ancestor until it appears."""
        while True:
            try:
                self._add_tree(root, root, 0)
                self._pending.discard(root)
                return True
            except (FileNotFoundError, NotADirectoryError):
                pass
            self._pending.add(root)
            ancestor = nearest_existing(root)
            try:
                self._add(ancestor, None, 0)
            except (FileNotFoundError, NotADirectoryError):
                continue  # it vanished meanwhile: look again
            except OSError as exc:
                self._give_up(exc)
                return False
            if nearest_existing(root) == ancestor:
                return False  # anything created below it from now on is reported

    def _add(self, path: str, root: Optional[str], depth: int) -> None:
        wd = self._inotify.add_watch(path, inotify.CHANGES)
        known = self._watches.get(wd)
        if known is None or known.root is None:
            self._watches[wd] = _Watch(path, root, depth)
            self._wd_of[path] = wd

    def _add_tree(self, top: str, root: str, depth: int) -> None:
        """Watch ``top`` and the folders below it. Each folder is watched before it is
        listed, so a sub-folder created meanwhile is either listed or reported."""
        max_depth = self._roots[root]
        stack = [(top, depth)]
        while stack and self.exact:
            path, level = stack.pop()
            try:
                self._add(path, root, level)
            except (FileNotFoundError, NotADirectoryError):
                if path == top:
                    raise
                continue  # vanished: its parent reports that
            except OSError as exc:  # e.g. ENOSPC: the watch limit is reached
                self._give_up(exc)
                return
            if max_depth is not None and level >= max_depth:
                continue
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False) and not is_sync_artifact(entry.name):
                            stack.append((entry.path, level + 1))
            except (FileNotFoundError, NotADirectoryError):
                continue

    def _forget_tree(self, top: str) -> None:
        prefix = top + os.sep
        for path in [p for p in self._wd_of if p == top or p.startswith(prefix)]:
            wd = self._wd_of.pop(path)
            self._watches.pop(wd, None)
            self._inotify.rm_watch(wd)

    def _give_up(self, exc: OSError) -> None:
        """Without every watch the feed cannot be exact; readers fall back to checking files."""
        log.warning("file-system events incomplete (%s); falling back to checking files", exc)
        self.exact = False
        self._lost = True

    # -- reading ------------------------------------------------------------------------
    def sync(self) -> None:
        with self._lock:
            if not self._finalizer.alive:
                return
            changed: set[str] = set()
            everything = False
            for event in self._inotify.read():
                if event.mask & inotify.IN_Q_OVERFLOW:
                    everything = True
                else:
                    self._handle(event, changed)
            everything = everything or self._lost
            self._lost = False
            if everything:
                self._publish(None)
            elif changed:
                self._publish(frozenset(changed))

    def _handle(self, event: inotify.Event, changed: set[str]) -> None:
        watch = self._watches.get(event.wd)
        if watch is None:
            return  # a watch already forgotten
        if event.mask & inotify.IN_IGNORED:  # the folder is gone
            self._watches.pop(event.wd, None)
            if self._wd_of.get(watch.path) == event.wd:
                del self._wd_of[watch.path]
            if watch.root == watch.path:
                changed.add(watch.root)
                self._attach(watch.root)
            elif watch.root is None:  # an ancestor of missing roots: watch a higher one
                for root in [r for r in self._pending if r.startswith(watch.path + os.sep)]:
                    if self._attach(root):
                        changed.add(root)
            return
        if event.name and is_sync_artifact(event.name):
            return
        path = os.path.join(watch.path, event.name) if event.name else watch.path
        is_dir = bool(event.mask & inotify.IN_ISDIR)
        if is_dir and event.mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO):
            if watch.root is not None and within_depth(self._roots[watch.root], watch.depth + 1):
                try:
                    self._add_tree(path, watch.root, watch.depth + 1)
                except (FileNotFoundError, NotADirectoryError):
                    pass
            for root in [r for r in self._pending if r == path or r.startswith(path + os.sep)]:
                if self._attach(root):
                    changed.add(root)
        elif is_dir and event.mask & inotify.IN_MOVED_FROM:
            self._forget_tree(path)
        elif event.mask & inotify.IN_MOVE_SELF and watch.root == watch.path:
            self._forget_tree(watch.root)  # the root itself was renamed away
            self._attach(watch.root)
        if watch.root is not None:
            changed.add(path)

    # -- pushing ------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[None]:
        with self._thread_lock:
            self._users += 1
            if self._users == 1:
                stop_r, self._stop_w = os.pipe()
                self._thread = threading.Thread(target=self._pump, args=(stop_r,), name="scq-changes", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._thread_lock:
                self._users -= 1
                if self._users == 0:
                    self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread is None or self._stop_w is None:
            return
        os.write(self._stop_w, b"x")
        self._thread.join()
        os.close(self._stop_w)
        self._thread = self._stop_w = None

    def fileno(self) -> Optional[int]:
        return self._inotify.fileno()

    def _pump(self, stop_r: int) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._inotify.fileno(), stop_r], [], [])
                if stop_r in ready:
                    return
                self.sync()
        finally:
            os.close(stop_r)

    def close(self) -> None:
        with self._thread_lock:
            self._users = 0
            self._stop_thread()
        with self._lock:
            self.exact = False
            self._finalizer()
