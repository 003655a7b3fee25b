"""The ApprovalPanel's review aids: what changed since the versions before (a per-file diff,
and the chip "identical to approved job X"), approving with trust and the list of trust
rules, the runtime and the datasets an approval covers, and a run on the mocks before
deciding.

``ReviewPanel`` is a part of ``ApprovalPanel`` (it inherits it): its synced traits, the
``ReviewAction`` messages and what each card adds (``review_card``). A card's summaries and
chip compare manifests only (no file is read, nothing is audited); the diff itself is read
when the owner opens the card, through ``server.job_diffs``, which audits the view, and is
sent bounded. A mock run takes seconds, so it runs on a thread of its own and the kernel keeps
answering; its result arrives in ``mock_runs``, for the owner's eyes only (never published).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any, Callable, Literal, Optional, Union

import traitlets
from pydantic import Field, ValidationError

from ..errors import QueueError
from ..governance.diff import CodeDiff, FileDiff, JobDiffs, compare, last_approved
from ..models import FileEntry, Job, JobStatus, TrustRule, utcnow
from ..server import CodeQueueServer
from .base import EXPECTED_ERRORS, Action, Uid, iso
from .mock_run import result_view

DIFF_FILE_LINES = 2000  # lines of one file's diff the panel shows
DIFF_TOTAL_CHARS = 1024 * 1024  # of all diffs of one answer
DATASET_INFO_SECONDS = 30.0  # how long a dataset's summary and size are reused
MOCK_GRACE_SECONDS = 30  # beyond the job timeout, before the front end calls a run lost
CUT = "diff cut here: the panel shows {what}; server.diff_job(uid) or scq diff shows it whole"


class DiffAction(Action):
    """Send the job's diffs (against the superseded and the last approved job)."""

    kind: Literal["diff"]
    uid: Uid


class TrustAction(Action):
    """Approve, and trust this code: identical later submissions approve themselves."""

    kind: Literal["approve_trust"]
    uid: Uid
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(default="", max_length=2000)
    variable_files: list[str] = Field(default_factory=list, max_length=1000)
    expires_days: Optional[int] = Field(default=None, ge=1, le=3650)


class RevokeAction(Action):
    kind: Literal["revoke_trust"]
    rule_id: str = Field(pattern=r"^[0-9a-f]{12}$")


class MockAction(Action):
    """Run the pending job on the mocks of its datasets (the result arrives in ``mock_runs``)."""

    kind: Literal["run_on_mock"]
    uid: Uid


ReviewAction = Union[DiffAction, TrustAction, RevokeAction, MockAction]
REVIEW_ACTIONS = (DiffAction, TrustAction, RevokeAction, MockAction)


@lru_cache(maxsize=4096)
def may_vary(path: str) -> bool:
    """Whether a trust rule accepts ``path`` as a variable file (the rule's model decides)."""
    try:
        TrustRule(variable_files=(path,))
    except ValidationError:
        return False
    return True


def _manifests_only(job: Job, entry: FileEntry) -> str:
    return "not read"  # a card's summary needs no bytes


def _diff_summary(diff: Optional[CodeDiff]) -> Optional[dict[str, Any]]:
    if diff is None:
        return None
    return {"against": diff.against, "short": diff.against[:8], "summary": diff.summary(), "identical": diff.identical}


class ReviewPanel(traitlets.HasTraits):
    """What ``ApprovalPanel`` shows and does beyond deciding (see the module docstring)."""

    trust_rules = traitlets.List().tag(sync=True)
    trust_error = traitlets.Unicode("").tag(sync=True)
    mock_runs = traitlets.Dict().tag(sync=True)  # uid -> the owner's mock run: running, or its result

    server: CodeQueueServer
    _lock: threading.RLock
    _render: Callable[[], None]  # ApprovalPanel's: draw everything again

    # -- cards ------------------------------------------------------------------------
    def review_context(self, jobs: list[Job]) -> dict[tuple[str, str], list[Job]]:
        """The jobs by requester and name, for each card's "last approved" (one pass)."""
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            if job.state is not None and job.state.entered(JobStatus.approved) is not None:
                groups.setdefault((job.requester_email, job.name), []).append(job)
        return groups

    def review_card(self, job: Job, approved_by_name: dict[tuple[str, str], list[Job]], jobs: dict[str, Job]) -> dict:
        """The card's review fields: the summaries against the superseded and the last
        approved job (manifests only), the chip, the runtime, the datasets, the files that
        may vary under a trust rule."""
        previous = jobs.get(job.supersedes) if job.supersedes else None
        approved = last_approved(job, approved_by_name.get((job.requester_email, job.name), []))
        diffs = JobDiffs(
            uid=job.uid,
            previous=compare(job, previous, _manifests_only, "supersedes") if previous else None,
            approved=compare(job, approved, _manifests_only, "approved") if approved else None,
        )
        runtime = job.state.runtime if job.state else None
        return {
            "supersedes": job.supersedes,
            "previous": _diff_summary(diffs.previous),
            "last_approved": _diff_summary(diffs.approved),
            "chip": diffs.chip,
            "runtime": runtime.model_dump(mode="json") if runtime else None,
            "datasets": [self._dataset_info(name) for name in job.datasets],
            "may_vary": [f.path for f in job.files if may_vary(f.path)],
        }

    def _dataset_info(self, name: str) -> dict[str, Any]:
        cache: dict[str, tuple[float, dict[str, Any]]] = self.__dict__.setdefault("_datasets_seen", {})
        hit = cache.get(name)
        if hit is not None and time.monotonic() - hit[0] < DATASET_INFO_SECONDS:
            return hit[1]
        try:
            dataset = self.server.get_dataset(name)
            info = {"name": name, "summary": dataset.summary, "private_size": dataset.private_size, "missing": False}
        except (QueueError, OSError):
            info = {"name": name, "summary": "", "private_size": None, "missing": True}
        cache[name] = (time.monotonic(), info)
        return info

    def review_render(self, open_uids: set[str], jobs: dict[str, Job]) -> None:
        """The panel-wide parts: the trust rules; mock runs of jobs no longer open are dropped."""
        try:
            rules = self.server.list_trust_rules()
            error = ""
        except QueueError as exc:
            rules, error = [], str(exc)
        now = utcnow()
        self.trust_rules = [_rule_row(rule, jobs.get(rule.source_uid or ""), now) for rule in rules]
        self.trust_error = error
        with self._lock:
            kept = {
                uid: run for uid, run in self.mock_runs.items() if uid in open_uids or run.get("state") == "running"
            }
            if kept != self.mock_runs:
                self.mock_runs = kept

    # -- actions ----------------------------------------------------------------------
    def review_handle(self, action: Any) -> dict[str, Any]:
        if isinstance(action, DiffAction):
            return {"diffs": _diffs_for_panel(self.server.job_diffs(action.uid))}
        if isinstance(action, TrustAction):
            return self._approve_and_trust(action)
        if isinstance(action, RevokeAction):
            rule = self.server.revoke_trust(action.rule_id)
            with self._lock:
                self._render()
            source = (rule.source_uid or "")[:8]
            return {"message": f"Revoked trust rule {rule.id}: the code of job {source} needs a person again"}
        return self._start_mock(action)

    def _approve_and_trust(self, action: TrustAction) -> dict[str, Any]:
        expires = timedelta(days=action.expires_days) if action.expires_days else None
        terms = TrustRule(variable_files=tuple(action.variable_files), expires=expires)
        before = {rule.id for rule in self.server.list_trust_rules()}
        job = self.server.approve_job(action.uid, action.reason, manifest_sha256=action.manifest_sha256, trust=terms)
        rule = next((r for r in self.server.list_trust_rules() if r.id not in before and r.source_uid == job.uid), None)
        with self._lock:
            self._render()
        named = f" (rule {rule.id})" if rule else ""
        return {
            "message": f"Approved {job.name!r} [{job.short_uid}] and trusted its code{named}: "
            f"the same code from {job.requester_email} is approved without you"
        }

    def _start_mock(self, action: MockAction) -> dict[str, Any]:
        job = self.server.get_job(action.uid)
        if job.state is None:
            raise ValueError(f"job {job.short_uid} is still arriving; run it on the mocks once all its files synced")
        if job.status != JobStatus.pending:
            raise ValueError(f"job {job.short_uid} is {job.status.value}; only a pending job runs on the mocks")
        with self._lock:
            if self.mock_runs.get(job.uid, {}).get("state") == "running":
                raise ValueError(f"job {job.short_uid} is already running on the mocks; its result appears here")
            self._set_mock(
                job.uid,
                {
                    "state": "running",
                    "started": iso(utcnow()),
                    "deadline": self.server.config.job_timeout + MOCK_GRACE_SECONDS,
                    "datasets": job.datasets,
                },
            )
        threading.Thread(target=self._mock_run, args=(job.uid,), name="scq-mock-run", daemon=True).start()
        on = ", ".join(job.datasets) or "no dataset"
        return {"message": f"Running {job.name!r} [{job.short_uid}] on the mocks ({on}); only you see the result"}

    def _mock_run(self, uid: str) -> None:
        started = time.monotonic()
        try:  # shown as the SubmitForm shows the requester's test on the mocks
            result = self.server.run_on_mock(uid)
            record = {"state": result.status, **result_view(result, time.monotonic() - started)}
        except EXPECTED_ERRORS as exc:
            record = {"state": "error", "error": str(exc) or type(exc).__name__}
        except Exception as exc:  # the thread must always leave an answer
            record = {"state": "error", "error": f"unexpected error: {exc!r}"}
        with self._lock:
            self._set_mock(uid, {**record, "finished": iso(utcnow())})

    def _set_mock(self, uid: str, record: dict[str, Any]) -> None:
        self.mock_runs = {**self.mock_runs, uid: record}


def _rule_row(rule: TrustRule, source: Optional[Job], now: Any) -> dict[str, Any]:
    return {
        "id": rule.id,
        "requesters": list(rule.requesters or ()),
        "datasets": list(rule.datasets or ()),
        "variable_files": list(rule.variable_files),
        "files": len(rule.files),
        "expires": iso(rule.expires),
        "expired": rule.expired(now),
        "source_uid": rule.source_uid,
        "source_name": source.name if source else None,
        "created_at": iso(rule.created_at),
        "created_by": rule.created_by,
    }


def _diffs_for_panel(diffs: JobDiffs) -> dict[str, Any]:
    """Both diffs, with at most ``DIFF_FILE_LINES`` lines of a file and ``DIFF_TOTAL_CHARS``
    of text in all."""
    budget = [DIFF_TOTAL_CHARS]

    def one(diff: Optional[CodeDiff]) -> Optional[dict[str, Any]]:
        if diff is None:
            return None
        return {
            **_diff_summary(diff),  # type: ignore[dict-item]
            "basis": diff.basis,
            "files": [_file(f, budget) for f in diff.files],
            "unchanged": list(diff.unchanged),
        }

    return {"uid": diffs.uid, "previous": one(diffs.previous), "approved": one(diffs.approved), "chip": diffs.chip}


def _file(f: FileDiff, budget: list[int]) -> dict[str, Any]:
    sizes = {"old_size": f.old.size if f.old else None, "new_size": f.new.size if f.new else None}
    base = {"path": f.path, "change": f.change, **sizes, "note": f.note}
    if f.diff is None:
        return {**base, "diff": None, "cut": None}
    if budget[0] <= 0:
        return {**base, "diff": None, "cut": CUT.format(what=f"at most {DIFF_TOTAL_CHARS // 1024} KiB of diffs")}
    lines = f.diff.splitlines(keepends=True)
    cut = None
    if len(lines) > DIFF_FILE_LINES:
        lines, cut = lines[:DIFF_FILE_LINES], CUT.format(what=f"the first {DIFF_FILE_LINES} lines")
    text = "".join(lines)
    if len(text) > budget[0]:
        text = text[: text.rfind("\n", 0, budget[0]) + 1]
        cut = CUT.format(what=f"at most {DIFF_TOTAL_CHARS // 1024} KiB of diffs")
    budget[0] -= len(text)
    return {**base, "diff": text, "cut": cut}
