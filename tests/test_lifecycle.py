"""The state machine on its own: every allowed and every forbidden step, without a file."""

from __future__ import annotations

from itertools import product

import pytest

from syft_code_queue import lifecycle
from syft_code_queue.errors import InvalidTransitionError, QueueError
from syft_code_queue.lifecycle import ALLOWED_TRANSITIONS
from syft_code_queue.models import JobRef, JobResult, JobState, JobStatus, Release, Transition, utcnow

REF = JobRef("alice@example.com", "a" * 32)
OWNER = "owner@example.com"


def in_status(status: JobStatus) -> JobState:
    return JobState(
        uid=REF.uid,
        requester_email=REF.requester,
        status=status,
        manifest_sha256="m",
        history=(Transition(status=status, at=utcnow(), by=OWNER),),
    )


def decision(reason: str = "") -> Release:
    return Release(
        uid=REF.uid,
        requester_email=REF.requester,
        decided_by=OWNER,
        decided_at=utcnow(),
        reason=reason,
        logs_released=False,
    )


def step_to(state: JobState, target: JobStatus) -> JobState:
    """The one lifecycle function that moves a job to ``target`` from ``state``."""
    if target == JobStatus.awaiting_release:
        return lifecycle.hold(state, by=OWNER, result=JobResult(exit_code=0))
    if target == JobStatus.withheld:
        return lifecycle.withhold(state, by=OWNER, reason="counts too small", decision=decision("counts too small"))
    if target in (JobStatus.completed, JobStatus.failed) and state.status == JobStatus.awaiting_release:
        return lifecycle.release(state, target, by=OWNER, reason="ended", result=JobResult(), decision=decision())
    if target == JobStatus.approved:
        return lifecycle.approve(state, by=OWNER)
    if target == JobStatus.rejected:
        return lifecycle.reject(state, by=OWNER, reason="no")
    if target == JobStatus.changes_requested:
        return lifecycle.request_changes(state, by=OWNER, comments="use the mock first")
    if target == JobStatus.running:
        return lifecycle.start(state, by=OWNER, at=utcnow())
    if target == JobStatus.cancelled and state.status != JobStatus.running:
        return lifecycle.cancel(state, by=OWNER, reason="stop")
    if target in (JobStatus.completed, JobStatus.failed, JobStatus.cancelled):
        return lifecycle.finish(state, target, by=OWNER, reason="ended")
    raise InvalidTransitionError(f"nothing moves a job back to {target.value}")


@pytest.mark.parametrize("current,target", list(product(JobStatus, JobStatus)), ids=lambda s: s.value)
def test_every_step_is_allowed_exactly_when_the_table_says(current: JobStatus, target: JobStatus) -> None:
    before = in_status(current)
    if target in ALLOWED_TRANSITIONS[current]:
        after = step_to(before, target)
        assert after.status == target
        assert after.history[:-1] == before.history and after.history[-1].status == target
        assert before.status == current  # frozen: the old version is unchanged
    else:
        with pytest.raises(InvalidTransitionError):
            step_to(before, target)


def test_terminal_statuses_allow_nothing() -> None:
    for status in JobStatus:
        assert (not ALLOWED_TRANSITIONS[status]) == status.is_terminal


def test_an_accepted_submission_is_pending_or_approved_by_the_rule() -> None:
    pending = lifecycle.accept(REF, by=OWNER, manifest="m")
    assert pending.status == JobStatus.pending and pending.manifest_sha256 == "m"
    approved = lifecycle.accept(REF, by=OWNER, manifest="m", approved_by="auto-approval")
    assert [t.status for t in approved.history] == [JobStatus.pending, JobStatus.approved]
    assert approved.history[-1].by == "auto-approval"


def test_a_refusal_and_a_failure_carry_their_reason_as_the_error() -> None:
    assert lifecycle.refuse(REF, by=OWNER, reason="bad manifest").error == "bad manifest"
    ended = lifecycle.finish(in_status(JobStatus.running), JobStatus.failed, by=OWNER, reason="exit 3")
    assert ended.error == "exit 3"
    done = lifecycle.finish(
        in_status(JobStatus.running), JobStatus.completed, by=OWNER, reason="exit code 0", result=JobResult(exit_code=0)
    )
    assert done.error is None and done.result == JobResult(exit_code=0)


def test_a_request_for_changes_keeps_the_comments_and_needs_them() -> None:
    sent_back = lifecycle.request_changes(in_status(JobStatus.pending), by=OWNER, comments="  drop the raw rows ")
    assert sent_back.status.is_terminal
    assert (sent_back.history[-1].by, sent_back.history[-1].reason) == (OWNER, "drop the raw rows")
    with pytest.raises(InvalidTransitionError, match="comments are required"):
        lifecycle.request_changes(in_status(JobStatus.pending), by=OWNER, comments=" ")


def test_a_resubmission_names_the_job_it_supersedes_when_received() -> None:
    first = lifecycle.accept(REF, by=OWNER, manifest="m", supersedes="b" * 32)
    assert first.history[0].reason == f"{lifecycle.RECEIVED} (resubmission of job {'b' * 32})"


def test_an_approval_pins_the_reviewed_manifest() -> None:
    with pytest.raises(InvalidTransitionError, match="not the code that was reviewed"):
        lifecycle.approve(in_status(JobStatus.pending), by=OWNER, manifest_sha256="other")
    assert lifecycle.approve(in_status(JobStatus.pending), by=OWNER, manifest_sha256="m").status == JobStatus.approved


def test_a_short_run_records_when_it_started_without_a_running_write() -> None:
    began = utcnow()
    ended = lifecycle.finish(
        in_status(JobStatus.approved), JobStatus.completed, by=OWNER, reason="exit code 0", started_at=began
    )
    assert [t.status for t in ended.history][-2:] == [JobStatus.running, JobStatus.completed]
    assert ended.history[-2].at == began and ended.history[-2].reason == lifecycle.STARTED


def test_recovery_fails_a_started_job_even_when_its_acceptance_was_lost() -> None:
    lost = lifecycle.fail_recovered(None, REF, by=OWNER, reason="server died", started_at=utcnow())
    assert (lost.status, lost.error) == (JobStatus.failed, "server died")
    running = lifecycle.fail_recovered(in_status(JobStatus.running), REF, by=OWNER, reason="died", started_at=None)
    assert running.status == JobStatus.failed


def test_only_finished_jobs_are_cleaned_up() -> None:
    assert lifecycle.mark_cleaned(in_status(JobStatus.completed)).cleaned_up
    with pytest.raises(InvalidTransitionError):
        lifecycle.mark_cleaned(in_status(JobStatus.running))


def test_refusals_are_queue_errors_and_value_errors() -> None:
    with pytest.raises(QueueError):
        lifecycle.reject(in_status(JobStatus.completed), by=OWNER, reason="late")
    with pytest.raises(ValueError, match="already completed"):
        lifecycle.cancel(in_status(JobStatus.completed), by=OWNER, reason="late")


def test_a_held_run_is_released_as_it_ended_or_withheld_with_a_reason() -> None:
    began = utcnow()
    held = lifecycle.hold(in_status(JobStatus.approved), by=OWNER, result=JobResult(exit_code=3), started_at=began)
    assert [t.status for t in held.history][-2:] == [JobStatus.running, JobStatus.awaiting_release]
    assert held.error is None and held.result == JobResult(exit_code=3) and not held.status.is_terminal
    with pytest.raises(InvalidTransitionError, match="wait for the owner's release"):
        lifecycle.finish(held, JobStatus.failed, by=OWNER, reason="late")
    with pytest.raises(InvalidTransitionError, match="cannot end a job as cancelled"):
        lifecycle.release(held, JobStatus.cancelled, by=OWNER, reason="x", result=JobResult(), decision=decision())
    released = decision("logs only")
    failed = lifecycle.release(
        held, JobStatus.failed, by=OWNER, reason="run.sh exited with code 3", result=JobResult(), decision=released
    )
    assert (failed.status, failed.error, failed.release) == (JobStatus.failed, "run.sh exited with code 3", released)
    with pytest.raises(InvalidTransitionError, match="reason is required"):
        lifecycle.withhold(held, by=OWNER, reason=" ", decision=decision())
    withheld = lifecycle.withhold(held, by=OWNER, reason="small cells", decision=decision("small cells"))
    assert (withheld.status, withheld.error) == (JobStatus.withheld, "small cells") and withheld.status.is_terminal
