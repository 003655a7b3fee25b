"""Where the widgets' jobs come from: one cached source per server or client, shared by
every widget showing it.

A server in this process, or a client (from file-system events on the requester's
folders), tells the source which job changed (``subscribe``), so only that job is re-read.
Both also re-list everything now and then as a safety net (another process, e.g.
``scq approve``, may change a state), at an interval that grows with the cost of a listing;
for a client that re-list also reads whether each owner it sent jobs to (or a form is about
to send one to) is there: their queue's heartbeat. The source never refreshes widgets itself: it asks the UI pump, which
coalesces.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import datetime
from typing import Any, Callable, Optional, Protocol, Union

from ..client import CodeQueueClient
from ..errors import JobNotFoundError
from ..models import Job, QueueStatus, utcnow
from ..server import CodeQueueServer
from .pump import UpdatePump, get_pump

log = logging.getLogger(__name__)

Api = Union[CodeQueueServer, CodeQueueClient]


class JobView(Protocol):
    def source_changed(self, changed: set[str]) -> None: ...


def _rank(job: Job) -> tuple[bool, int, bool]:
    """A job's progress; it only ever grows (the history is append-only), so an older
    listing can never overwrite a newer single-job read."""
    state = job.state
    return (state is not None, len(state.history) if state else 0, bool(state and state.cleaned_up))


class JobSource:
    """The jobs one server or client can see, kept current for the widgets."""

    def __init__(self, api: Any, *, poll_interval: float, listen: bool, pump: Optional[UpdatePump] = None) -> None:
        self.api = api
        self.poll_interval = poll_interval
        self.pump = pump or get_pump()
        self.synced_at: Optional[datetime] = None
        self.last_listing_seconds = 0.0
        self._listen = listen
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._views: list[JobView] = []
        self._dirty: set[str] = set()
        self._listing: Optional[tuple[list[Job], set[str]]] = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._poller: Optional[threading.Thread] = None
        self._unsubscribe: Optional[Callable[[], None]] = None
        self._tracked: dict[str, int] = {}  # owners a view asked about, beyond those of the jobs
        self._presence: dict[str, QueueStatus] = {}

    # -- views --------------------------------------------------------------------------
    def attach(self, view: JobView) -> None:
        with self._lock:
            first = not self._views
            self._views.append(view)
        if first:
            self._start()

    def detach(self, view: JobView) -> None:
        with self._lock:
            if view in self._views:
                self._views.remove(view)
            last = not self._views
        if last:
            self._shutdown()

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def get(self, uid: str) -> Optional[Job]:
        with self._lock:
            return self._jobs.get(uid)

    def presence(self) -> dict[str, QueueStatus]:
        """Each owner's queue status, for the owners of the jobs and those tracked (a client's
        source only; a server is its own owner)."""
        with self._lock:
            return dict(self._presence)

    def track(self, owner: str) -> Optional[QueueStatus]:
        """Follow one more owner's presence (a form's target); returns its status now."""
        if not isinstance(self.api, CodeQueueClient):
            return None
        status = self.api.queue_status(owner)
        with self._lock:
            self._tracked[owner] = self._tracked.get(owner, 0) + 1
            self._presence[owner] = status
        return status

    def untrack(self, owner: str) -> None:
        with self._lock:
            left = self._tracked.get(owner, 0) - 1
            if left > 0:
                self._tracked[owner] = left
            else:
                self._tracked.pop(owner, None)

    def _read_presence(self, jobs: list[Job]) -> None:
        if not isinstance(self.api, CodeQueueClient):
            return
        with self._lock:
            owners = {job.target_email for job in jobs} | set(self._tracked)
        presence = {owner: self.api.queue_status(owner) for owner in sorted(owners)}
        with self._lock:
            self._presence = presence

    def poll_now(self) -> None:
        """Re-list soon (e.g. right after this process submitted a job)."""
        self._wake.set()

    # -- what changed -------------------------------------------------------------------
    def job_changed(self, uid: str) -> None:
        """Listener for ``server.subscribe``: called on the server's threads, returns at once."""
        with self._lock:
            self._dirty.add(uid)
        self.pump.request(self)

    def refresh(self) -> None:
        """Apply what arrived since the last round and tell the views (on the pump thread)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            listing, self._listing = self._listing, None
        changed: set[str] = set()
        if listing is not None:
            changed |= self._apply_listing(*listing)
        for uid in dirty:
            try:
                job: Optional[Job] = self.api.get_job(uid)
            except JobNotFoundError:
                job = None
            with self._lock:
                if job is None:
                    if self._jobs.pop(uid, None) is not None:
                        changed.add(uid)
                elif uid not in self._jobs or _rank(job) >= _rank(self._jobs[uid]):
                    if self._jobs.get(uid) != job:
                        self._jobs[uid] = job
                        changed.add(uid)
        self.synced_at = utcnow()
        with self._lock:
            views = list(self._views)
        for view in views:
            view.source_changed(changed)

    def _apply_listing(self, jobs: list[Job], known_before: set[str]) -> set[str]:
        changed: set[str] = set()
        with self._lock:
            listed = set()
            for job in jobs:
                listed.add(job.uid)
                old = self._jobs.get(job.uid)
                if old is None or _rank(job) > _rank(old):
                    self._jobs[job.uid] = job
                    changed.add(job.uid)
            for uid in known_before - listed:  # gone since (not: added while we listed)
                if self._jobs.pop(uid, None) is not None:
                    changed.add(uid)
        return changed

    # -- threads ------------------------------------------------------------------------
    def _list(self) -> None:
        with self._lock:
            known = set(self._jobs)
        started = time.monotonic()
        jobs = list(self.api.list_jobs())
        self._read_presence(jobs)
        self.last_listing_seconds = time.monotonic() - started
        with self._lock:
            self._listing = (jobs, known)

    def _start(self) -> None:
        self._stop.clear()
        self._list()
        self.refresh()
        if self._listen:
            self._unsubscribe = self.api.subscribe(self.job_changed)
        self._poller = threading.Thread(target=self._poll, name="scq-ui-poller", daemon=True)
        self._poller.start()

    def _shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.pump.discard(self)
        _forget(self)

    def _poll(self) -> None:
        while not self._stop.is_set():
            # Never spend more than a tenth of the time listing, however many jobs.
            self._wake.wait(max(self.poll_interval, 10 * self.last_listing_seconds))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._list()
            except Exception:
                log.exception("listing jobs for the widgets failed; retrying")
                continue
            self.pump.request(self)


_sources: "weakref.WeakKeyDictionary[Any, JobSource]" = weakref.WeakKeyDictionary()
_sources_lock = threading.Lock()

# Events do the live work on both sides; a re-list catches what no event reported (another
# process's writes on the owner's side; owners' presence on the requester's).
SERVER_RESYNC_SECONDS = 5.0
CLIENT_RESYNC_SECONDS = 5.0


def source_for(api: Union[Api, JobSource]) -> JobSource:
    """The shared source of a server or client (a ``JobSource`` is used as it is)."""
    if isinstance(api, JobSource):
        return api
    with _sources_lock:
        source = _sources.get(api)
        if source is None or source._stop.is_set():
            if isinstance(api, CodeQueueServer):
                source = JobSource(api, poll_interval=SERVER_RESYNC_SECONDS, listen=True)
            elif isinstance(api, CodeQueueClient):
                source = JobSource(api, poll_interval=CLIENT_RESYNC_SECONDS, listen=True)
            else:
                raise TypeError(f"expected a CodeQueueServer or CodeQueueClient, got {type(api).__name__}")
            _sources[api] = source
        return source


def existing_source(api: Any) -> Optional[JobSource]:
    with _sources_lock:
        return _sources.get(api)


def _forget(source: JobSource) -> None:
    with _sources_lock:
        if _sources.get(source.api) is source:
            del _sources[source.api]
