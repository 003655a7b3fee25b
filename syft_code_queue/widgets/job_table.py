"""``JobTable``: a live table of a server's or a client's jobs.

Sorting, filtering and paging happen here in Python; the front end asks for a view and
receives only the rows of the page it shows (about 50), so 10,000 jobs cost the browser
what 50 do. Updates keep the view: a refresh re-applies the same query.

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
code as a new job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Optional, Union

import traitlets
from pydantic import Field, TypeAdapter

from ..client import CodeQueueClient
from ..listing.table import jobs_to_dataframe
from ..models import DEFAULT_RUNTIME, Job, JobStatus, QueueStatus
from ..server import CodeQueueServer
from . import outputs
from .assets import esm
from .base import Action, QueueWidget, Uid, iso
from .logs import LogAction, log_chunk
from .sources import Api, JobSource, source_for

SortKey = Literal["name", "uid", "party", "status", "created", "started", "finished", "duration", "tags"]
STATUS_ORDER = {status: i for i, status in enumerate(JobStatus)}
PAGE_SIZE = 50
CANCELLABLE = (JobStatus.pending, JobStatus.approved, JobStatus.running)


class ViewAction(Action):
    """Which slice of the jobs the front end shows."""

    kind: Literal["view"]
    sort: SortKey = "created"
    descending: bool = True
    statuses: list[JobStatus] = Field(default_factory=list, max_length=len(JobStatus))
    search: str = Field(default="", max_length=200)
    page: int = Field(default=0, ge=0)


class PauseAction(Action):
    kind: Literal["pause"]
    paused: bool


class SelectAction(Action):
    """Open (or with ``uid=None`` close) a job's detail; sent again to refresh it."""

    kind: Literal["select"]
    uid: Optional[Uid] = None


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
    Union[ViewAction, PauseAction, SelectAction, LogAction, CancelAction, ResubmitAction, OutputAction],
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


@dataclass(frozen=True)
class _Row:
    """A job flattened once (per version of the job) for filtering and sorting."""

    job: Job
    haystack: str
    created: float
    started: Optional[float]
    finished: Optional[float]

    @classmethod
    def of(cls, job: Job, party: str) -> "_Row":
        started, finished = job.started_at, job.finished_at
        words = [job.name, job.uid, getattr(job, party), job.status.value, *job.tags]
        return cls(
            job=job,
            haystack="\n".join(words).lower(),
            created=job.created_at.timestamp(),
            started=started.timestamp() if started else None,
            finished=finished.timestamp() if finished else None,
        )

    def duration(self, now: float) -> Optional[float]:
        if self.started is None:
            return None
        return max(0.0, (self.finished or now) - self.started)

    def public(self, party: str, now: float, away: frozenset[str] = frozenset()) -> dict[str, Any]:
        job = self.job
        waiting = job.status == JobStatus.pending and job.target_email in away
        return {
            "waiting": waiting,
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
            "duration": self.duration(now) if self.finished is not None else None,
            "tags": job.tags,
        }


# How each sortable column orders rows: f(row, party attribute, now).
SORT_VALUE: dict[str, Callable[[_Row, str, float], Any]] = {
    "name": lambda r, party, now: r.job.name.lower(),
    "uid": lambda r, party, now: r.job.uid,
    "party": lambda r, party, now: getattr(r.job, party),
    "status": lambda r, party, now: STATUS_ORDER[r.job.status],
    "created": lambda r, party, now: r.created,
    "started": lambda r, party, now: r.started,
    "finished": lambda r, party, now: r.finished,
    "duration": lambda r, party, now: r.duration(now),
    "tags": lambda r, party, now: ",".join(r.job.tags).lower() or None,
}


class JobTable(QueueWidget):
    """Live, sortable, filterable table of jobs.

    ``JobTable(server)`` shows the queue's jobs on the owner's side, ``JobTable(client)``
    the requester's own jobs; both keep updating while other cells run."""

    _esm = esm("job_table.js")
    _actions = TypeAdapter(TableAction)

    title = traitlets.Unicode("").tag(sync=True)
    party_label = traitlets.Unicode("Requester").tag(sync=True)
    query = traitlets.Dict().tag(sync=True)
    page_size = traitlets.Int(PAGE_SIZE).tag(sync=True)
    rows = traitlets.List().tag(sync=True)  # the page; sent whole only for a new view
    row_order = traitlets.List().tag(sync=True)  # the page's uids, in order
    changed_rows = traitlets.List().tag(sync=True)  # a delta's new or changed rows ([] otherwise)
    total = traitlets.Int(0).tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    version = traitlets.Int(0).tag(sync=True)
    updated_at = traitlets.Unicode("").tag(sync=True)
    clock = traitlets.Float(0.0).tag(sync=True)  # Python's time at the push: the browser's offset
    paused = traitlets.Bool(False).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
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
        self._query = ViewAction(kind="view", id="init")
        self._cache: dict[str, _Row] = {}
        self._frozen: Optional[list[Job]] = None
        self._quiet_rows = False
        source.attach(self)
        self._render()

    # -- Python API ---------------------------------------------------------------------
    @property
    def df(self) -> Any:
        """The jobs of the current view (filter, search and sort; all pages) as a DataFrame,
        read afresh: a job that finished a moment ago shows as finished even before the
        table's next live update (a paused table keeps what it froze)."""
        with self._lock:
            jobs = self._frozen if self._frozen is not None else list(self.source.api.list_jobs())
            rows, _counts = self._select([_Row.of(job, self._party) for job in jobs], time.time())
            return jobs_to_dataframe(row.job for row in rows)

    # -- updates --------------------------------------------------------------------------
    def source_changed(self, changed: set[str]) -> None:
        with self._lock:
            if self.paused:
                return
            self._render(delta=True)
            if self.selected:  # an unchanged detail is not sent again
                self._load_detail(self.selected)

    def handle(self, action: Any) -> dict[str, Any]:
        if isinstance(action, (LogAction, CancelAction, ResubmitAction, OutputAction)):
            return self._job_action(action)
        with self._lock:
            if isinstance(action, ViewAction):
                self._query = action
                self._render()
            elif isinstance(action, PauseAction):
                self._frozen = self.source.jobs() if action.paused else None
                self.paused = action.paused
                self._render()
            else:
                self.selected = action.uid or ""
                if action.uid:
                    self._load_detail(action.uid)
                else:
                    self.detail = {}
        return {}

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

    def _rows(self) -> list[_Row]:
        jobs = self._frozen if self._frozen is not None else self.source.jobs()
        cache, rows = {}, []
        for job in jobs:
            row = self._cache.get(job.uid)
            if row is None or row.job is not job:
                row = _Row.of(job, self._party)
            cache[job.uid] = row
            rows.append(row)
        self._cache = cache
        return rows

    def _should_send_property(self, key: str, value: Any) -> bool:
        if key == "rows" and self._quiet_rows:
            return False  # a delta carries the change; the front end merges it into ``rows``
        return super()._should_send_property(key, value)

    def _select(self, rows: list[_Row], now: float) -> tuple[list[_Row], dict[str, int]]:
        """The rows the query shows, sorted, and the search's count per status (for the chips)."""
        query = self._query
        needle = query.search.strip().lower()
        if needle:
            rows = [r for r in rows if needle in r.haystack]
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.job.status.value] = counts.get(row.job.status.value, 0) + 1
        if query.statuses:
            wanted = set(query.statuses)
            rows = [r for r in rows if r.job.status in wanted]
        value = SORT_VALUE[query.sort]
        return _sorted(rows, lambda r: value(r, self._party, now), query.descending), counts

    def _render(self, delta: bool = False) -> None:
        """Apply the current query to the current jobs and push one versioned snapshot:
        the whole page, or with ``delta`` only the page's order and the rows that changed."""
        query = self._query
        now = time.time()
        rows, counts = self._select(self._rows(), now)
        last_page = max(0, (len(rows) - 1) // self.page_size)
        page = min(query.page, last_page)
        shown = rows[page * self.page_size : (page + 1) * self.page_size]
        synced = self.source.synced_at
        presence = self.source.presence()
        away = frozenset(owner for owner, status in presence.items() if not status.online)
        page_rows = [r.public(self._party, now, away) for r in shown]
        changed: list[dict[str, Any]] = []
        if delta:
            sent = {row["uid"]: row for row in self.rows}
            changed = [row for row in page_rows if sent.get(row["uid"]) != row]
            delta = len(changed) * 2 <= len(page_rows)  # mostly new rows: the page is smaller
            if not delta:
                changed = []
        with self.hold_sync():
            self._quiet_rows = delta
            try:
                self.rows = page_rows
            finally:
                self._quiet_rows = False
            self.row_order = [row["uid"] for row in page_rows]
            self.changed_rows = changed
            self.total = len(rows)
            self.counts = counts
            self.query = {**query.model_dump(exclude={"id", "kind"}, mode="json"), "page": page}
            self.updated_at = iso(synced) or ""
            self.clock = now
            if self._party == "target_email":
                owners = {r.job.target_email for r in rows} | {r.job.target_email for r in self._cache.values()}
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


def _sorted(rows: list[_Row], key: Any, descending: bool) -> list[_Row]:
    """Sort by ``key``; rows without a value (not started yet, ...) always go last."""
    keyed = [(key(r), r) for r in rows]
    present = [(k, r) for k, r in keyed if k is not None]
    missing = [r for k, r in keyed if k is None]
    present.sort(key=lambda kr: (kr[0], kr[1].created), reverse=descending)
    return [r for _, r in present] + missing


def _title(api: Any, owner_side: bool) -> str:
    if owner_side:
        return f"Queue {api.queue_name!r} of {api.email}"
    return f"Jobs submitted by {api.email}"
