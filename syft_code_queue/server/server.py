"""The data owner's queue server: the serve loop, the owner's actions and reads.

``start()`` serves in a daemon thread and returns at once. The serve thread handles the
jobs that file-system events name (a full pass every ``rescan_interval`` is the safety net):
``Intake`` gives what arrived a first state, ``Workers`` run what is approved, the
``ReleaseDesk`` holds and releases results, ``Settled`` cleans up what finished, ``recover``
settles what a dead server had started. Approve, reject, request changes, cancel, release
and withhold are safe from any thread (they go through the store's job lock, and
``lifecycle`` decides what is allowed) and wake the serve thread. Diffs, trust rules, the
audit log and notifications live in ``Oversight``; the server delegates.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

from .. import lifecycle
from ..datasets import DatasetRegistry
from ..errors import InvalidTransitionError, JobNotFoundError, StillArriving
from ..governance.notify import Listener
from ..governance.trust import Trust
from ..listing.index import JobIndex
from ..listing.query import JobQuery, Rows
from ..listing.snapshot import Snapshot
from ..listing.table import JobList
from ..models import Job, JobRef, JobRequest, JobState, JobStatus, QueueConfig
from ..protocol.documents import format_logs
from ..protocol.layout import ALL_JOBS, Scope
from ..protocol.owner import CodeFile, OwnerStore
from ..release import OutputPolicy, ReleaseCallback, ReleaseDesk
from ..runner import CodeRunner, SafeCodeRunner
from ..runtimes.owner import Runtimes
from ..syftbox import Workspace
from ..watch import ChangeFeed, Changes, open_feed
from .actions import ReleaseActions, ReviewActions
from .cleanup import Settled
from .datasets import DatasetActions
from .heartbeat import Pulse
from .intake import ApprovalCallback, Intake
from .oversight import Oversight
from .quarantine import Quarantine
from .recovery import recover
from .runtime_actions import RuntimeActions
from .serve_lock import ServeLock
from .wakeup import Waker
from .workers import Workers

log = logging.getLogger(__name__)


class CodeQueueServer(DatasetActions, ReleaseActions, ReviewActions, RuntimeActions):
    """One queue on the owner's datasite. See the README's "Running a queue server"; the
    owner's actions beyond the core ones are the mixins' (server/actions.py, datasets.py,
    runtime_actions.py)."""

    def __init__(
        self,
        config: Optional[QueueConfig] = None,
        runner: Optional[CodeRunner] = None,
        auto_approval_callback: Optional[ApprovalCallback] = None,
        *,
        workspace: Optional[Workspace] = None,
        email: Optional[str] = None,
        data_dir: Optional[os.PathLike[str] | str] = None,
        output_policy: Optional[OutputPolicy] = None,
        auto_release_callback: Optional[ReleaseCallback] = None,
    ) -> None:
        self.config = config or QueueConfig()
        self.workspace = workspace or Workspace.discover(email=email, data_dir=data_dir)
        self.runner = runner or SafeCodeRunner(timeout=self.config.job_timeout)
        self.store = OwnerStore(self.workspace, self.config.queue_name)
        self.datasets = DatasetRegistry(self.workspace, self.config.max_mock_size)
        self._settled = Settled()
        self._listed = Rows(by_acceptance=True)  # list_jobs's flattened jobs, kept between calls
        self._oversight = Oversight(self.store, self.queue_name)
        self._changed = self._oversight.notifier.changed  # tells the listeners a job changed
        self.runtimes = Runtimes(self.store, self.config)
        self._intake = Intake(
            self.store,
            self.config,
            self.runner,
            auto_approval_callback,
            self.runtimes,
            self.datasets,
            self._oversight.trust,
            resolved=lambda ref: self._mark({Scope.of(ref)}),
        )
        self._desk = desk = ReleaseDesk(self.store, self.config, self._settled, output_policy, auto_release_callback)
        self._workers = Workers(
            self.store,
            self.config,
            self.runner,
            self._settled,
            self._changed,
            self._due,
            desk,
            self.runtimes,
            self.datasets,
        )
        self._pulse = Pulse(self.store.layout, self.config.heartbeat_interval)
        self._quarantine = Quarantine(self._intake, self._changed)  # jobs whose handling raised
        self._wake = Waker()
        self._events_fd: Optional[int] = None  # the change feed's, read by the serve thread
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._serve_lock = ServeLock(self.store.private.serve_lock, f"queue {self.queue_name!r} of {self.email}")
        self._feed: Optional[ChangeFeed] = None
        self._index: Optional[JobIndex] = None
        self._serving = ExitStack()  # the change feed's thread and subscription while serving
        self._lock = threading.RLock()  # the fields above and below, across threads
        self._dirty: set[Scope] = set()  # jobs that file-system events say changed
        self._sleep_until = 0.0  # when the serve thread wakes at the latest (time.monotonic())

    @property
    def email(self) -> str:
        return self.workspace.email

    @property
    def queue_name(self) -> str:
        return self.config.queue_name

    @property
    def auto_approval_callback(self) -> Optional[ApprovalCallback]:
        return self._intake.auto_approval_callback

    @auto_approval_callback.setter
    def auto_approval_callback(self, callback: Optional[ApprovalCallback]) -> None:
        self._intake.auto_approval_callback = callback

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- start and stop -----------------------------------------------------------------
    def start(self) -> "CodeQueueServer":
        """Serve in a daemon thread; returns at once."""
        if self.is_running:
            return self
        self.store.ensure_queue()
        self._serve_lock.acquire()
        self.runtimes.publish()
        self._stopping.clear()
        self._workers.open()
        feed = self._changes()
        self._serving.callback(feed.subscribe(self._on_change))
        layout = self.store.layout
        feed.watch(layout.inbox)  # the inbox whole: code arriving matters
        feed.watch(layout.review, 2)  # review down to the job folders
        self._events_fd = feed.fileno()
        if self._events_fd is None:  # no descriptor to wait on: the feed pushes from its thread
            self._serving.enter_context(feed.running())
        recover(self.store, self._workers.journal, self._workers.slots, by=self.email)
        self._pulse.start()
        self._thread = threading.Thread(target=self._serve, name=f"scq-server-{self.queue_name}", daemon=True)
        self._thread.start()
        log.info("serving queue %r of %s with %s", self.queue_name, self.email, self.runner.describe())
        for warning in self.runner.warnings():
            log.warning("queue %r: %s", self.queue_name, warning)
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop taking work, kill running jobs (recorded as failed), and release the queue."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
            self._pulse.stop()
        self._workers.close()
        self._serving.close()
        with self._lock:  # release the watches; a later listing or start opens new ones
            if self._feed is not None:
                self._feed.close()
            self._feed = self._index = None
        self._serve_lock.release()

    def __enter__(self) -> "CodeQueueServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the serve loop -------------------------------------------------------------------
    def _serve(self) -> None:
        """Handle only the jobs that events name; a full pass runs every ``rescan_interval``
        as the safety net (and for the time limits), or when an event names everything."""
        next_pass = 0.0
        while not self._stopping.is_set():
            self._wake.clear()
            with self._lock:
                scopes, self._dirty = self._dirty, set()
            try:
                if ALL_JOBS in scopes or time.monotonic() >= next_pass:
                    next_pass = time.monotonic() + self.config.rescan_interval
                    self._process(scopes - {ALL_JOBS})  # what events named is looked at in full
                    self.process_once(ALL_JOBS in scopes or not self._changes().exact)
                else:
                    self._process(scopes)
                self._workers.show_running()
                self._pulse.beat_if_due()
            except Exception:  # the queue must outlive any one bad pass
                log.exception("queue pass failed; retrying at the next event")
            started = self._workers.next_due()
            due = min(next_pass if started is None else started, self._pulse.due())
            with self._lock:  # a start due sooner wakes this thread (see _due)
                self._sleep_until = min(next_pass, due)
            if self._wake.wait(max(0.0, self._sleep_until - time.monotonic()), self._events_fd):
                self._changes().sync()  # read here: no hand-off to another thread per event

    def _due(self, show_at: float) -> None:
        with self._lock:
            sooner = show_at < self._sleep_until
        if sooner:
            self._wake.set()

    def _changes(self) -> ChangeFeed:
        with self._lock:
            if self._feed is None:
                self._feed = open_feed()
            return self._feed

    def _on_change(self, changes: Changes) -> None:
        if changes is None:
            scopes = {ALL_JOBS}
        else:
            scopes = {scope for path in changes if (scope := self._news(path)) is not None}
        if scopes:
            self._mark(scopes)

    def _news(self, path: str) -> Optional[Scope]:
        """The jobs a change at ``path`` may concern; None when it tells nothing new: our own
        published results, and a review folder whose ``state.json`` is the version we wrote."""
        layout = self.store.layout
        if layout.is_published_result(path):
            return None
        scope = layout.locate(path)
        if scope is None or scope.job is None or not layout.is_review_path(path):
            return scope
        return None if self.store.wrote_last(str(layout.job(scope.job).state_file)) else scope

    def _mark(self, scopes: set[Scope]) -> None:
        with self._lock:
            self._dirty |= scopes
        if threading.current_thread() is not self._thread:  # the serve thread looks next anyway
            self._wake.set()

    def process_once(self, thorough: bool = True) -> None:
        """Accept new submissions, honour cancel requests, dispatch approved jobs, clean up.
        Not ``thorough`` (an exact feed named every change): a submission still arriving is
        looked at again only when its arrival time is up."""
        for ref in self.store.submissions():
            if thorough or not self._intake.waiting(ref):
                self._visit(ref)
        self._settled.clean_up(self.store, self.config.cleanup_completed_after, self._changed)

    def _process(self, scopes: set[Scope]) -> None:
        """The work of a pass, for the named jobs (or requesters) only."""
        for scope in scopes:
            assert scope.requester is not None
            if scope.job is None:
                found = self.store.submissions(scope.requester)
            elif self.store.layout.job(scope.job).submission.is_dir():
                found = [scope.job]
            else:
                continue  # a review folder without a submission, or one just removed
            for ref in found:
                self._visit(ref)

    def _visit(self, ref: JobRef) -> None:
        """One job's turn; whatever goes wrong fails that job only, never the pass."""
        if ref not in self._settled:
            self._quarantine.handle(ref, self._handle)

    def _handle(self, ref: JobRef) -> None:
        state = self.store.read_state(ref)
        request: Optional[JobRequest] = None
        if state is None:
            try:
                state, request = self._intake.accept(ref)
            except StillArriving:
                return
            self._changed(ref)
        self._advance(ref, state, request)

    def _advance(self, ref: JobRef, state: JobState, request: Optional[JobRequest]) -> None:
        self._oversight.seen(state)  # another owner process may have changed it
        if state.status.is_terminal:
            self._settled.add(ref, state)
            return
        if state.status == JobStatus.awaiting_release:
            return self._desk.resume(ref)  # a release whose process died is completed or undone
        cancel = self.store.read_cancel(ref)
        if cancel is not None:
            try:
                self._cancel(ref, cancel.reason or "cancelled by requester", by=ref.requester)
            except InvalidTransitionError:
                pass  # it ended meanwhile; the next visit settles it
        elif state.status == JobStatus.approved:
            self._workers.dispatch(ref, state, request)

    # -- listeners (the widgets' update pump subscribes here) ---------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(uid)`` whenever a job of this queue changes; returns an unsubscribe."""
        return self._oversight.notifier.subscribe(listener)

    # -- owner actions (any thread) -----------------------------------------------------
    def _ref(self, key: str) -> JobRef:
        """``REQUESTER/UID``, or a bare uid (see ``OwnerStore.find``)."""
        return self.store.find(key)

    def approve_job(
        self, uid: str, reason: str = "", manifest_sha256: Optional[str] = None, trust: Trust = False
    ) -> Job:
        """Approve a pending job. ``manifest_sha256`` pins what the reviewer looked at; ``trust`` (True,
        or a ``TrustRule`` of terms) stores a rule by which later submissions of this code approve themselves."""
        ref = self._ref(uid)
        approve = partial(lifecycle.approve, by=self.email, reason=reason, manifest_sha256=manifest_sha256)
        self._oversight.approve(ref, approve, trust)
        return self._after_action(ref)

    def reject_job(self, uid: str, reason: str) -> Job:
        """Reject a pending job; the reason is shown to the requester."""
        if not reason or not reason.strip():
            raise ValueError("a reason is required to reject a job")
        state = self.store.update(ref := self._ref(uid), partial(lifecycle.reject, by=self.email, reason=reason))
        self._settled.add(ref, state)
        return self._after_action(ref)

    def cancel_job(self, uid: str, reason: str = "cancelled by the data owner") -> Job:
        self._cancel(ref := self._ref(uid), reason, by=self.email)
        return self._after_action(ref)

    def _cancel(self, ref: JobRef, reason: str, by: str) -> None:
        """A started job (shown as running or not yet) is stopped by its worker, which records
        the cancellation; a waiting one is cancelled here. The job's lock orders this against
        a worker claiming or finishing it."""
        with self.store.locked(ref):
            if self._workers.stop(ref, reason):
                return
            state = self.store.update(ref, partial(lifecycle.cancel, by=by, reason=reason))
        self._settled.add(ref, state)
        self._changed(ref)

    def _after_action(self, ref: JobRef) -> Job:
        self._changed(ref)
        self._mark({Scope.of(ref)})
        return self._load(ref)

    # -- reading ----------------------------------------------------------------------
    def _load(self, ref: JobRef) -> Job:
        job = self.store.load_job(ref)
        if job is None:
            raise JobNotFoundError(f"job {ref.uid} has no readable job.json")
        return job

    def get_job(self, uid: str) -> Job:
        return self._load(self._ref(uid))

    def snapshot(self) -> Snapshot:
        """Every job of this queue as the files are now, newest first, versioned: cheap to
        call often (only what changed since the last call is read again)."""
        with self._lock:
            if self._index is None:
                self._index = JobIndex(self.store.layout, self.store.job_view, feed=self._changes())
            index = self._index
        return index.snapshot()

    def list_jobs(
        self, status: Optional[JobStatus] = None, limit: Optional[int] = None, requester_email: Optional[str] = None
    ) -> JobList:
        """Jobs in this queue, newest first; filters apply before the limit."""
        query = JobQuery(
            statuses=(JobStatus(status),) if status is not None else (),
            requester=requester_email or "",
            limit=limit,
        )
        return JobList(self.snapshot().page(query, self._listed).jobs)

    def get_job_logs(self, uid: str) -> Optional[str]:
        """Published logs, or the live tail of a running job's (held ones: ``get_held_outputs``)."""
        ref = self._ref(uid)
        live = self._workers.live_logs(ref)
        if live is not None:
            return live
        state = self._load(ref).state
        return format_logs(self.store.layout.job(ref).review, state.result) if state and state.published else None

    def read_submitted_file(self, uid: str, path: str, max_bytes: int = 64 * 1024) -> CodeFile:
        """The start of one submitted file, for review (e.g. the approval panel's browser); audited."""
        return self._oversight.read_file(self._ref(uid), path, max_bytes)

    def get_job_output(self, uid: str) -> Optional[Path]:
        state = self._load(ref := self._ref(uid)).state
        return self.store.layout.job(ref).outputs_dir if state and state.published else None

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until nothing is running or queued (handy in scripts and tests)."""
        self._workers.wait_idle(timeout)


def create_server(
    auto_approval_callback: Optional[ApprovalCallback] = None,
    max_concurrent_jobs: int = 3,
    job_timeout: float = 600,
    queue_name: str = "code-queue",
    auto_approval_enabled: Optional[bool] = None,
    *,
    runner: Optional[CodeRunner] = None,
    email: Optional[str] = None,
    data_dir: Optional[os.PathLike[str] | str] = None,
    output_policy: Optional[OutputPolicy] = None,
    auto_release_callback: Optional[ReleaseCallback] = None,
    **config: Any,
) -> CodeQueueServer:
    """Build a server for the configured identity. Auto-approval is on when a callback is
    given (unless ``auto_approval_enabled=False``), and off by default without one. Other
    ``QueueConfig`` fields (``release_policy``, ...) pass through as keywords."""
    enabled = auto_approval_callback is not None if auto_approval_enabled is None else auto_approval_enabled
    queue_config = QueueConfig(
        queue_name=queue_name,
        max_concurrent_jobs=max_concurrent_jobs,
        job_timeout=job_timeout,
        auto_approval_enabled=enabled,
        **config,
    )
    return CodeQueueServer(
        config=queue_config,
        runner=runner,
        auto_approval_callback=auto_approval_callback,
        email=email,
        data_dir=data_dir,
        output_policy=output_policy,
        auto_release_callback=auto_release_callback,
    )
