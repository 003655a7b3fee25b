"""``ApprovalPanel``: the data owner reviews submitted code and approves or rejects it.

Each job that still needs a decision (pending) or may still be stopped (approved,
running) is listed with its files (``run.sh`` first), the manifest hash an approval pins,
and only the buttons its status allows. Approving sends that hash along, so the server
refuses the approval if the code is not what the reviewer was shown.

However many jobs wait, every one is reachable: the panel shows one page of cards at a
time, narrowed by a search (name, uid, requester, tag) and by requester and tag filters.
The view (``query``, a ``PanelView``) and the open card (``selected``) are synced view state
(``base.ViewState``) that the front end sets; Python renders what they ask for.

A job that ran and waits for the owner's release (``awaiting_release``) is listed too, with
its "Outputs to release" section (``release_view``: previews, verdicts, release or withhold).
Each card also shows what changed since the job's earlier versions, the runtime and datasets
its approval covers, a run on the mocks and "Approve and trust"; the panel lists the trust
rules and tells of new jobs (``review_view.py``, ``notices.py``).
"""

from __future__ import annotations

import heapq
from typing import Annotated, Any, Literal, Optional, Union

import traitlets
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from ..listing.query import JobQuery, Rows
from ..models import Job, JobStatus
from ..server import CodeQueueServer
from . import release_view
from .assets import esm
from .base import Action, QueueWidget, Selection, Uid, ViewState, iso
from .notices import DismissAction, Notices, arrivals
from .review_view import REVIEW_ACTIONS, ReviewAction, ReviewPanel
from .sources import JobSource, source_for

PAGE_SIZE = 20  # cards drawn at once; the pager reaches the rest
MAX_BULK = 1000  # jobs one bulk decision may carry
ACTIVITY_ENTRIES = 15
FILE_PREVIEW_BYTES = 64 * 1024
OPEN_STATUSES = (JobStatus.pending, JobStatus.awaiting_release, JobStatus.approved, JobStatus.running)


class ApproveAction(Action):
    kind: Literal["approve"]
    uid: Uid
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(default="", max_length=2000)


class RejectAction(Action):
    kind: Literal["reject"]
    uid: Uid
    reason: str = Field(default="", max_length=2000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required to reject a job")
        return value.strip()


class CancelAction(Action):
    kind: Literal["cancel"]
    uid: Uid
    reason: str = Field(default="", max_length=2000)


class BulkItem(BaseModel):
    """One job of a bulk decision, with the manifest hash the panel showed for it."""

    model_config = ConfigDict(extra="forbid")

    uid: Uid
    manifest_sha256: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class BulkAction(Action):
    """Approve or reject several jobs; the front end has asked the owner to confirm."""

    kind: Literal["bulk"]
    decision: Literal["approve", "reject"]
    items: list[BulkItem] = Field(min_length=1, max_length=MAX_BULK)
    reason: str = Field(default="", max_length=2000)


class OpenFileAction(Action):
    kind: Literal["open_file"]
    uid: Uid
    path: str = Field(min_length=1, max_length=4096)


class PanelView(BaseModel):
    """Which open jobs the panel lists (its ``query``): a search, a requester, a tag, a status, a page."""

    model_config = ConfigDict(extra="forbid")

    search: str = Field(default="", max_length=200)
    status: Optional[JobStatus] = None
    requester: str = Field(default="", max_length=320)
    tag: str = Field(default="", max_length=200)
    page: int = Field(default=0, ge=0)

    @field_validator("status")
    @classmethod
    def _open(cls, value: Optional[JobStatus]) -> Optional[JobStatus]:
        if value is not None and value not in OPEN_STATUSES:
            names = ", ".join(s.value for s in OPEN_STATUSES)
            raise ValueError(f"the panel lists only open jobs ({names}); pick one of those or none")
        return value


PanelAction = Annotated[
    Union[
        ApproveAction,
        RejectAction,
        CancelAction,
        BulkAction,
        OpenFileAction,
        release_view.HeldFileAction,
        release_view.ReleaseAction,
        release_view.WithholdAction,
        ReviewAction,
        DismissAction,
    ],
    Field(discriminator="kind"),
]


def allowed_actions(job: Job) -> list[str]:
    """The buttons a job's status allows (a submission still arriving allows none)."""
    if job.state is None:
        return []
    if job.status == JobStatus.pending:
        return ["approve", "reject"]
    if job.status in (JobStatus.approved, JobStatus.running):
        return ["cancel"]
    return []


def _card(job: Job, review: dict[str, Any]) -> dict[str, Any]:
    files = sorted(job.files, key=lambda f: (f.path != "run.sh", f.path))
    return {
        "uid": job.uid,
        "short_uid": job.short_uid,
        "name": job.name,
        "description": job.description,
        "tags": job.tags,
        "requester": job.requester_email,
        "created": iso(job.created_at),
        "status": job.status.value,
        "accepted": job.state is not None,
        "auto_approval": job.auto_approval,
        "manifest_sha256": job.state.manifest_sha256 if job.state else None,
        "files": [{"path": f.path, "size": f.size} for f in files],
        "total_size": sum(f.size for f in files),
        "history": [{"status": t.status.value, "at": iso(t.at), "by": t.by, "reason": t.reason} for t in job.history],
        "allowed": allowed_actions(job),
        **review,
    }


class ApprovalPanel(QueueWidget, ReviewPanel, Notices):
    """Review, approve, reject and cancel the jobs of a running queue server."""

    _esm = esm("approval_panel.js")
    _actions = TypeAdapter(PanelAction)

    title = traitlets.Unicode("").tag(sync=True)
    jobs = traitlets.List().tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    query = ViewState(PanelView, {})  # the view: search, status, requester, tag, page
    page_size = traitlets.Int(PAGE_SIZE).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)  # open jobs matching the view, on every page
    requesters = traitlets.List().tag(sync=True)  # [[email, open jobs]], for the filter
    tags = traitlets.List().tag(sync=True)  # [[tag, open jobs]], for the filter
    activity = traitlets.List().tag(sync=True)
    selected = ViewState(Selection, "")  # the open card
    file_view = traitlets.Dict().tag(sync=True)
    version = traitlets.Int(0).tag(sync=True)
    updated_at = traitlets.Unicode("").tag(sync=True)

    def __init__(self, server: Union[CodeQueueServer, JobSource], page_size: int = PAGE_SIZE, **kwargs: Any) -> None:
        source = source_for(server)
        if not isinstance(source.api, CodeQueueServer):
            raise TypeError("ApprovalPanel needs the owner's CodeQueueServer (a client cannot approve)")
        super().__init__(
            title=f"Review queue {source.api.queue_name!r} of {source.api.email}", page_size=page_size, **kwargs
        )
        self.source = source
        self._view = PanelView.model_validate(self.query)  # what ``_render`` applies
        self._rows = Rows(by_acceptance=True)  # the open jobs, flattened once per version
        self._arrived: Optional[set[str]] = None  # the jobs told of (None: not looked yet)
        self.server: CodeQueueServer = source.api
        self._releases = release_view.ReleaseSections(self.server)
        source.attach(self)
        self._render()

    def source_changed(self, changed: set[str]) -> None:
        with self._lock:
            self._render()

    # -- actions ------------------------------------------------------------------------
    def handle(self, action: Any) -> dict[str, Any]:
        if isinstance(action, REVIEW_ACTIONS):
            return self.review_handle(action)
        if isinstance(action, DismissAction):
            with self._lock:
                return self.dismiss()
        if isinstance(action, ApproveAction):
            job = self.server.approve_job(action.uid, action.reason, manifest_sha256=action.manifest_sha256)
            return {"message": f"Approved {job.name!r} [{job.short_uid}]"}
        if isinstance(action, RejectAction):
            job = self.server.reject_job(action.uid, action.reason)
            return {"message": f"Rejected {job.name!r} [{job.short_uid}]"}
        if isinstance(action, CancelAction):
            job = self.server.cancel_job(action.uid, action.reason or "cancelled by the data owner")
            return {"message": f"Cancelling {job.name!r} [{job.short_uid}]"}
        if isinstance(action, BulkAction):
            return self._bulk(action)
        if isinstance(action, OpenFileAction):
            return self._open_file(action)
        return release_view.handle(self.server, action)

    # -- view state (set by the front end or by Python; already valid) --------------------
    @traitlets.observe("query")
    def _query_changed(self, change: dict[str, Any]) -> None:
        if "source" not in self.__dict__:
            return  # set in __init__, which renders once set up
        with self._lock:
            view = PanelView.model_validate(change["new"])
            if view != self._view:  # not ``_render`` writing back the page it clamped
                self._view = view
                self._render()

    @traitlets.observe("selected")
    def _selected_changed(self, change: dict[str, Any]) -> None:
        if "source" not in self.__dict__:
            return
        with self._lock:
            self.file_view = {}  # a file shown belongs to the card that was open

    def _bulk(self, action: BulkAction) -> dict[str, Any]:
        if action.decision == "reject" and not action.reason.strip():
            raise ValueError("a reason is required to reject jobs")
        done, failures = 0, []
        for item in action.items:
            try:
                if action.decision == "approve":
                    if item.manifest_sha256 is None:
                        raise ValueError("no reviewed manifest hash")
                    self.server.approve_job(item.uid, action.reason, manifest_sha256=item.manifest_sha256)
                else:
                    self.server.reject_job(item.uid, action.reason)
                done += 1
            except (ValueError, LookupError) as exc:
                failures.append({"uid": item.uid, "error": str(exc)})
        verb = "Approved" if action.decision == "approve" else "Rejected"
        message = f"{verb} {done} of {len(action.items)} jobs"
        if failures:
            return {
                "ok": False,
                "message": message,
                "error": f"{message}; {len(failures)} failed",
                "failures": failures,
            }
        return {"message": message}

    def _open_file(self, action: OpenFileAction) -> dict[str, Any]:
        code = self.server.read_submitted_file(action.uid, action.path, FILE_PREVIEW_BYTES)
        binary = b"\0" in code.head[:8192]
        text = ""
        if not binary:
            try:
                text = code.head.decode("utf-8")
            except UnicodeDecodeError as exc:
                if code.truncated and exc.start >= len(code.head) - 3:  # a character cut by the cap
                    text = code.head[: exc.start].decode("utf-8")
                else:
                    binary = True
        with self._lock:
            self.selected = action.uid
            self.file_view = {
                "uid": action.uid,
                "path": code.entry.path,
                "size": code.entry.size,
                "sha256": code.entry.sha256,
                "binary": binary,
                "text": text,
                "shown_bytes": len(code.head),
                "truncated": code.truncated,
                "matches_manifest": code.matches_manifest,
            }
        return {}

    # -- rendering ------------------------------------------------------------------------
    def _render(self) -> None:
        jobs = self.source.jobs()
        open_jobs = [j for j in jobs if j.status in OPEN_STATUSES]
        counts = {s.value: 0 for s in OPEN_STATUSES}
        for job in open_jobs:
            counts[job.status.value] += 1
        recent = heapq.nlargest(
            ACTIVITY_ENTRIES,
            ((t, job) for job in jobs for t in job.history),
            key=lambda tj: tj[0].at,
        )
        view = self._view
        shown = JobQuery(  # in the order of OPEN_STATUSES, then oldest first: the longest wait on top
            statuses=(view.status,) if view.status else OPEN_STATUSES,
            requester=view.requester,
            tag=view.tag,
            search=view.search,
            sort="status",
            descending=False,
            offset=view.page * self.page_size,
            limit=self.page_size,
        ).page(open_jobs, self._rows)
        synced = self.source.synced_at
        by_uid = {j.uid: j for j in jobs}
        approved = self.review_context(jobs)
        self._arrived, news = arrivals(self._arrived, jobs)
        with self._lock, self.hold_sync():
            sections = self._releases.of(shown.jobs)
            self.jobs = [
                {**_card(j, self.review_card(j, approved, by_uid)), "release": section}
                for j, section in zip(shown.jobs, sections, strict=True)
            ]
            self.review_render({j.uid for j in open_jobs}, by_uid)
            self.notify(news, one="New job {item}", many="{count} new jobs")
            self.total = shown.total
            # The page shown, which is past the last one no more; the observer sees an equal view.
            self._view = view.model_copy(update={"page": shown.offset // self.page_size})
            self.query = self._view.model_dump(mode="json")
            self.requesters = _tally(j.requester_email for j in open_jobs)
            self.tags = _tally(t for j in open_jobs for t in j.tags)
            self.counts = counts
            self.activity = [
                {
                    "at": iso(t.at),
                    "uid": job.uid,
                    "short_uid": job.short_uid,
                    "name": job.name,
                    "requester": job.requester_email,
                    "status": t.status.value,
                    "by": t.by,
                    "reason": t.reason,
                }
                for t, job in recent
            ]
            self.updated_at = iso(synced) or ""
            self.version += 1


def _tally(values: Any) -> list[list[Any]]:
    """``[[value, count]]``, most frequent first, then by value."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [[v, n] for v, n in sorted(counts.items(), key=lambda vn: (-vn[1], vn[0]))]
