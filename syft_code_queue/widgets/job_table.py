"""``JobTable``: a live table of a server's or a client's jobs.

Sorting, filtering and paging happen in Python, by the one listing query
(``listing/query.py``, as ``list_jobs`` does); the front end sets the view (``query``, a
``TableView``), ``paused`` and ``selected`` as synced view state (``base.ViewState``) and
receives only the rows of the page it shows (about 50), so 10,000 jobs cost the browser what
50 do. Python may set them too (``table.paused = True``). Updates keep the view: a refresh
re-applies the same query, and Python writes the page it clamped back into ``query``.

A new view (sort, filter, search, page, pause/resume) sends the whole page in ``rows``. A
job change sends a delta instead: ``row_order`` (the page's uids, only when it changed) and
``changed_rows`` (only the rows whose content differs from what was sent last); ``rows``
itself is then updated on the Python side without being sent, and the front end merges the
delta into its copy of ``rows``, so the model's state stays the whole page for new views.

On the requester's side the table also shows whether each owner's queue server is there
(``presence``), and a pending job whose owner is not reads "waiting for the owner's server".
A job's detail streams its log (``logs.py``), previews and downloads its outputs
(``outputs.py``), shows the datasets it reads and the runtime it runs in (the one recorded
once the owner accepted it, with its pins), and lets the requester cancel it or resubmit its
code as a new job. The requester is also told, in a notification, when one of their jobs
changes status (``notices.py``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Optional, Union

import traitlets
from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter

from ..client import CodeQueueClient
from ..listing.query import JobQuery, Page, Rows
from ..listing.table import jobs_to_dataframe
from ..models import DEFAULT_RUNTIME, Job, JobStatus, QueueStatus
from ..server import CodeQueueServer
from . import outputs
from .assets import esm
from .base import Action, QueueWidget, Selection, Uid, ViewState, iso
from .logs import LogAction, log_chunk
from .notices import DismissAction, Notices, status_changes
from .sources import Api, JobSource, source_for

SortKey = Literal["name", "uid", "party", "status", "created", "started", "finished", "duration", "tags"]
PAGE_SIZE = 50
CANCELLABLE = (JobStatus.pending, JobStatus.approved, JobStatus.running)


class TableView(BaseModel):
    """Which slice of the jobs the table shows (its ``query``)."""

    model_config = ConfigDict(extra="forbid")

    sort: SortKey = "created"
    descending: StrictBool = True
    statuses: list[JobStatus] = Field(default_factory=list, max_length=len(JobStatus))
    search: str = Field(default="", max_length=200)
    page: int = Field(default=0, ge=0)


class CancelAction(Action):
    kind: Literal["cancel"]
    uid: Uid
    reason: str = Field(default="", max_length=2000)


class ResubmitAction(Action):
    """Submit a job's code again, as a new job that supersedes it (the requester only)."""

    kind: Literal["resubmit"]
    uid: Uid


class OutputAction(Action):
    """Preview one output file of a job, or (``download``) send its bytes."""

    kind: Literal["output"]
    uid: Uid
    path: str = Field(min_length=1, max_length=4096)
    download: bool = False


TableAction = Annotated[
    Union[LogAction, CancelAction, ResubmitAction, OutputAction, DismissAction],
    Field(discriminator="kind"),
]


def presence_of(status: QueueStatus) -> dict[str, Any]:
    return {"owner": status.owner, "state": status.state, "last_seen": iso(status.last_seen)}


def runtime_of(job: Job) -> dict[str, Any]:
    """The job's runtime as its detail shows it: the record (name, interpreter version, lock
    hash, and the lock's pins when the owner accepted it with them), or before the owner
    accepted it only the name it asked for (``recorded`` False) and when it will be recorded:
    a declared runtime at acceptance, the default one (which has no lock) when the job runs."""
    record = job.runtime
    if record is None:
        when = "the owner accepts the job" if job.request.runtime else "the job runs"
        return {"name": job.request.runtime or DEFAULT_RUNTIME, "recorded": False, "note": f"recorded when {when}"}
    resolved = job.state.runtime if job.state else None
    same_lock = resolved is not None and resolved.lock_sha256 == record.lock_sha256
    return {
        "name": record.name,
        "python": record.python,
        "lock_sha256": record.lock_sha256,
        "pins": list(resolved.pins) if same_lock and resolved is not None else [],
        "recorded": True,
    }


def _public(job: Job, party: str, away: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One row as the front end shows it."""
    started, finished = job.started_at, job.finished_at
    return {
        "waiting": job.status == JobStatus.pending and job.target_email in away,
        "uid": job.uid,
        "short_uid": job.short_uid,
        "name": job.name,
        "party": getattr(job, party),
        "status": job.status.value,
        "created": iso(job.created_at),
        "started": iso(job.started_at),
        "finished": iso(job.finished_at),
        # Only when finished: the browser ticks a running job's duration itself, so an
        # update does not resend every running row just because time passed.
        "duration": max(0.0, (finished - started).total_seconds()) if started and finished else None,
        "tags": job.tags,
    }


class JobTable(QueueWidget, Notices):
    """Live, sortable, filterable table of jobs.

    ``JobTable(server)`` shows the queue's jobs on the owner's side, ``JobTable(client)``
    the requester's own jobs; both keep updating while other cells run."""

    _esm = esm("job_table.js")
    _actions = TypeAdapter(TableAction)

    title = traitlets.Unicode("").tag(sync=True)
    party_label = traitlets.Unicode("Requester").tag(sync=True)
    query = ViewState(TableView, {})
    page_size = traitlets.Int(PAGE_SIZE).tag(sync=True)
    rows = traitlets.List().tag(sync=True)  # the page; sent whole only for a new view
    row_order = traitlets.List().tag(sync=True)  # the page's uids, in order
    changed_rows = traitlets.List().tag(sync=True)  # a delta's new or changed rows ([] otherwise)
    total = traitlets.Int(0).tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    version = traitlets.Int(0).tag(sync=True)
    updated_at = traitlets.Unicode("").tag(sync=True)
    clock = traitlets.Float(0.0).tag(sync=True)  # Python's time at the push: the browser's offset
    paused = ViewState(StrictBool, False)  # a paused table keeps the jobs it froze
    selected = ViewState(Selection, "")  # the job whose detail is open
    detail = traitlets.Dict().tag(sync=True)
    presence = traitlets.List().tag(sync=True)  # the requester's side: each owner's queue status

    def __init__(self, api: Union[Api, JobSource], page_size: int = PAGE_SIZE, **kwargs: Any) -> None:
        source = source_for(api)
        owner_side = isinstance(source.api, CodeQueueServer)
        super().__init__(
            page_size=page_size,
            party_label="Requester" if owner_side else "Target",
            title=_title(source.api, owner_side),
            **kwargs,
        )
        self.source = source
        self._party = "requester_email" if owner_side else "target_email"
        self._view = TableView.model_validate(self.query)  # what ``_render`` applies
        self._rows_of_jobs = Rows(by_acceptance=owner_side)  # the jobs, flattened once per version
        self._frozen: Optional[list[Job]] = source.jobs() if self.paused else None
        self._quiet_rows = False
        self._statuses: Optional[dict[str, str]] = None  # the requester's jobs' statuses last told
        source.attach(self)
        self._render()
        if self.selected:
            self._load_detail(self.selected)

    # -- Python API ---------------------------------------------------------------------
    @property
    def df(self) -> Any:
        """The jobs of the current view (filter, search and sort; all pages) as a DataFrame,
        read afresh: a job that finished a moment ago shows as finished even before the
        table's next live update (a paused table keeps what it froze)."""
        with self._lock:
            jobs = self._frozen if self._frozen is not None else list(self.source.api.list_jobs())
            return jobs_to_dataframe(self._selected(jobs, Rows(), time.time(), whole=True).jobs)

    # -- updates --------------------------------------------------------------------------
    def source_changed(self, changed: set[str]) -> None:
        with self._lock:
            if self.paused:
                self._tell_changes()  # a paused table still tells
                return
            self._render(delta=True)
            if self.selected:  # an unchanged detail is not sent again
                self._load_detail(self.selected)

    # -- view state (set by the front end or by Python; already valid) --------------------
    @traitlets.observe("query")
    def _query_changed(self, change: dict[str, Any]) -> None:
        if "source" not in self.__dict__:
            return  # set in __init__, which renders once set up
        with self._lock:
            view = TableView.model_validate(change["new"])
            if view != self._view:  # not ``_render`` writing back the page it clamped
                self._view = view
                self._render()

    @traitlets.observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        if "source" not in self.__dict__:
            return
        with self._lock:
            self._frozen = self.source.jobs() if change["new"] else None
            self._render()

    @traitlets.observe("selected")
    def _selected_changed(self, change: dict[str, Any]) -> None:
        if "source" not in self.__dict__:
            return
        with self._lock:
            if change["new"]:
                self._load_detail(change["new"])
            else:
                self.detail = {}

    def handle(self, action: Any) -> dict[str, Any]:
        if isinstance(action, DismissAction):
            with self._lock:
                return self.dismiss()
        return self._job_action(action)

    def _tell_changes(self) -> None:
        """On the requester's side: a notification when one of their jobs changes status."""
        if self._party == "target_email":
            self._statuses, news = status_changes(self._statuses, self.source.jobs())
            self.notify(news, one="Job {item}", many="{count} of your jobs changed status")

    def _job(self, uid: str) -> Job:
        job = self.source.get(uid)
        return job if job is not None else self.source.api.get_job(uid)

    def _job_action(self, action: Any) -> dict[str, Any]:
        """What a job's detail asks for; these read files, outside the table's lock."""
        api = self.source.api
        job = self._job(action.uid)
        if isinstance(action, LogAction):
            return log_chunk(api, job, action)
        if isinstance(action, OutputAction):
            return (outputs.download if action.download else outputs.preview)(api, job, action.path)
        if isinstance(action, CancelAction):
            if isinstance(api, CodeQueueServer):
                api.cancel_job(action.uid, action.reason or "cancelled by the data owner")
            else:
                api.cancel_job(action.uid, action.reason or "cancelled by the requester")
            self.source.poll_now()
            return {"message": f"Cancellation of {job.name!r} [{job.short_uid}] requested"}
        if not isinstance(api, CodeQueueClient):
            raise ValueError("only the requester can resubmit a job; use a JobTable of their client")
        new = api.resubmit(action.uid)
        self.source.poll_now()
        return {
            "message": f"Resubmitted {job.name!r} as a new job [{new.short_uid}]",
            "job": {"uid": new.uid, "short_uid": new.short_uid},
        }

    def _should_send_property(self, key: str, value: Any) -> bool:
        if key == "rows" and self._quiet_rows:
            return False  # a delta carries the change; the front end merges it into ``rows``
        return super()._should_send_property(key, value)

    def _selected(self, jobs: list[Job], rows: Rows, now: float, whole: bool = False) -> Page:
        """The page the view shows (``whole``: every page), by the one listing query."""
        view = self._view
        sort = ("requester" if self._party == "requester_email" else "target") if view.sort == "party" else view.sort
        query = JobQuery(
            statuses=tuple(view.statuses),
            search=view.search,
            sort=sort,
            descending=view.descending,
            offset=0 if whole else view.page * self.page_size,
            limit=None if whole else self.page_size,
        )
        return query.page(jobs, rows, now)

    def _render(self, delta: bool = False) -> None:
        """Apply the current query to the current jobs and push one versioned snapshot:
        the whole page, or with ``delta`` only the page's order and the rows that changed."""
        now = time.time()
        jobs = self._frozen if self._frozen is not None else self.source.jobs()
        shown = self._selected(jobs, self._rows_of_jobs, now)
        synced = self.source.synced_at
        presence = self.source.presence()
        away = frozenset(owner for owner, status in presence.items() if not status.online)
        page_rows = [_public(job, self._party, away) for job in shown.jobs]
        changed: list[dict[str, Any]] = []
        if delta:
            sent = {row["uid"]: row for row in self.rows}
            changed = [row for row in page_rows if sent.get(row["uid"]) != row]
            delta = len(changed) * 2 <= len(page_rows)  # mostly new rows: the page is smaller
            if not delta:
                changed = []
        with self.hold_sync():
            self._tell_changes()  # in the same update as the rows that show the change
            self._quiet_rows = delta
            try:
                self.rows = page_rows
            finally:
                self._quiet_rows = False
            self.row_order = [row["uid"] for row in page_rows]
            self.changed_rows = changed
            self.total = shown.total
            self.counts = shown.counts
            # The page shown, which is past the last one no more; the observer sees an equal view.
            self._view = self._view.model_copy(update={"page": shown.offset // self.page_size})
            self.query = self._view.model_dump(mode="json")
            self.updated_at = iso(synced) or ""
            self.clock = now
            if self._party == "target_email":
                owners = {job.target_email for job in jobs}
                self.presence = [presence_of(presence[o]) for o in sorted(owners) if o in presence]
            self.version += 1

    def _load_detail(self, uid: str) -> None:
        job = self.source.get(uid)
        if job is None:
            self.detail = {"uid": uid, "missing": True}
            return
        result = job.state.result if job.state else None
        requester_side = self._party == "target_email"
        status = self.source.presence().get(job.target_email) if requester_side else None
        allowed = ["cancel"] if job.status in CANCELLABLE else []
        if requester_side and job.is_terminal:  # a new version once the owner has decided
            allowed.append("resubmit")
        self.detail = {
            "uid": job.uid,
            "short_uid": job.short_uid,
            "name": job.name,
            "description": job.description,
            "status": job.status.value,
            "requester": job.requester_email,
            "target": job.target_email,
            "error": job.error,
            "exit_code": job.exit_code,
            "supersedes": job.supersedes,
            "datasets": job.datasets,
            "runtime": runtime_of(job),
            "presence": presence_of(status) if status is not None else None,
            "waiting": job.status == JobStatus.pending and status is not None and not status.online,
            "allowed": allowed,
            "history": [
                {"status": t.status.value, "at": iso(t.at), "by": t.by, "reason": t.reason} for t in job.history
            ],
            "outputs": [{"path": f.path, "size": f.size} for f in (result.outputs if result else [])],
            "cleaned_up": bool(job.state and job.state.cleaned_up),
        }


def _title(api: Any, owner_side: bool) -> str:
    if owner_side:
        return f"Queue {api.queue_name!r} of {api.email}"
    return f"Jobs submitted by {api.email}"
