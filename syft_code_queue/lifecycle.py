"""The job state machine: which status may follow which, and one pure function per step.

Each function takes the current frozen ``JobState`` (or, for a first state, the job's
``JobRef``) and returns the next one with the step appended to its history, or raises
``InvalidTransitionError`` saying why not. Nothing here reads or writes a file: the owner
store applies these under the job's lock (``OwnerStore.update``), so the check and the write
see the same version, and the server never checks a status itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from .errors import InvalidTransitionError
from .models import DatasetPin, JobRef, JobResult, JobState, JobStatus, Release, ResolvedRuntime, Transition, utcnow

# Which transitions the owner's state machine allows; everything else is a clear error.
ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.pending: frozenset(
        {JobStatus.approved, JobStatus.rejected, JobStatus.changes_requested, JobStatus.cancelled, JobStatus.failed}
    ),
    JobStatus.approved: frozenset({JobStatus.running, JobStatus.cancelled, JobStatus.failed}),
    JobStatus.running: frozenset(
        {JobStatus.completed, JobStatus.failed, JobStatus.cancelled, JobStatus.awaiting_release}
    ),
    JobStatus.awaiting_release: frozenset({JobStatus.completed, JobStatus.failed, JobStatus.withheld}),
    JobStatus.completed: frozenset(),
    JobStatus.failed: frozenset(),
    JobStatus.rejected: frozenset(),
    JobStatus.cancelled: frozenset(),
    JobStatus.withheld: frozenset(),
    JobStatus.changes_requested: frozenset(),
}

STARTED = "started"  # the reason recorded with every running step
RECEIVED = "submission received"
AUTO_APPROVED = "approved by the owner's auto-approval rule"


def _step(
    state: JobState, status: JobStatus, by: str, reason: str, *, at: Optional[datetime] = None, **changes: object
) -> JobState:
    if status not in ALLOWED_TRANSITIONS[state.status]:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; it cannot become {status.value}")
    entry = Transition(status=status, at=at or utcnow(), by=by, reason=reason)
    return state.model_copy(update={"status": status, "history": (*state.history, entry), **changes})


def _first(ref: JobRef, history: list[Transition], **fields: object) -> JobState:
    return JobState(
        uid=ref.uid, requester_email=ref.requester, status=history[-1].status, history=tuple(history), **fields
    )


# -- first states ------------------------------------------------------------------------
def accept(
    ref: JobRef,
    *,
    by: str,
    manifest: str,
    approved_by: Optional[str] = None,
    approval_reason: str = AUTO_APPROVED,
    supersedes: Optional[str] = None,
    runtime: Optional[ResolvedRuntime] = None,
    datasets: tuple[DatasetPin, ...] = (),
) -> JobState:
    """A submission whose files all arrived and passed the checks: ``pending``, or already
    ``approved`` when ``approved_by`` (an auto-approval or trust rule) approves it in the same
    write. A resubmission names the job it ``supersedes`` in its first entry. ``runtime``: the
    pins it was accepted with, and ``datasets``: what it may read, pinned; the approval then
    covers exactly these."""
    received = RECEIVED if supersedes is None else f"{RECEIVED} (resubmission of job {supersedes})"
    history = [Transition(status=JobStatus.pending, at=utcnow(), by=by, reason=received)]
    if approved_by is not None:
        history.append(Transition(status=JobStatus.approved, at=utcnow(), by=approved_by, reason=approval_reason))
    return _first(ref, history, manifest_sha256=manifest, runtime=runtime, datasets=datasets)


def refuse(ref: JobRef, *, by: str, reason: str) -> JobState:
    """A submission that can never be accepted: ``rejected``, with the reason as its error."""
    return _first(ref, [Transition(status=JobStatus.rejected, at=utcnow(), by=by, reason=reason)], error=reason)


# -- the owner's decisions ---------------------------------------------------------------
def approve(state: JobState, *, by: str, reason: str = "", manifest_sha256: Optional[str] = None) -> JobState:
    """``manifest_sha256``: what the reviewer looked at; an approval of other bytes is refused."""
    if state.status != JobStatus.pending:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; only pending jobs can be approved")
    if manifest_sha256 is not None and manifest_sha256 != state.manifest_sha256:
        raise InvalidTransitionError(f"job {state.uid} is not the code that was reviewed (manifest differs)")
    return _step(state, JobStatus.approved, by, reason or "approved")


def reject(state: JobState, *, by: str, reason: str) -> JobState:
    if not reason.strip():
        raise InvalidTransitionError("a reason is required to reject a job")
    if state.status != JobStatus.pending:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; only pending jobs can be rejected")
    return _step(state, JobStatus.rejected, by, reason.strip(), error=reason.strip())


def request_changes(state: JobState, *, by: str, comments: str) -> JobState:
    """Send a pending job back: the comments go into its history, and the requester answers
    with ``client.resubmit`` (a new job that supersedes this one)."""
    if not comments.strip():
        raise InvalidTransitionError("comments are required to request changes: say what should change")
    if state.status != JobStatus.pending:
        raise InvalidTransitionError(
            f"job {state.uid} is {state.status.value}; only pending jobs can be sent back for changes"
        )
    return _step(state, JobStatus.changes_requested, by, comments.strip())


def cancel(state: JobState, *, by: str, reason: str) -> JobState:
    """A job no worker has started. A started one is stopped by its worker, which records
    the cancellation with ``finish``."""
    if state.status.is_terminal:
        raise InvalidTransitionError(f"job {state.uid} is already {state.status.value}")
    if state.status == JobStatus.running:
        raise InvalidTransitionError(f"job {state.uid} is running; its worker stops it")
    return _step(state, JobStatus.cancelled, by, reason, error=reason or None)


# -- a run -------------------------------------------------------------------------------
def start(state: JobState, *, by: str, at: datetime) -> JobState:
    """The ``running`` step of a job a worker started at ``at``."""
    if state.status != JobStatus.approved:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; it cannot become running")
    return _step(state, JobStatus.running, by, STARTED, at=at)


def finish(
    state: JobState,
    status: JobStatus,
    *,
    by: str,
    reason: str,
    result: Optional[JobResult] = None,
    started_at: Optional[datetime] = None,
) -> JobState:
    """The end of a run: ``completed``, ``failed`` or ``cancelled``. ``started_at``: the job
    was started then without ``running`` being written (it ended first), so the history gets
    that step before this one. A failure's reason is also its error."""
    if status not in (JobStatus.completed, JobStatus.failed, JobStatus.cancelled):
        raise InvalidTransitionError(f"a run cannot end as {status.value}")
    if state.status == JobStatus.awaiting_release:
        raise InvalidTransitionError(f"job {state.uid} has run; its results wait for the owner's release")
    if started_at is not None and state.status == JobStatus.approved:
        state = start(state, by=by, at=started_at)
    error = reason if status in (JobStatus.failed, JobStatus.cancelled) else state.error
    changes: dict[str, object] = {"error": error}
    if result is not None:
        changes["result"] = result
    return _step(state, status, by, reason, **changes)


# -- output release ----------------------------------------------------------------------
def hold(state: JobState, *, by: str, result: JobResult, started_at: Optional[datetime] = None) -> JobState:
    """The end of a run whose results the owner holds: ``awaiting_release``. ``result``
    carries the exit code only; how the run ended is told with the release."""
    if started_at is not None and state.status == JobStatus.approved:
        state = start(state, by=by, at=started_at)
    return _step(state, JobStatus.awaiting_release, by, "ran; the results wait for the owner's release", result=result)


def release(
    state: JobState, status: JobStatus, *, by: str, reason: str, result: JobResult, decision: Release
) -> JobState:
    """Held results released (all or some files): ``completed`` or ``failed``, as the run
    ended; ``reason`` is how it ended, ``decision`` what was released and why."""
    if state.status != JobStatus.awaiting_release:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; only held results can be released")
    if status not in (JobStatus.completed, JobStatus.failed):
        raise InvalidTransitionError(f"a release cannot end a job as {status.value}")
    error = reason if status == JobStatus.failed else None
    return _step(state, status, by, reason, result=result, release=decision, error=error)


def withhold(state: JobState, *, by: str, reason: str, decision: Release) -> JobState:
    """Held results of which the owner releases nothing: ``withheld``, with the reason."""
    if not reason.strip():
        raise InvalidTransitionError("a reason is required to withhold a job's results")
    if state.status != JobStatus.awaiting_release:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; only held results can be withheld")
    return _step(state, JobStatus.withheld, by, reason.strip(), release=decision, error=reason.strip())


def fail_recovered(
    state: Optional[JobState], ref: JobRef, *, by: str, reason: str, started_at: Optional[datetime]
) -> JobState:
    """A job a server that died had started: ``failed``, never run again. ``state`` is None
    when its acceptance, never forced to disk, was lost with the power."""
    if state is None:
        return _first(ref, [Transition(status=JobStatus.failed, at=utcnow(), by=by, reason=reason)], error=reason)
    return finish(state, JobStatus.failed, by=by, reason=reason, started_at=started_at)


def mark_cleaned(state: JobState) -> JobState:
    """A finished job whose code, logs and outputs were removed; its documents stay as the audit."""
    if not state.status.is_terminal:
        raise InvalidTransitionError(f"job {state.uid} is {state.status.value}; only finished jobs are cleaned up")
    return state.model_copy(update={"cleaned_up": True})
