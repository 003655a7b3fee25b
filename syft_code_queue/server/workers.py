"""Workers: run approved jobs, at most ``max_concurrent_jobs`` at once.

A dispatched job waits for a worker; the worker takes a scratch slot, claims the job under
its lock (its start forced to the start journal first, so it is never run twice), hands the
runner exactly the approved bytes (the accepted copy itself to a runner that reads it in
place, a verified copy in the slot to any other), finds the approved datasets (still the
registrations approved, or the job fails saying which is not), runs it, publishes the results and records the end;
or, when the owner releases them (``release/``), holds them privately and records
``awaiting_release``. A job is
shown ``running`` only if it lasts ``running_shown_after`` (the serve thread publishes that
step through ``show_running``); a short one goes from ``approved`` straight to its end, its
history still recording when it started.

Its three per-job dicts are touched by the serve thread (dispatch, show running), by the
workers (run, finish) and by owner actions (stop a started job), always under ``_lock``:
- ``_active``: dispatched jobs, with their run once a worker holds them;
- ``_started``: jobs a worker has claimed, until their end is recorded;
- ``_cancel_reasons``: started jobs asked to stop, and why;
- ``_claimed``: jobs a worker of this process claimed, until their end is on disk: never
  dispatched again, even while the state still says ``approved`` (a full disk).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Callable, Optional

from .. import lifecycle
from ..datasets import DatasetRegistry
from ..errors import DatasetError, EnvironmentBuildError, InvalidTransitionError, ToolMissing
from ..models import Job, JobRef, JobRequest, JobResult, JobState, JobStatus, QueueConfig, RuntimeRecord, utcnow
from ..protocol.manifest import compare_to_manifest, copy_verified
from ..protocol.owner import OwnerStore
from ..release import ReleaseDesk
from ..runner import CodeRunner, JobRun, RunResult
from ..runtimes.owner import Runtimes
from .cleanup import Settled
from .journal import StartJournal
from .scratch import ScratchSlots, Slot

log = logging.getLogger(__name__)

STOPPED_REASON = "the server was stopped while the job was running"
RECORD_RETRY_FIRST, RECORD_RETRY_MAX = 0.05, 5.0  # seconds between tries to record a job's end

Outcome = tuple[JobStatus, str, Optional[JobResult]]  # how a run ended, to be recorded


@dataclass
class _Start:
    """A job a worker has started: when, and when its ``running`` state is due to be shown."""

    at: datetime
    show_at: float  # time.monotonic()
    shown: bool = False


class Workers:
    def __init__(
        self,
        store: OwnerStore,
        config: QueueConfig,
        runner: CodeRunner,
        settled: Settled,
        changed: Callable[[JobRef], None],
        due: Callable[[float], None],
        releases: ReleaseDesk,
        runtimes: Runtimes,
        datasets: DatasetRegistry,
    ) -> None:
        """``changed``: tell listeners a job changed; ``due``: a job is due to be shown
        running at that monotonic time (the serve thread must wake by then); ``releases``:
        where a run's results wait when the owner releases them; ``runtimes`` builds and
        holds each job's environment; ``datasets``: where the approved datasets' private
        folders are."""
        self.store = store
        self.releases = releases
        self.runtimes = runtimes
        self.datasets = datasets
        self.config = config
        self.runner = runner
        self.settled = settled
        self._changed = changed
        self._due = due
        self._journal = StartJournal(store.private.start_journal)
        self._slots = ScratchSlots(store.private.scratch)
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        self._stopping = threading.Event()
        self._active: dict[JobRef, Optional[JobRun]] = {}
        self._started: dict[JobRef, _Start] = {}
        self._cancel_reasons: dict[JobRef, str] = {}
        self._claimed: set[JobRef] = set()  # claimed by this process, until their end is recorded

    @property
    def owner(self) -> str:
        return self.store.workspace.email

    @property
    def journal(self) -> StartJournal:
        return self._journal

    @property
    def slots(self) -> ScratchSlots:
        return self._slots

    # -- lifetime ---------------------------------------------------------------------
    def open(self) -> None:
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(max_workers=self.config.max_concurrent_jobs, thread_name_prefix="scq-job")

    def close(self) -> None:
        """Stop every running job (recorded as failed) and wait for the workers."""
        self._stopping.set()
        with self._lock:
            runs = [run for run in self._active.values() if run is not None]
        for run in runs:
            run.cancel_event.set()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._journal.close()

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._active)

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.busy:
                return
            time.sleep(0.01)
        raise TimeoutError(f"jobs still running after {timeout:g} s")

    # -- dispatch ---------------------------------------------------------------------
    def dispatch(self, ref: JobRef, state: JobState, request: Optional[JobRequest]) -> None:
        """Hand an approved job to a worker; ``request`` when the caller just read it."""
        with self._lock:
            if ref in self._active or ref in self._claimed or self._executor is None or self._stopping.is_set():
                return
            job = Job(request=request, state=state) if request is not None else self.store.load_job(ref)
            if job is None:
                return
            self._active[ref] = None
            self._executor.submit(self._execute, ref, job)

    def _execute(self, ref: JobRef, job: Job) -> None:
        """A worker's turn: a scratch slot is taken only now, so queued jobs hold none, and
        given back before the outcome is recorded (on a full disk, what the job wrote there
        is what the final state needs room for)."""
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
        outcome: Optional[Outcome] = None
        try:
            with self._lock:
                if self._stopping.is_set():
                    return  # stays approved: the next start runs it
                self._active[ref] = run
            outcome = self._run(ref, run, slot)
        except OSError as exc:
            log.exception("job %s failed inside the server", ref)
            outcome = (JobStatus.failed, _disk_full(exc) or f"internal error: {exc}", None)
        except Exception as exc:
            log.exception("job %s failed inside the server", ref)
            outcome = (JobStatus.failed, f"internal error: {exc}", None)
        finally:
            self._slots.release(slot)
            try:
                if outcome is not None:
                    self._record(ref, outcome)
            finally:
                with self._lock:
                    self._active.pop(ref, None)
                    self._started.pop(ref, None)
                self._changed(ref)

    def _claim(self, ref: JobRef, slot: Slot) -> Optional[JobState]:
        """Claim an approved job for a worker: its start is forced to the journal before it
        runs; the serve thread shows it as ``running`` if it lasts. A job this process has
        claimed is never dispatched again, whatever its recorded state says."""
        with self.store.locked(ref):
            state = self.store.read_state(ref)
            if state is None or state.status != JobStatus.approved:
                return None  # cancelled before a worker was free
            at = utcnow()
            self._journal.record(slot.index, ref.requester, ref.uid, at)
            show_at = time.monotonic() + self.config.running_shown_after
            with self._lock:
                self._started[ref] = _Start(at, show_at)
                self._claimed.add(ref)
        self._due(show_at)
        return state

    def _run(self, ref: JobRef, run: JobRun, slot: Slot) -> Optional[Outcome]:
        """Run a claimed job; its outcome, or None when it was not claimed or its results
        were held (recorded then)."""
        state = self._claim(ref, slot)
        if state is None:
            return None
        request = run.job.request
        if request.manifest_sha256 != state.manifest_sha256:
            return JobStatus.failed, "the submission changed after it was approved", None
        if [pin.name for pin in state.datasets] != request.datasets:
            return JobStatus.failed, "the datasets the job names are not the ones approved", None
        try:  # exactly the datasets approved, still the registrations approved
            run.data = self.datasets.resolve(state.datasets)
        except DatasetError as gone:
            return JobStatus.failed, str(gone), None
        problem = self._prepare_code(ref, run, slot)
        if problem is not None:
            return JobStatus.failed, f"the approved code could not be read: {problem}", None
        with ExitStack() as environment:
            try:  # built outside the sandbox (the only step with network), held while it runs
                run.python = environment.enter_context(self.runtimes.environment(state.runtime))
            except (EnvironmentBuildError, ToolMissing) as exc:
                return JobStatus.failed, str(exc), None
            result = self.runner.run_job(run)
        runtime = self.runtimes.record(state.runtime)
        held = self.releases.needed(run.job)
        if held and not run.cancel_event.is_set():
            self._hold(ref, run, result, runtime)
            return None
        published = JobResult()  # stopped before its end, a held job releases nothing it left
        if not held:
            try:
                published = self.store.publish_results(
                    ref, run.stdout_path, run.stderr_path, run.output_dir, self.config.max_output_files
                )
            except OSError as exc:  # a full disk, say: nothing half-published stays
                self.store.withdraw_results(ref)
                reason = f"the results could not be published ({exc.strerror or exc}); none were returned"
                return JobStatus.failed, reason, None
        published = published.model_copy(
            update={"exit_code": result.exit_code, "truncated": result.truncated, "runtime": runtime}
        )
        return (*self._ending(ref, run, result), published)

    def _prepare_code(self, ref: JobRef, run: JobRun, slot: Slot) -> Optional[str]:
        """Point the run at exactly the approved bytes, or say why it cannot be. A runner that
        reads its code in place gets the owner's accepted copy itself, checked against the
        manifest (no byte copied); any other runner, and a job accepted before copies were
        kept (its code is the requester's inbox), gets a verified copy in the slot."""
        files = run.job.request.files
        accepted = self.store.accepted.code_dir(ref)
        try:
            if accepted is not None and self.runner.reads_code_in_place:
                pending, broken = compare_to_manifest(accepted, files)
                if pending or broken:
                    return f"{(broken or pending)[0]} is not the approved file"
                run.code_dir = accepted
            else:
                code = accepted or self.store.layout.job(ref).code_dir
                copy_verified(code, run.code_dir, files, slot.take_spares(len(files)))
        except (ValueError, OSError) as exc:
            return str(exc)
        return None

    def _ending(self, ref: JobRef, run: JobRun, result: RunResult) -> tuple[JobStatus, str]:
        """How a run ended: its status, and why."""
        if run.cancel_event.is_set():
            with self._lock:
                cancel_reason = self._cancel_reasons.pop(ref, None)
            return (JobStatus.cancelled if cancel_reason else JobStatus.failed), cancel_reason or STOPPED_REASON
        if result.succeeded:
            return JobStatus.completed, "exit code 0"
        return JobStatus.failed, result.error or f"run.sh exited with code {result.exit_code}"

    def _hold(self, ref: JobRef, run: JobRun, result: RunResult, runtime: Optional[RuntimeRecord]) -> None:
        """End a run whose results wait for the owner's release (``release/``), then let the
        owner's rules release them at once if they say so."""
        ending = self._ending(ref, run, result)
        shown = JobResult(exit_code=result.exit_code, truncated=result.truncated, runtime=runtime)
        with self.store.locked(ref):
            with self._lock:
                start = self._started.get(ref)
            logs_and_outputs = (run.stdout_path, run.stderr_path, run.output_dir)
            self.releases.hold(ref, logs_and_outputs, ending, shown, start.at if start else None)
            with self._lock:
                self._started.pop(ref, None)
                self._claimed.discard(ref)
        self.releases.decide(ref)

    def _record(self, ref: JobRef, outcome: Outcome) -> None:
        """Record a run's end, retrying with backoff until it is on disk (a full disk may
        free up); given up only when the server stops, and then the start journal makes the
        next start record it as failed."""
        delay = RECORD_RETRY_FIRST
        while True:
            try:
                self._finish(ref, *outcome)
                return
            except InvalidTransitionError:
                return  # it had already ended
            except OSError as exc:
                if self._stopping.is_set():
                    log.error("the end of job %s could not be recorded (%s); the next start records it", ref, exc)
                    return
                log.warning("the end of job %s could not be recorded (%s); retrying in %.1f s", ref, exc, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX)

    def _finish(self, ref: JobRef, status: JobStatus, reason: str, result: Optional[JobResult] = None) -> None:
        """Record a run's end; from then on the job is no longer started, so a cancel after
        this (under the same lock) sees it finished."""
        with self.store.locked(ref):
            with self._lock:
                start = self._started.get(ref)
            state = self.store.update(
                ref,
                partial(
                    lifecycle.finish,
                    status=status,
                    by=self.owner,
                    reason=reason,
                    result=result,
                    started_at=start.at if start else None,
                ),
            )
            with self._lock:
                self._started.pop(ref, None)
                self._claimed.discard(ref)
        self.settled.add(ref, state)

    # -- showing running --------------------------------------------------------------
    def next_due(self) -> Optional[float]:
        """When the next started job is due to be shown running (monotonic), if any."""
        with self._lock:
            return min((start.show_at for start in self._started.values() if not start.shown), default=None)

    def show_running(self) -> None:
        """Publish ``running`` for started jobs that have lasted long enough to be seen."""
        now = time.monotonic()
        with self._lock:
            due = [(ref, start) for ref, start in self._started.items() if not start.shown and start.show_at <= now]
            for _, start in due:
                start.shown = True
        for ref, start in due:
            try:
                # not flushed: the journal already holds the start
                self.store.update(ref, partial(lifecycle.start, by=self.owner, at=start.at), durable=False)
            except InvalidTransitionError:
                continue  # it ended first
            self._changed(ref)

    # -- owner actions and reads --------------------------------------------------------
    def stop(self, ref: JobRef, reason: str) -> bool:
        """Ask a started job's worker to stop it and record the cancellation; False when no
        worker has started the job. Call under the job's lock, which orders it against
        ``_claim`` and ``_finish``."""
        with self._lock:
            run = self._active.get(ref) if ref in self._started else None
            if run is None:
                return False
            self._cancel_reasons[ref] = reason
        run.cancel_event.set()
        return True

    def live_logs(self, ref: JobRef) -> Optional[str]:
        """A running job's stdout and stderr so far; None when no worker runs it."""
        with self._lock:
            run = self._active.get(ref)
        if run is None or not run.stdout_path.exists():
            return None
        return "".join(p.read_text(errors="replace") for p in (run.stdout_path, run.stderr_path) if p.exists())


def _disk_full(exc: OSError) -> Optional[str]:
    """The requester's reason when ``exc`` is the owner's disk (or quota) being full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the owner's disk is full ({exc.strerror}); no results were returned"
    return None
