"""An exact in-memory index of one queue's jobs, so that listing 10,000 jobs does not
parse 20,000 JSON files every time.

It is derived from the files only and never trusted over them:

- with an exact change feed (inotify), the feed is drained before every answer and only the
  job folders it reports are looked at again, so a change made before a call is seen by it;
- without one, every document is stat-ed on every call and re-read when its identity
  (inode, size, mtime, ctime) changed, or while it is too recent for that identity to prove
  anything (two writes within one timestamp tick can leave the same mtime and size).

Either way a document whose identity did not change is not parsed again.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import UnsafeFolderError
from ..filesystem import read_regular
from ..models import Job, JobRef, JobRequest, JobState
from ..protocol.documents import parse_request, parse_state, submission_folders
from ..protocol.layout import ALL_JOBS, QueueLayout, Scope
from ..watch import ChangeFeed, Changes
from .snapshot import Entry, Snapshot, next_version

# A file modified less than this long before it was read may be rewritten within the same
# timestamp tick without its stat changing (2 s covers even FAT's timestamp resolution).
RACY_NS = 2_000_000_000

Stamp = tuple[int, int, int, int]
# How a job is seen from its parsed documents: (job, request, whether job.json exists,
# state) -> the job, or None to leave it out. The stores define the two views.
View = Callable[[JobRef, Optional[JobRequest], bool, Optional[JobState]], Optional[Job]]


@dataclass(frozen=True)
class _Doc:
    """One parsed document and the identity of the file it was parsed from."""

    stamp: Optional[Stamp]  # None: the file was absent (or unreadable)
    trusted: bool  # old enough that an unchanged stamp proves unchanged content
    value: Any


_ABSENT = _Doc(None, True, None)


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read(path: Path, parse: Callable[[bytes], Any], previous: Optional[_Doc]) -> _Doc:
    """``previous`` if the file provably did not change since, else the file parsed anew."""
    if previous is not None and previous.trusted:
        try:
            stamp: Optional[Stamp] = _stamp(os.stat(path))
        except OSError:
            stamp = None
        if stamp == previous.stamp:
            return previous
    now = time.time_ns()
    try:
        st, raw = read_regular(path)  # a FIFO planted as a document must not block a listing
    except (OSError, UnsafeFolderError):
        return _ABSENT
    trusted = now - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS
    return _Doc(_stamp(st), trusted, parse(raw))


@dataclass
class _Job:
    request: _Doc
    state: _Doc
    entry: Optional[Entry]  # None while the view leaves the job out


class JobIndex:
    """All jobs of one queue (``requester=None``: the owner's view) or one requester's
    jobs in it. Thread-safe; ``snapshot()`` is the one way in."""

    def __init__(
        self,
        layout: QueueLayout,
        view: View,
        requester: Optional[str] = None,
        feed: Optional[ChangeFeed] = None,
        recorded: Optional[threading.Event] = None,
    ) -> None:
        self.layout = layout
        self.requester = requester
        self._view = view
        self._feed = feed
        # Set once a change this index will look at is recorded: a watcher that waits on it
        # and then asks for a snapshot sees that change (a wake straight from the feed could
        # run ahead of this index hearing about it).
        self._recorded = recorded
        self._lock = threading.Lock()
        self._jobs: dict[JobRef, _Job] = {}
        self._version = 0
        self._snapshot = Snapshot(0, ())
        self._touched: set[JobRef] = set()  # entries replaced since the last snapshot
        self._reorder = False  # whether one was added, removed or re-dated since
        self._pending: set[Scope] = set()
        self._pending_lock = threading.Lock()
        self._unsubscribe: Optional[Callable[[], None]] = None  # set once watching

    def snapshot(self) -> Snapshot:
        """Every job the view shows, newest first, as the files are now."""
        with self._lock:
            self._update()
            if self._snapshot.version != self._version:
                if self._reorder:
                    self._snapshot = Snapshot.build(
                        self._version, (job.entry for job in self._jobs.values() if job.entry is not None)
                    )
                else:
                    self._snapshot = self._snapshot.replaced(
                        self._version,
                        (self._jobs[key].entry for key in self._touched),  # type: ignore[misc]
                    )
                self._touched.clear()
                self._reorder = False
            return self._snapshot

    # -- what changed -------------------------------------------------------------------
    def _watched(self) -> list[tuple[Path, Optional[int]]]:
        """Folders whose changes matter, and how deep: code/ only to the owner (arrivals)
        and outputs/ only to the requester (results)."""
        if self.requester is None:
            return [(self.layout.inbox, None), (self.layout.review, 2)]
        return [(self.layout.inbox / self.requester, 1), (self.layout.review / self.requester, None)]

    def _on_change(self, changes: Changes) -> None:
        if changes is None:
            scopes = {ALL_JOBS}
        else:
            scopes = {scope for path in changes if (scope := self._scope(path)) is not None}
        if scopes:
            with self._pending_lock:
                self._pending |= scopes
            if self._recorded is not None:
                self._recorded.set()

    def _scope(self, path: str) -> Optional[Scope]:
        scope = self.layout.locate(path)
        if scope is None or self.requester is None or scope.requester is None:
            return scope
        if scope.requester != self.requester:
            return None  # another requester's folder
        return ALL_JOBS if scope.job is None else scope

    def _update(self) -> None:
        feed = self._feed
        if feed is None or not feed.exact:
            self._rescan()
            return
        if self._unsubscribe is None:  # first use: watch, then read everything once
            self._unsubscribe = feed.subscribe(self._on_change)
            for folder, depth in self._watched():
                feed.watch(folder, depth)
            self._rescan()
            return
        feed.sync()
        with self._pending_lock:
            scopes, self._pending = self._pending, set()
        if ALL_JOBS in scopes or not feed.exact:
            self._rescan()
            return
        for scope in scopes:
            if scope.job is None:
                self._rescan(scope.requester)
            else:
                self._visit(scope.job)

    # -- reading ------------------------------------------------------------------------
    def _rescan(self, requester: Optional[str] = None) -> None:
        """List the submission folders (all, or one requester's) and check each of them."""
        requester = requester or self.requester
        keys = submission_folders(self.layout, requester)
        for key in keys:
            self._refresh(key)
        present = set(keys)
        gone = [k for k in self._jobs if k not in present and (requester is None or k.requester == requester)]
        for key in gone:
            self._drop(key)

    def _visit(self, key: JobRef) -> None:
        if self.layout.job(key).submission.is_dir():
            self._refresh(key)
        elif key in self._jobs:
            self._drop(key)

    def _drop(self, key: JobRef) -> None:
        job = self._jobs.pop(key)
        if job.entry is not None:
            self._version = next_version()
            self._reorder = True

    def _refresh(self, key: JobRef) -> None:
        known = self._jobs.get(key)
        paths = self.layout.job(key)
        request = _read(paths.job_file, parse_request, known.request if known else None)
        state = _read(paths.state_file, partial(parse_state, ref=key), known.state if known else None)
        unchanged = known is not None and _same(request, known.request) and _same(state, known.state)
        if unchanged and request.value is not None:  # (without a request the view looks around)
            known.request, known.state = request, state  # type: ignore[union-attr]  # maybe trusted now
            return
        old = known.entry if known is not None else None
        job = self._view(key, request.value, request.stamp is not None, state.value)
        if (job is None and old is None) or (job is not None and old is not None and old.job == job):
            self._jobs[key] = _Job(request, state, old)  # it looks the same as before
            return
        self._version = next_version()
        entry = Entry(key, self._version, job, self.requester is None) if job is not None else None
        self._jobs[key] = _Job(request, state, entry)
        if entry is not None and old is not None and old.created_at == entry.created_at:
            self._touched.add(key)
        else:
            self._reorder = True


def _same(new: _Doc, old: _Doc) -> bool:
    return new is old or new.value == old.value
