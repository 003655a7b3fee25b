"""The owner's oversight of one queue, beside the state machine: diffs between versions of
a job, trust rules, audited file views and notifications. ``CodeQueueServer`` delegates to it.

Everything it reads goes through the owner store (its accepted copies, ``read_code_file``), so
it sees exactly what review and the run see; every file view, diff view and trust-rule
change goes into the audit log (transitions are recorded by the store as it writes them).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Optional, Union

from ..errors import InvalidTransitionError, JobNotFoundError, SubmissionError
from ..governance.diff import MAX_DIFF_BYTES, Basis, CodeDiff, JobDiffs, compare, last_approved
from ..governance.notify import Notifier
from ..governance.trust import Trust, TrustStore
from ..models import FileEntry, Job, JobRef, JobState, TrustRule
from ..protocol.owner import CodeFile, OwnerStore, StateChange


class Oversight:
    def __init__(self, store: OwnerStore, name: str) -> None:
        self.store = store
        self.trust = TrustStore(store.private, store.audit)
        self.notifier = Notifier(name)
        store.observe(self._written)

    @property
    def owner(self) -> str:
        return self.store.workspace.email

    # -- notifications ----------------------------------------------------------------
    def _written(self, before: Optional[JobState], after: JobState) -> None:
        """A state this process wrote: its new steps are told (a first state: as submitted)."""
        if self.notifier.active:
            self.notifier.later(partial(self._tell, after, len(before.history) if before else 0))

    def seen(self, state: JobState) -> None:
        """A state read from disk, perhaps written by another owner process (``scq approve``)."""
        if self.notifier.active:
            self.notifier.later(partial(self._tell, state, len(state.history)))

    def _tell(self, state: JobState, known: int) -> None:
        job = self.store.load_job(JobRef(state.requester_email, state.uid))
        if job is not None:
            self.notifier.observe(Job(request=job.request, state=state), known)

    # -- reading code -----------------------------------------------------------------
    def read_file(self, ref: JobRef, path: str, max_bytes: int) -> CodeFile:
        """A submitted file for review; the view is audited."""
        file = self.store.read_code_file(ref, path, max_bytes)
        self.store.audit.record("file_view", by=self.owner, job=ref, path=path, bytes=len(file.head))
        return file

    def diff(self, job: Job, against: Optional[Job], jobs: Callable[[], Iterable[Job]]) -> CodeDiff:
        """``job`` against ``against``, or else the job it supersedes, or else the last
        approved job of its name."""
        if against is not None:
            found = self._diff(job, against, "chosen")
        else:
            both = self.diffs(job, jobs)
            found = both.previous or both.approved
        if found is None:
            raise JobNotFoundError(
                f"job {job.uid} supersedes no job and no other job named {job.name!r} from {job.requester_email}"
                " was approved; name a job to compare it with (against=UID, --against UID)"
            )
        return found

    def diffs(self, job: Job, jobs: Callable[[], Iterable[Job]]) -> JobDiffs:
        """``job`` against the job it supersedes and against the last approved one of its name."""
        previous = None
        if job.supersedes is not None:
            old = self.store.load_job(JobRef(job.requester_email, job.supersedes))
            previous = self._diff(job, old, "supersedes") if old is not None else None
        approved = last_approved(job, jobs())
        return JobDiffs(
            uid=job.uid, previous=previous, approved=self._diff(job, approved, "approved") if approved else None
        )

    def _diff(self, job: Job, against: Job, basis: Basis) -> CodeDiff:
        diff = compare(job, against, self._read, basis)
        self.store.audit.record(
            "diff_view", by=self.owner, job=JobRef(job.requester_email, job.uid), against=against.uid, basis=basis
        )
        return diff

    def _read(self, job: Job, entry: FileEntry) -> Union[bytes, str]:
        try:
            file = self.store.read_code_file(JobRef(job.requester_email, job.uid), entry.path, MAX_DIFF_BYTES)
        except (OSError, SubmissionError):
            return "no longer on disk: sizes and hashes only"
        if not file.matches_manifest:
            return "the bytes on disk are not the ones its manifest names: sizes and hashes only"
        if file.truncated:
            return f"larger than {MAX_DIFF_BYTES // 1024} KiB: sizes and hashes only"
        return file.head

    # -- trust ------------------------------------------------------------------------
    def approve(self, ref: JobRef, approve: StateChange, trust: Trust) -> None:
        """Write the approval; with ``trust``, also the rule it makes. The rule is made first, so
        bad terms leave the job pending, and it must pin the code the approval approves."""
        rule = None
        if trust is not False:
            request, state = self.store.accepted.request(ref), self.store.read_state(ref)  # what was accepted
            if state is None or request is None or request.manifest_sha256 != state.manifest_sha256:
                raise InvalidTransitionError(
                    f"job {ref.uid}'s job.json no longer names the code that was accepted; reject it and ask"
                    " for a new submission instead of trusting it"
                )
            rule = self.trust.pin(trust, request, state.runtime, by=self.owner)
        self.store.update(ref, approve)
        if rule is not None:
            self.trust.add(rule, ref)

    def revoke(self, rule_id: str) -> TrustRule:
        return self.trust.revoke(rule_id, by=self.owner)
