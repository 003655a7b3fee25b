"""The data owner's queue server: accepts submissions, approves (by rule or by hand), runs
approved jobs on worker threads and publishes results back to each requester.

``start()`` runs the queue in a daemon thread and returns at once; approve/reject/cancel
are safe from any thread (they go through the store's lock) and wake the queue.
"""

from __future__ import annotations

import fcntl
import logging
import os
import select
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from .index import JobIndex
from .journal import StartJournal
from .leftovers import stop_job_processes
from .models import Job, JobRequest, JobState, JobStatus, QueueConfig, utcnow
from .runner import CodeRunner, JobRun, SafeCodeRunner
from .scratch import ScratchSlots, Slot
from .snapshot import Snapshot
from .store import (
    ALL_JOBS,
    STARTED,
    CodeFile,
    InvalidTransitionError,
    JobNotFoundError,
    OwnerStore,
    Scope,
    StillArriving,
    SubmissionError,
    format_logs,
)
from .table import JobList
from .syftbox import Workspace, copy_verified
from .watch import ChangeFeed, Changes, open_feed

log = logging.getLogger(__name__)

ApprovalCallback = Callable[[Job], bool]
Listener = Callable[[str], None]

AUTO_APPROVER = "auto-approval"
RECOVERED_REASON = "the server stopped while the job was running; it was not run again"
STOPPED_REASON = "the server was stopped while the job was running"


class ServerAlreadyRunning(RuntimeError):
    """Another live process already serves this queue on this datasite."""


@dataclass
class _Start:
    """A job a worker has started: when, and when its ``running`` state is due to be shown."""

    requester: str
    at: datetime
    show_at: float  # time.monotonic()
    shown: bool = False


class _Waker:
    """A flag the serve thread waits on together with the change feed's descriptor, so that
    it reads file-system events itself."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        finalizer = weakref.finalize(self, _close_all, self._read, self._write)
        finalizer.atexit = False  # a daemon serve thread may still be waiting at exit
        self._lock = threading.Lock()
        self._set = False

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set = True
        try:
            os.write(self._write, b"x")
        except BlockingIOError:
            pass  # already readable

    def clear(self) -> None:
        with self._lock:
            self._set = False
            try:
                os.read(self._read, 64)
            except BlockingIOError:
                pass

    def wait(self, timeout: float, events: Optional[int]) -> bool:
        """Until set, ``events`` is readable, or ``timeout``; whether ``events`` is readable."""
        watched = [self._read] if events is None else [self._read, events]
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError):  # the feed was closed meanwhile (the server is stopping)
            return False
        return events is not None and events in ready


def _close_all(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


class CodeQueueServer:
    """One queue on the owner's datasite. See the README's "Running a queue server"."""

    def __init__(
        self,
        config: Optional[QueueConfig] = None,
        runner: Optional[CodeRunner] = None,
        auto_approval_callback: Optional[ApprovalCallback] = None,
        *,
        workspace: Optional[Workspace] = None,
        email: Optional[str] = None,
        data_dir: Optional[os.PathLike[str] | str] = None,
    ) -> None:
        self.config = config or QueueConfig()
        self.workspace = workspace or Workspace.discover(email=email, data_dir=data_dir)
        self.runner = runner or SafeCodeRunner(timeout=self.config.job_timeout)
        self.auto_approval_callback = auto_approval_callback
        self.store = OwnerStore(self.workspace, self.config.queue_name)
        self._wake = _Waker()
        self._events_fd: Optional[int] = None  # the change feed's, read by the serve thread
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._serve_lock: Optional[Any] = None
        self._feed: Optional[ChangeFeed] = None
        self._index: Optional[JobIndex] = None
        self._serving = ExitStack()  # the change feed's thread and subscription while serving
        self._dirty: set[Scope] = set()  # jobs that file-system events say changed
        self._lock = threading.RLock()
        self._requester_of: dict[str, str] = {}
        self._first_seen: dict[str, float] = {}
        self._settled: dict[str, tuple[str, float]] = {}  # uid -> (requester, finished epoch)
        self._active: dict[str, Optional[JobRun]] = {}  # dispatched jobs; None until a worker starts it
        self._cancel_reasons: dict[str, str] = {}  # running jobs asked to stop, and why
        self._started: dict[str, _Start] = {}  # jobs a worker has started, until they end
        self._sleep_until = 0.0  # when the serve thread wakes at the latest (time.monotonic())
        self._journal = StartJournal.of_queue(self.workspace.private_dir, self.config.queue_name)
        self._listeners: list[Listener] = []
        self._slots = ScratchSlots(self.workspace.private_dir / "runs" / self.config.queue_name)

    @property
    def email(self) -> str:
        return self.workspace.email

    @property
    def queue_name(self) -> str:
        return self.config.queue_name

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> "CodeQueueServer":
        """Serve in a daemon thread; returns at once."""
        if self.is_running:
            return self
        self.store.ensure_queue()
        self._acquire_serve_lock()
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.max_concurrent_jobs, thread_name_prefix="scq-job"
        )
        feed = self._changes()
        self._serving.callback(feed.subscribe(self._on_change))
        for folder, depth in self._watched():
            feed.watch(folder, depth)
        self._events_fd = feed.fileno()
        if self._events_fd is None:  # no descriptor to wait on: the feed pushes from its thread
            self._serving.enter_context(feed.running())
        self._recover()
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
        with self._lock:
            for run in self._active.values():
                if run is not None:
                    run.cancel_event.set()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._serving.close()
        self._journal.close()
        with self._lock:  # release the watches; a later listing or start opens new ones
            if self._feed is not None:
                self._feed.close()
            self._feed = self._index = None
        self._release_serve_lock()

    def __enter__(self) -> "CodeQueueServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _acquire_serve_lock(self) -> None:
        path = self.workspace.private_dir / f"{self.queue_name}.serve.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ServerAlreadyRunning(
                f"queue {self.queue_name!r} of {self.email} is already being served (pid {holder}); "
                "stop that server first"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._serve_lock = fh

    def _release_serve_lock(self) -> None:
        if self._serve_lock is not None:
            fcntl.flock(self._serve_lock, fcntl.LOCK_UN)
            self._serve_lock.close()
            self._serve_lock = None

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
                    self.process_once()
                else:
                    self._process(scopes)
                self._show_running()
            except Exception:  # the queue must outlive any one bad pass
                log.exception("queue pass failed; retrying at the next event")
            with self._lock:  # a start due sooner wakes this thread (see _start)
                due = (start.show_at for start in self._started.values() if not start.shown)
                self._sleep_until = min(next_pass, min(due, default=next_pass))
            if self._wake.wait(max(0.0, self._sleep_until - time.monotonic()), self._events_fd):
                self._changes().sync()  # read here: no hand-off to another thread per event

    # -- file-system events -------------------------------------------------------------
    def _changes(self) -> ChangeFeed:
        with self._lock:
            if self._feed is None:
                self._feed = open_feed()
            return self._feed

    def _watched(self) -> list[tuple[Path, Optional[int]]]:
        """The inbox whole (code arriving matters) and review down to the job folders."""
        layout = self.store.layout
        return [(layout.inbox, None), (layout.review, 2)]

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
        if scope is None or scope.uid is None or not layout.is_review_path(path):
            return scope
        assert scope.requester is not None
        return None if self.store.wrote_last(str(layout.state_file(scope.requester, scope.uid))) else scope

    def _mark(self, scopes: set[Scope]) -> None:
        with self._lock:
            self._dirty |= scopes
        if threading.current_thread() is not self._thread:  # the serve thread looks next anyway
            self._wake.set()

    # -- listeners (the widgets' update pump subscribes here) ---------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _changed(self, uid: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(uid)
            except Exception:
                log.exception("job listener failed")

    # -- one pass over the queue ----------------------------------------------------------
    def process_once(self) -> None:
        """Accept new submissions, honour cancel requests, dispatch approved jobs, clean up."""
        for requester, uid in self.store.submissions():
            self._visit(requester, uid)
        self._cleanup()

    def _process(self, scopes: set[Scope]) -> None:
        """The work of a pass, for the named jobs (or requesters) only."""
        for scope in scopes:
            assert scope.requester is not None
            if scope.uid is None:
                found = self.store.submissions(scope.requester)
            elif self.store.layout.submission(scope.requester, scope.uid).is_dir():
                found = [(scope.requester, scope.uid)]
            else:
                continue  # a review folder without a submission, or one just removed
            for requester, uid in found:
                self._visit(requester, uid)

    def _visit(self, requester: str, uid: str) -> None:
        if uid in self._settled:
            return
        known = self._requester_of.setdefault(uid, requester)
        if known != requester:
            log.warning("uid %s reused by %s (already %s's); ignored", uid, requester, known)
            return
        state = self.store.read_state(requester, uid)
        if state is None:
            self._accept(requester, uid)
            return
        self._advance(requester, uid, state)

    def _advance(self, requester: str, uid: str, state: JobState, request: Optional[JobRequest] = None) -> None:
        if state.status.is_terminal:
            self._settle(requester, uid, state)
            return
        cancel = self.store.read_cancel(requester, uid)
        if cancel is not None:
            try:
                self._cancel(requester, uid, cancel.reason or "cancelled by requester", by=requester)
            except InvalidTransitionError:
                pass  # it finished in the meantime; the next pass settles it
        elif state.status == JobStatus.approved:
            self._dispatch(requester, uid, state, request)

    def _settle(self, requester: str, uid: str, state: JobState) -> None:
        finished = state.updated_at or utcnow()
        self._settled[uid] = (requester, finished.timestamp() if not state.cleaned_up else float("inf"))
        self._first_seen.pop(uid, None)

    def _accept(self, requester: str, uid: str) -> None:
        try:
            request = self.store.read_request(requester, uid)
            self.store.check_code(request)
        except StillArriving as waiting:
            first = self._first_seen.setdefault(uid, time.monotonic())
            if time.monotonic() - first > self.config.arrival_timeout:
                self._refuse(
                    requester, uid,
                    f"submission incomplete after {self.config.arrival_timeout:g} s: {waiting}",
                )
            return
        except SubmissionError as invalid:
            self._refuse(requester, uid, str(invalid))
            return
        job = Job(request=request)
        problems = self.runner.check_code(self.store.layout.code_dir(requester, uid), job)
        if problems:
            self._refuse(requester, uid, "refused by command policy: " + "; ".join(problems))
            return
        auto = self._auto_approves(job)
        state = self.store.create_state(
            requester, uid, JobStatus.pending, by=self.email, reason="submission received",
            manifest=request.manifest_sha256,
            approved_by=AUTO_APPROVER if auto else None,
            approval_reason="approved by the owner's auto-approval rule",
        )
        self._first_seen.pop(uid, None)
        self._changed(uid)
        self._advance(requester, uid, state, request)

    def _refuse(self, requester: str, uid: str, reason: str) -> None:
        log.info("rejected %s from %s: %s", uid, requester, reason)
        state = self.store.create_state(requester, uid, JobStatus.rejected, by=self.email, reason=reason)
        self._settle(requester, uid, state)
        self._changed(uid)

    def _auto_approves(self, job: Job) -> bool:
        if not (self.config.auto_approval_enabled and job.auto_approval):
            return False
        if self.auto_approval_callback is None:
            return True
        try:
            return self.auto_approval_callback(job) is True
        except Exception:
            log.exception("auto-approval callback raised for job %s; left pending", job.uid)
            return False

    # -- running ----------------------------------------------------------------------
    def _dispatch(self, requester: str, uid: str, state: JobState, request: Optional[JobRequest]) -> None:
        """Hand an approved job to a worker; ``request`` when the caller just read it."""
        with self._lock:
            if uid in self._active or self._executor is None or self._stopping.is_set():
                return
            job = Job(request=request, state=state) if request is not None else self.store.load_job(requester, uid)
            if job is None:
                return
            self._active[uid] = None
            self._executor.submit(self._execute, requester, uid, job)

    def _execute(self, requester: str, uid: str, job: Job) -> None:
        """A worker's turn: a scratch slot is taken only now, so queued jobs hold none."""
        slot = self._slots.acquire()
        run = JobRun(
            job=job,
            code_dir=slot.code,
            output_dir=slot.outputs,
            stdout_path=slot.stdout,
            stderr_path=slot.stderr,
            home_dir=slot.home,
            timeout=self.config.job_timeout,
        )
        try:
            with self._lock:
                if self._stopping.is_set():
                    return  # stays approved: the next start runs it
                self._active[uid] = run
            self._run_one(requester, uid, run, slot)
        except Exception as exc:
            log.exception("job %s failed inside the server", uid)
            try:
                self.store.transition(requester, uid, JobStatus.failed, by=self.email, reason=f"internal error: {exc}",
                                      error=f"internal error: {exc}", started_at=self._started_at(uid))
            except InvalidTransitionError:
                pass
        finally:
            self._slots.release(slot)
            with self._lock:
                self._active.pop(uid, None)
                self._started.pop(uid, None)
            self._changed(uid)

    def _start(self, requester: str, uid: str, slot: Slot) -> Optional[JobState]:
        """Claim an approved job for a worker: its start is forced to the journal before it
        runs; the serve thread shows it as ``running`` if it lasts (``running_shown_after``)."""
        with self.store.locked(uid):
            state = self.store.read_state(requester, uid)
            if state is None or state.status != JobStatus.approved:
                return None  # cancelled before a worker was free
            at = utcnow()
            self._journal.record(slot.index, requester, uid, at)
            show_at = time.monotonic() + self.config.running_shown_after
            with self._lock:
                self._started[uid] = _Start(requester, at, show_at)
                sooner = show_at < self._sleep_until
        if sooner:
            self._wake.set()
        return state

    def _show_running(self) -> None:
        """Publish ``running`` for started jobs that have lasted long enough to be seen."""
        now = time.monotonic()
        with self._lock:
            due = [(uid, start) for uid, start in self._started.items() if not start.shown and start.show_at <= now]
            for _, start in due:
                start.shown = True
        for uid, start in due:
            try:
                # not flushed: the journal already holds the start
                self.store.transition(start.requester, uid, JobStatus.running, by=self.email, reason=STARTED,
                                      expect=frozenset({JobStatus.approved}), at=start.at, durable=False)
            except InvalidTransitionError:
                continue  # it ended first
            self._changed(uid)

    def _run_one(self, requester: str, uid: str, run: JobRun, slot: Slot) -> None:
        state = self._start(requester, uid, slot)
        if state is None:
            return
        request = run.job.request
        if request.manifest_sha256 != state.manifest_sha256:
            self._finish(requester, uid, JobStatus.failed, "the submission changed after it was approved")
            return
        try:
            copy_verified(self.store.layout.code_dir(requester, uid), run.code_dir, request.files,
                          slot.take_spares(len(request.files)))
        except (ValueError, OSError) as exc:
            self._finish(requester, uid, JobStatus.failed, f"the approved code could not be read: {exc}")
            return
        result = self.runner.run_job(run)
        published = self.store.publish_results(
            requester, uid, run.stdout_path, run.stderr_path, run.output_dir
        )
        published = published.model_copy(update={"exit_code": result.exit_code, "truncated": result.truncated})
        if run.cancel_event.is_set():
            with self._lock:
                cancel_reason = self._cancel_reasons.pop(uid, None)
            status = JobStatus.cancelled if cancel_reason else JobStatus.failed
            reason = cancel_reason or STOPPED_REASON
        elif result.succeeded:
            status, reason = JobStatus.completed, "exit code 0"
        else:
            status = JobStatus.failed
            reason = result.error or f"run.sh exited with code {result.exit_code}"
        self._finish(requester, uid, status, reason, published)

    def _finish(self, requester: str, uid: str, status: JobStatus, reason: str, result: Any = None) -> None:
        state = self.store.transition(
            requester, uid, status, by=self.email, reason=reason, result=result,
            error=reason if status == JobStatus.failed else None, started_at=self._started_at(uid),
        )
        self._settle(requester, uid, state)

    def _started_at(self, uid: str) -> Optional[datetime]:
        with self._lock:
            start = self._started.get(uid)
        return start.at if start is not None else None

    def _recover(self) -> None:
        """Jobs a server that died had started (``running``, or only in its start journal) are
        settled as failed, never re-run; what they left running is stopped first, and the
        scratch folders are emptied."""
        journal = {(record.requester_email, record.uid): record.at for record in self._journal.entries()}
        for requester, uid in self.store.submissions():
            state = self.store.read_state(requester, uid)
            started_at = journal.get((requester, uid))
            if state is not None and state.status.is_terminal:
                continue
            if started_at is None and (state is None or state.status != JobStatus.running):
                continue
            stopped = stop_job_processes(uid)
            reason = RECOVERED_REASON + (f" ({stopped} leftover processes were stopped)" if stopped else "")
            if state is None:  # its acceptance, never flushed, was lost with the power
                self.store.create_state(requester, uid, JobStatus.failed, by=self.email, reason=reason)
                continue
            try:
                self.store.transition(requester, uid, JobStatus.failed, by=self.email, reason=reason, error=reason,
                                      started_at=started_at)
            except InvalidTransitionError:
                pass
        self._slots.reset()

    def _cleanup(self) -> None:
        keep = self.config.cleanup_completed_after
        if keep is None:
            return
        cutoff = time.time() - keep
        for uid, (requester, finished) in list(self._settled.items()):
            if finished <= cutoff:
                with self.store.locked(uid):
                    state = self.store.read_state(requester, uid)
                    if state is None or state.cleaned_up:
                        continue
                    self.store.remove_bulky(requester, uid)
                    self.store.write_state(state.model_copy(update={"cleaned_up": True}))
                self._settled[uid] = (requester, float("inf"))
                self._changed(uid)

    # -- owner actions (any thread) -----------------------------------------------------
    def _requester(self, uid: str) -> str:
        return self._requester_of.get(uid) or self.store.find_requester(uid)

    def approve_job(self, uid: str, reason: str = "", manifest_sha256: Optional[str] = None) -> Job:
        """Approve a pending job. ``manifest_sha256`` pins what the reviewer looked at."""
        requester = self._requester(uid)
        with self.store.locked(uid):
            state = self.store.read_state(requester, uid)
            if state is None:
                raise InvalidTransitionError(f"job {uid} has not been accepted yet (still arriving)")
            if state.status != JobStatus.pending:
                raise InvalidTransitionError(f"job {uid} is {state.status.value}; only pending jobs can be approved")
            if manifest_sha256 is not None and manifest_sha256 != state.manifest_sha256:
                raise InvalidTransitionError(f"job {uid} is not the code that was reviewed (manifest differs)")
            self.store.transition(requester, uid, JobStatus.approved, by=self.email, reason=reason or "approved")
        self._after_action(uid)
        return self.get_job(uid)

    def reject_job(self, uid: str, reason: str) -> Job:
        """Reject a pending job; the reason is shown to the requester."""
        if not reason or not reason.strip():
            raise ValueError("a reason is required to reject a job")
        requester = self._requester(uid)
        self.store.transition(requester, uid, JobStatus.rejected, by=self.email, reason=reason.strip(),
                              expect=frozenset({JobStatus.pending}))
        self._after_action(uid)
        return self.get_job(uid)

    def cancel_job(self, uid: str, reason: str = "cancelled by the data owner") -> Job:
        self._cancel(self._requester(uid), uid, reason, by=self.email)
        self._after_action(uid)
        return self.get_job(uid)

    def _cancel(self, requester: str, uid: str, reason: str, by: str) -> None:
        """A started job (shown as running or not yet) is stopped by its worker, which records
        the cancellation; a waiting one is cancelled here. The job's lock orders this against
        ``_start``."""
        with self.store.locked(uid):
            state = self.store.read_state(requester, uid)
            if state is None:
                raise InvalidTransitionError(f"job {uid} has not been accepted yet")
            if state.status.is_terminal:
                raise InvalidTransitionError(f"job {uid} is already {state.status.value}")
            with self._lock:
                run = self._active.get(uid) if uid in self._started else None
                if run is not None:
                    self._cancel_reasons[uid] = reason
            if run is not None:
                run.cancel_event.set()
                return
            try:
                state = self.store.transition(requester, uid, JobStatus.cancelled, by=by, reason=reason,
                                              expect=frozenset({JobStatus.pending, JobStatus.approved}))
            except InvalidTransitionError:
                return
        self._settle(requester, uid, state)
        self._changed(uid)

    def _after_action(self, uid: str) -> None:
        self._changed(uid)
        self._mark({Scope(self._requester(uid), uid)})

    # -- reading ----------------------------------------------------------------------
    def get_job(self, uid: str) -> Job:
        job = self.store.load_job(self._requester(uid), uid)
        if job is None:
            raise JobNotFoundError(f"job {uid} has no readable job.json")
        return job

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
        wanted = JobStatus(status) if status is not None else None
        prefix = f"{requester_email}/" if requester_email else ""
        jobs = [
            entry.job for entry in self.snapshot().entries
            if entry.key.startswith(prefix) and (wanted is None or entry.job.status == wanted)
        ]
        return JobList(jobs[:limit] if limit is not None else jobs)

    def get_job_logs(self, uid: str) -> Optional[str]:
        """Published logs, or the live tail of a running job's stdout and stderr."""
        with self._lock:
            run = self._active.get(uid)
        if run is not None and run.stdout_path.exists():
            parts = [p.read_text(errors="replace") for p in (run.stdout_path, run.stderr_path) if p.exists()]
            return "".join(parts)
        job = self.get_job(uid)
        if job.state is None or job.state.result is None or job.state.cleaned_up:
            return None
        return format_logs(self.store.layout.review_dir(job.requester_email, uid), job.state.result)

    def read_submitted_file(self, uid: str, path: str, max_bytes: int = 64 * 1024) -> CodeFile:
        """The start of one submitted file, for review (e.g. the approval panel's browser)."""
        return self.store.read_code_file(self._requester(uid), uid, path, max_bytes)

    def get_job_output(self, uid: str) -> Optional[Path]:
        job = self.get_job(uid)
        if job.state is None or job.state.result is None or job.state.cleaned_up:
            return None
        return self.store.layout.outputs_dir(job.requester_email, uid)

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until nothing is running or queued (handy in scripts and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._active)
            if not busy:
                return
            time.sleep(0.01)
        raise TimeoutError(f"jobs still running after {timeout:g} s")


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
    **config: Any,
) -> CodeQueueServer:
    """Build a server for the configured identity. Auto-approval is on when a callback is
    given (unless ``auto_approval_enabled=False``), and off by default without one."""
    enabled = auto_approval_callback is not None if auto_approval_enabled is None else auto_approval_enabled
    queue_config = QueueConfig(
        queue_name=queue_name,
        max_concurrent_jobs=max_concurrent_jobs,
        job_timeout=job_timeout,
        auto_approval_enabled=enabled,
        **config,
    )
    return CodeQueueServer(
        config=queue_config, runner=runner, auto_approval_callback=auto_approval_callback,
        email=email, data_dir=data_dir,
    )
