"""The release desk: when a run's results are held, and how held results are released or
withheld, file by file.

A run whose results need the owner's release (``release_needed``) ends ``awaiting_release``
with its logs and outputs in owner-private storage. ``release`` publishes what the owner (or
the output policy, or the owner's auto-release rule) chose, crash-safely: under the job's
lock the decision is forced to ``releasing.json`` first, then the files are copied, then
``release.json``, then the state. A release interrupted anywhere is completed by the next
pass over the job (a restarted server's first), or, when a held file is gone or changed,
rolled back: it is never left half-published. ``withhold`` releases nothing, with a reason.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from pydantic import ValidationError

from .. import lifecycle
from ..errors import InvalidTransitionError, ReleaseError, describe
from ..models import FileEntry, Job, JobRef, JobResult, JobState, JobStatus, QueueConfig, Release, ReleasedFile, utcnow
from ..protocol.documents import read_model
from ..protocol.layout import STDERR_FILE, STDOUT_FILE
from ..protocol.owner import OwnerStore
from ..syftbox import atomic_write_json, never_synced, sha256_file
from .held import HeldFile, HeldOutputs, HeldResults, check_held
from .policy import OutputPolicy

log = logging.getLogger(__name__)

ReleaseCallback = Callable[[Job, HeldOutputs], bool]  # True: release every held file and the logs


class Settles(Protocol):
    """Where jobs that a release or a withholding ended are recorded (the server's ``Settled``)."""

    def add(self, ref: JobRef, state: JobState) -> None: ...


CHECKS_PASSED = "every file passed the owner's output policy"
RULE_RELEASED = "released by the owner's auto-release rule"


def reads_data(job: Job) -> bool:
    """Whether the job reads a dataset: only then can its results carry the owner's private data."""
    return bool(job.request.datasets)


def release_needed(job: Job, policy: Optional[str]) -> bool:
    """Whether a run's results wait for a release: the queue's ``release_policy``, or by
    default ``manual`` for jobs that read a dataset and ``auto`` for jobs that read none."""
    effective = policy or ("manual" if reads_data(job) else "auto")
    return effective != "auto"


class ReleaseDesk:
    def __init__(
        self,
        store: OwnerStore,
        config: QueueConfig,
        settled: Settles,
        policy: Optional[OutputPolicy] = None,
        callback: Optional[ReleaseCallback] = None,
    ) -> None:
        self.store = store
        self.config = config
        self.policy = policy or OutputPolicy()
        self.callback = callback
        self._settled = settled

    @property
    def owner(self) -> str:
        return self.store.workspace.email

    def needed(self, job: Job) -> bool:
        return release_needed(job, self.config.release_policy)

    # -- the end of a run -------------------------------------------------------------
    def hold(
        self,
        ref: JobRef,
        run: tuple[Path, Path, Path],
        ending: tuple[JobStatus, str],
        result: JobResult,
        started_at: Optional[datetime],
    ) -> JobState:
        """Hold a finished run's logs and outputs privately, check each file, and record
        ``awaiting_release``. Call under the job's lock. ``run``: its stdout, stderr and
        outputs folder; ``ending``: the status a release gives the job, and why; ``result``:
        its exit code."""
        moved = self.store.hold_results(ref, *run, self.config.max_output_files)
        paths = self.store.private.held(ref)
        checked_outputs, checked_logs = check_held(paths, moved, self.policy)
        held = HeldResults(
            uid=ref.uid,
            requester_email=ref.requester,
            held_at=utcnow(),
            exit_code=result.exit_code,
            truncated=result.truncated,
            status=ending[0],
            reason=ending[1],
            logs=checked_logs,
            outputs=checked_outputs,
            policy_passed=all(f.verdict == "pass" for f in (*checked_outputs, *checked_logs)),
        )
        atomic_write_json(paths.held_file, held.model_dump_json(indent=2))
        shown = JobResult(exit_code=result.exit_code, truncated=result.truncated)
        return self.store.update(ref, partial(lifecycle.hold, by=self.owner, result=shown, started_at=started_at))

    def decide(self, ref: JobRef) -> Optional[JobState]:
        """Release a job just held when the owner's rules say so: ``release_policy="checks"``
        and every file passed, or the auto-release rule returns True. A rule that raises
        releases nothing (it is logged)."""
        if self.config.release_policy != "checks" and self.callback is None:
            return None
        outputs = self.outputs(ref)
        reason: Optional[str] = None
        if self.config.release_policy == "checks" and outputs.passed:
            reason = CHECKS_PASSED
        elif self.callback is not None:
            try:
                reason = RULE_RELEASED if self.callback(outputs.job, outputs) is True else None
            except Exception:
                log.exception("auto-release rule failed for job %s; its results stay held", ref)
        if reason is None:
            return None
        try:
            return self.release(ref, None, True, reason, by=self.owner)
        except (InvalidTransitionError, ReleaseError) as exc:  # decided meanwhile, or a file changed
            log.warning("job %s stays as it is: %s", ref, exc)
            return None

    # -- the owner's view -------------------------------------------------------------
    def outputs(self, ref: JobRef) -> HeldOutputs:
        """A job's held results, each file with its verdict (owner only)."""
        job = self.store.load_job(ref)
        held = self._held(ref)
        if job is None or held is None:
            raise ReleaseError(
                f"job {ref.uid} has no held results: they were not held (its release policy "
                "released them at once) or were cleaned up"
            )
        return HeldOutputs(job=job, paths=self.store.private.held(ref), held=held)

    def _held(self, ref: JobRef) -> Optional[HeldResults]:
        try:
            return read_model(self.store.private.held(ref).held_file, HeldResults)
        except ValidationError as exc:
            raise ReleaseError(f"the held record of job {ref.uid} is unreadable: {describe(exc)}") from None

    # -- the owner's decisions --------------------------------------------------------
    def release(self, ref: JobRef, files: Optional[Sequence[str]], logs: bool, reason: str, *, by: str) -> JobState:
        """Publish the held files named (``None``: every one SyftBox can carry) and, with
        ``logs``, the logs; the job becomes completed or failed, as its run ended."""
        if isinstance(files, str):
            raise ReleaseError("files must be a list of held output paths, not one string")
        with self.store.locked(ref):
            self._awaiting(ref, "released")
            outputs = self.outputs(ref)
            chosen = self._select(outputs, files)
            released_logs = list(outputs.log_files) if logs else []
            if not chosen and not released_logs:
                raise ReleaseError(
                    f"nothing is selected to release for job {ref.uid}; to release nothing, "
                    "withhold it with a reason (withhold_job)"
                )
            for entry in chosen:
                _check_unchanged(outputs, entry, log=False)
            for entry in released_logs:
                _check_unchanged(outputs, entry, log=True)
            decision = Release(
                uid=ref.uid,
                requester_email=ref.requester,
                decided_by=by,
                decided_at=utcnow(),
                reason=reason.strip(),
                logs_released=bool(released_logs),
                files=tuple(_released(e) for e in chosen),
                logs=tuple(_released(e) for e in released_logs),
                withheld_files=len(outputs.held.files) - len(chosen) - len(released_logs),
            )
            self.store.unpublish_release(ref)  # what an interrupted earlier decision left goes
            atomic_write_json(outputs.paths.releasing_file, decision.model_dump_json(indent=2))
            return self._publish(ref, outputs.held, decision)

    def withhold(self, ref: JobRef, reason: str, *, by: str) -> JobState:
        """Release nothing: the job becomes ``withheld`` with ``reason``, shown to the requester."""
        if not reason or not reason.strip():
            raise ReleaseError("a reason is required to withhold a job's results")
        with self.store.locked(ref):
            self._awaiting(ref, "withheld")
            held = self.outputs(ref).held
            decision = Release(
                uid=ref.uid,
                requester_email=ref.requester,
                decided_by=by,
                decided_at=utcnow(),
                reason=reason.strip(),
                logs_released=False,
                withheld_files=len(held.files),
            )
            state = self.store.update(ref, partial(lifecycle.withhold, by=by, reason=reason, decision=decision))
        self._settled.add(ref, state)
        return state

    def resume(self, ref: JobRef) -> None:
        """Complete a release that was interrupted (its process died after deciding), or
        roll it back when it can no longer be completed. Holding the job's lock, a decision
        still on disk belongs to a process that is gone."""
        paths = self.store.private.held(ref)
        if not paths.releasing_file.exists():  # the usual case, without taking the lock
            return
        with self.store.locked(ref):
            state = self.store.read_state(ref)
            if state is None or state.status != JobStatus.awaiting_release or not paths.releasing_file.exists():
                return
            try:
                decision = read_model(paths.releasing_file, Release)
                held = self._held(ref)
            except (ValidationError, ValueError):
                decision = held = None
            if decision is None or held is None:
                self._roll_back(ref, "its decision or held record is unreadable")
                return
            try:
                self._publish(ref, held, decision)
            except (ReleaseError, OSError):
                return  # rolled back (and logged) by _publish
            log.info("the interrupted release of job %s was completed", ref)

    # -- publishing -------------------------------------------------------------------
    def _publish(self, ref: JobRef, held: HeldResults, decision: Release) -> JobState:
        """Copy the decided files, then record the state; any failure rolls back first."""
        paths = self.store.private.held(ref)
        try:
            self.store.publish_release(
                ref,
                [_entry(f) for f in decision.files],
                [_entry(f) for f in decision.logs],
                decision.model_dump_json(indent=2),
            )
        except (ReleaseError, OSError) as exc:
            self._roll_back(ref, str(exc))
            raise
        logs = {f.path: _entry(f) for f in decision.logs}
        result = JobResult(
            exit_code=held.exit_code,
            truncated=held.truncated,
            stdout=logs.get(STDOUT_FILE),
            stderr=logs.get(STDERR_FILE),
            outputs=tuple(_entry(f) for f in decision.files),
        )
        step = partial(
            lifecycle.release,
            status=held.status,
            by=decision.decided_by,
            reason=held.reason,
            result=result,
            decision=decision,
        )
        state = self.store.update(ref, step)
        paths.releasing_file.unlink(missing_ok=True)
        self._settled.add(ref, state)
        return state

    def _roll_back(self, ref: JobRef, why: str) -> None:
        self.store.unpublish_release(ref)
        self.store.private.held(ref).releasing_file.unlink(missing_ok=True)
        log.warning("release of job %s undone: %s", ref, why)

    def _awaiting(self, ref: JobRef, what: str) -> None:
        state = self.store.read_state(ref)
        if state is None or state.status != JobStatus.awaiting_release:
            status = state.status.value if state else "not accepted yet"
            raise InvalidTransitionError(f"job {ref.uid} is {status}; only results awaiting release can be {what}")

    @staticmethod
    def _select(outputs: HeldOutputs, files: Optional[Sequence[str]]) -> list[HeldFile]:
        if files is None:
            return [f for f in outputs.files if not never_synced(f.path)]
        chosen = [outputs.entry(path) for path in dict.fromkeys(files)]
        unsyncable = [f.path for f in chosen if never_synced(f.path)]
        if unsyncable:
            raise ReleaseError(f"SyftBox never syncs {', '.join(unsyncable)}; it cannot be released")
        return chosen


def _check_unchanged(outputs: HeldOutputs, entry: HeldFile, *, log: bool) -> None:
    if entry.size == 0:
        return
    path = outputs.path(entry.path, log=log)
    try:
        size, digest = sha256_file(path)
    except FileNotFoundError:
        raise ReleaseError(f"held file {entry.path} is gone; it cannot be released") from None
    if (size, digest) != (entry.size, entry.sha256):
        raise ReleaseError(
            f"held file {entry.path} changed after it was checked (its sha256 differs); "
            "it is refused: withhold the job, or run it again"
        )


def _released(entry: HeldFile) -> ReleasedFile:
    return ReleasedFile(
        path=entry.path, size=entry.size, sha256=entry.sha256, verdict=entry.verdict, messages=entry.messages
    )


def _entry(entry: FileEntry) -> FileEntry:
    return FileEntry(path=entry.path, size=entry.size, sha256=entry.sha256)
