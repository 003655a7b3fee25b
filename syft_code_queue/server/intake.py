"""Intake: what arrives in the inbox becomes a job's first state.

A submission is accepted (``pending``, or ``approved`` at once when one of the owner's
trust rules or the auto-approval rule says so) once every file matches its manifest, the
runner's checks pass and its runtime and requirements resolve (``runtimes/``); refused
(``rejected``, with the reason) when it never can be (a ``supersedes`` naming none of the
requester's jobs included); and left alone while it is still arriving, up to
``arrival_timeout``, and while the package index resolves its requirements, on the resolver
thread (``server/resolving.py``), so that no other submission waits for the index. Only the
serve thread calls in, so its one per-job dict (when each still-arriving submission was first
seen) needs no lock.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Callable, Optional

from .. import lifecycle
from ..datasets import DatasetRegistry
from ..errors import DatasetError, RequirementsRefused, ResolutionPending, StillArriving, SubmissionError
from ..governance.trust import TRUST_APPROVER, TrustStore, approval_reason
from ..models import Job, JobRef, JobRequest, JobState, QueueConfig, ResolvedRuntime
from ..protocol.bounds import check_request
from ..protocol.owner import OwnerStore
from ..runner import CodeRunner
from ..runtimes.owner import Runtimes
from .resolving import Resolver

log = logging.getLogger(__name__)

ApprovalCallback = Callable[[Job], bool]
AUTO_APPROVER = "auto-approval"


class Intake:
    def __init__(
        self,
        store: OwnerStore,
        config: QueueConfig,
        runner: CodeRunner,
        auto_approval_callback: Optional[ApprovalCallback],
        runtimes: Runtimes,
        datasets: DatasetRegistry,
        trust: Optional[TrustStore] = None,
        resolved: Callable[[JobRef], None] = lambda ref: None,
    ) -> None:
        """``resolved``: the serve thread must look at a job whose resolution just ended."""
        self.store = store
        self.runtimes = runtimes
        self.datasets = datasets
        self.config = config
        self.runner = runner
        self.auto_approval_callback = auto_approval_callback
        self.trust = trust
        self._first_seen: dict[JobRef, float] = {}  # still arriving: when first seen (monotonic)
        self.resolver = Resolver(resolved)

    @property
    def owner(self) -> str:
        return self.store.workspace.email

    def accept(self, ref: JobRef) -> tuple[JobState, Optional[JobRequest]]:
        """The job's first state, accepted (with its request) or refused. Raises
        ``StillArriving`` while its files may still be syncing, within ``arrival_timeout``.

        What is accepted is the owner's private copy, made here: the policy, the callback,
        the reviewer and the run all see those bytes, whatever the inbox holds later."""
        if self.resolver.busy(ref):  # its accepted copy is being read: leave it as it is
            raise ResolutionPending("its requirements are being resolved")
        try:
            self._in_bounds(ref)
            request = self.store.read_request(ref, self.config)
            check_request(request, self.config)
            self.store.check_code(request)
            code = self._keep(ref, request)
        except StillArriving as waiting:
            first = self._first_seen.setdefault(ref, time.monotonic())
            if time.monotonic() - first <= self.config.arrival_timeout:
                raise
            return self.refuse(ref, f"submission incomplete after {self.config.arrival_timeout:g} s: {waiting}"), None
        except SubmissionError as invalid:
            return self.refuse(ref, str(invalid)), None
        if request.supersedes is not None and self.store.load_job(JobRef(ref.requester, request.supersedes)) is None:
            reason = (
                f"job.json supersedes job {request.supersedes}, which is not one of yours in this queue;"
                " resubmit one of your own jobs, or submit it as a new job"
            )
            return self.refuse(ref, reason), None
        job = Job(request=request)
        problems = self.runner.check_code(code, job)
        if problems:
            return self.refuse(ref, "refused by command policy: " + "; ".join(problems)), None
        try:
            pins = self.datasets.pins(ref.requester, request.datasets)
        except DatasetError as refused:
            return self.refuse(ref, str(refused)), None
        try:  # the one step of acceptance that may ask the owner's package index
            runtime = self._runtime(ref, request, code)  # the accepted copy: what the run uses
        except RequirementsRefused as refused:
            return self.refuse(ref, str(refused)), None
        approver, why = None, lifecycle.AUTO_APPROVED
        rule = self.trust.match(request, runtime) if self.trust is not None else None
        if rule is not None:  # the owner's own rule: no auto-approval setting needed
            approver, why = TRUST_APPROVER, approval_reason(rule)
        elif self._auto_approves(job):
            approver = AUTO_APPROVER
        accepted = lifecycle.accept(
            ref,
            by=self.owner,
            manifest=request.manifest_sha256,
            approved_by=approver,
            approval_reason=why,
            supersedes=request.supersedes,
            runtime=runtime,
            datasets=pins,
        )
        state = self.store.create(accepted)
        self._first_seen.pop(ref, None)
        return state, request

    def _runtime(self, ref: JobRef, request: JobRequest, code: Path) -> Optional[ResolvedRuntime]:
        """The runtime ``ref`` is accepted with, from what is recorded; where only the package
        index can tell, its resolution starts on the resolver thread (``ResolutionPending``)."""
        failed = self.resolver.outcome(ref)
        if failed is not None:
            raise failed
        try:
            return self.runtimes.resolve(request, code, ask_index=False)
        except ResolutionPending:
            self._first_seen.pop(ref, None)  # arrived: what it waits for now is the index
            self.resolver.start(ref, partial(self.runtimes.resolve, request, code))
            raise

    def _in_bounds(self, ref: JobRef) -> None:
        """Refuse a uid another requester's accepted job holds, and a requester with more than
        ``max_in_flight_per_requester`` submissions still arriving or waiting for their resolution."""
        layout = self.store.layout
        others = [
            who
            for who in {*self.store.accepted.holders(ref.uid), *self.store.requesters()} - {ref.requester}
            if layout.job(JobRef(who, ref.uid)).state_file.exists() or self.store.accepted.request(JobRef(who, ref.uid))
        ]
        if others:
            raise SubmissionError(f"uid {ref.uid} is already another requester's job; submit again with a new uid")
        if ref not in self._first_seen:
            arriving = sum(1 for seen in self._first_seen if seen.requester == ref.requester)
            arriving += self.resolver.waiting_of(ref.requester)
            if arriving >= self.config.max_in_flight_per_requester:
                raise SubmissionError(
                    f"{arriving} submissions of {ref.requester} are still arriving or being resolved, the most "
                    "allowed (max_in_flight_per_requester); submit again once they have been accepted"
                )

    def _keep(self, ref: JobRef, request: JobRequest) -> Path:
        try:
            return self.store.accepted.keep(ref, request, self.store.layout.job(ref).code_dir)
        except ValueError as changed:  # the inbox changed between the check and the copy
            raise StillArriving(str(changed)) from None

    def waiting(self, ref: JobRef) -> bool:
        """Whether ``ref`` is still arriving and within its ``arrival_timeout``: nothing but an
        event about it can change that."""
        if self.resolver.busy(ref):
            return True
        first = self._first_seen.get(ref)
        return first is not None and time.monotonic() - first <= self.config.arrival_timeout

    def fail(self, ref: JobRef, exc: Exception) -> bool:
        """Handling ``ref`` raised ``exc``: refuse it, with the reason, if it has no state yet
        (whatever it was, it must not fail every pass). Whether a refusal was written."""
        log.error("job %s could not be handled", ref, exc_info=exc)
        try:
            if self.store.read_state(ref) is not None:
                return False
            self.refuse(ref, f"the submission could not be handled ({type(exc).__name__}: {exc})")
        except Exception:
            log.exception("job %s could not be refused either", ref)
            return False
        return True

    def refuse(self, ref: JobRef, reason: str) -> JobState:
        log.info("rejected %s: %s", ref, reason)
        self._first_seen.pop(ref, None)
        self.store.accepted.drop(ref)
        return self.store.create(lifecycle.refuse(ref, by=self.owner, reason=reason))

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
