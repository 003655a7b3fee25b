"""Pydantic models for everything that crosses a boundary: files on disk, API results, CLI input.

The two on-disk documents have a single writer each: ``JobRequest`` (``job.json``) is written
by the requester, ``JobState`` (``state.json``) by the data owner. ``Job`` is the read-only
view the API returns, derived from both; it is never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Literal, NamedTuple, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

UID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
EMAIL_PATTERN = re.compile(r"^[^@\s/\\]+@[^@\s/\\]+$")
QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RUNTIME_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DEFAULT_RUNTIME = "default"  # the serving interpreter's own environment
# A dataset's name is a folder name on both sides and a path part inside the job.
DATASET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SCHEMA_VERSION = 1
# What any path a requester names may be: SyftBox and every file system here carry these.
MAX_PATH_PART_BYTES = 255
MAX_PATH_BYTES = 1_024
# Control characters (a NUL breaks every system call; the others forge terminal output) and
# the bidirectional overrides that make text read differently from what it is.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def validate_email(value: str) -> str:
    value = value.strip()
    if not EMAIL_PATTERN.match(value) or value in (".", ".."):
        raise ValueError(f"not a valid email address: {value!r}")
    return value


def aware(value: datetime) -> datetime:
    """A time a requester typed, with a time zone: one without is taken as UTC (comparing
    naive with aware times raises, and would break every listing that sorts by it)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def printable(value: str, what: str, allow: str = "") -> str:
    """``value`` when it holds no control or bidirectional-override character (other than
    those in ``allow``)."""
    found = [c for c in UNPRINTABLE.findall(value) if c not in allow]
    if found:
        raise ValueError(f"{what} must not contain control or bidirectional characters (found {found[0]!r})")
    return value


def validate_dataset_name(value: str) -> str:
    if not isinstance(value, str) or not DATASET_NAME_PATTERN.match(value):
        raise ValueError(
            f"a dataset name is 1-64 letters, digits, '_' or '-', starting with a letter or digit, not {value!r}"
        )
    return value


def validate_dataset_names(names: list[str]) -> list[str]:
    """A job's datasets: valid names, each named once (a repeat is a mistake, not a wish)."""
    for name in names:
        validate_dataset_name(name)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"dataset {repeated[0]!r} is named twice; name each dataset once")
    return names


def validate_uid(value: str) -> str:
    if not UID_PATTERN.match(value):
        raise ValueError(f"not a valid job uid (32 lowercase hex digits): {value!r}")
    return value


class JobStatus(str, Enum):
    """A job's lifecycle. Only the data owner's ``state.json`` ever sets it."""

    pending = "pending"
    approved = "approved"
    running = "running"
    completed = "completed"
    failed = "failed"
    rejected = "rejected"
    cancelled = "cancelled"
    # ran; its results wait in the owner's private storage for the owner's release
    awaiting_release = "awaiting_release"
    withheld = "withheld"  # ran; the owner released nothing, for the reason recorded
    # The owner sent it back with comments (in its history); the requester may resubmit.
    changes_requested = "changes_requested"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def label(self) -> str:
        """How tables and messages name the status for people."""
        return STATUS_LABELS.get(self, self.value)


TERMINAL_STATUSES = frozenset(
    {
        JobStatus.completed,
        JobStatus.failed,
        JobStatus.rejected,
        JobStatus.cancelled,
        JobStatus.withheld,
        JobStatus.changes_requested,
    }
)
STATUS_LABELS = {
    JobStatus.awaiting_release: "ran, waiting for the owner's release",
    JobStatus.changes_requested: "sent back for changes",
}

# Whose decision releases a job's results: a person, nobody (at once), or the output policy.
ReleasePolicy = Literal["manual", "auto", "checks"]
# An output check's word on one file: pass, a person should look, or it must not leave.
Verdict = Literal["pass", "review", "fail"]


class JobRef(NamedTuple):
    """A job's one identity: the requester whose inbox folder holds it, and its uid. Its
    string form ``"<requester>/<uid>"`` names the job's folder and keys it on the wire."""

    requester: str
    uid: str

    def __str__(self) -> str:
        return f"{self.requester}/{self.uid}"


class QueueConfig(BaseModel):
    """Settings shared by the client and the server of one queue."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    queue_name: str = "code-queue"
    max_concurrent_jobs: int = Field(default=3, ge=1, le=256)
    job_timeout: float = Field(default=600, gt=0)
    cleanup_completed_after: Optional[float] = Field(default=86400, gt=0)
    auto_approval_enabled: bool = False
    # How long a submission may stay "still arriving" before it is rejected as incomplete.
    arrival_timeout: float = Field(default=600, gt=0)
    # Safety-net full rescan period; pick-up itself is event driven.
    rescan_interval: float = Field(default=2.0, gt=0)
    # A job still running after this many seconds is published as running; one that ends
    # sooner goes straight to its final state (one write and one sync fewer). Either way its
    # start is forced to disk privately before it runs, so it is never run twice.
    running_shown_after: float = Field(default=0.25, ge=0)
    # Bounds on what a requester controls; a submission over one is rejected with the reason.
    max_request_bytes: int = Field(default=4 * 1024 * 1024, gt=0)  # the size of job.json
    max_code_files: int = Field(default=10_000, gt=0)  # entries of the manifest
    max_code_size: int = Field(default=512 * 1024 * 1024, gt=0)  # bytes of code, all files
    max_script_bytes: int = Field(default=256 * 1024, gt=0)  # run.sh, which the policy lexes
    max_in_flight_per_requester: int = Field(default=100, gt=0)  # still arriving, or being resolved
    max_output_files: int = Field(default=10_000, gt=0)  # outputs returned to the requester
    # How often the server rewrites its heartbeat: requesters call it offline after missing
    # about two of them (SyftBox takes seconds to carry a file).
    heartbeat_interval: float = Field(default=30.0, ge=1)
    # Who releases the results of a run (see the README's "Output release"); None: "manual"
    # for jobs that read a dataset, "auto" for jobs that read none.
    release_policy: Optional[ReleasePolicy] = None
    # Runtimes (the owner's side): whether a submission's requirements.txt is resolved and
    # installed for every runtime (each runtime may also allow it), which packages no
    # resolution may contain, and the size cap of the built environments' cache.
    allow_requirements: bool = False
    forbidden_packages: tuple[str, ...] = ()
    runtime_cache_size: int = Field(default=5 * 1024**3, gt=0)
    # A dataset's mock syncs to every one of its users: at most this many bytes.
    max_mock_size: int = Field(default=100 * 1024 * 1024, gt=0)

    @field_validator("queue_name")
    @classmethod
    def _queue_name(cls, value: str) -> str:
        if not QUEUE_NAME_PATTERN.match(value):
            raise ValueError(
                "queue_name must be 1-64 characters of letters, digits, '.', '_' or '-', "
                f"starting with a letter or digit: {value!r}"
            )
        return value


class FileEntry(BaseModel):
    """One file of a manifest: where it is, how big, and its content hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        pure = PurePosixPath(value)
        if (
            not value
            or "\\" in value
            or pure.is_absolute()
            or any(part in ("", ".", "..") for part in value.split("/"))
        ):
            raise ValueError(f"manifest path must be relative and stay inside the folder: {value!r}")
        printable(value, "a manifest path")
        if len(value.encode()) > MAX_PATH_BYTES:
            raise ValueError(f"manifest path is longer than {MAX_PATH_BYTES} bytes: {value[:80]!r}...")
        if any(len(part.encode()) > MAX_PATH_PART_BYTES for part in value.split("/")):
            raise ValueError(f"a manifest path part is longer than {MAX_PATH_PART_BYTES} bytes: {value[:80]!r}")
        return value


def manifest_digest(files: list[FileEntry]) -> str:
    """One hash naming a whole set of files, independent of listing order."""
    canonical = json.dumps(sorted((f.path, f.size, f.sha256) for f in files), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobRequest(BaseModel):
    """``inbox/<requester>/<uid>/job.json``: what the requester asks for. Requester-written."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    uid: str
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    requester_email: str
    target_email: str
    auto_approval: bool = False
    created_at: datetime
    files: list[FileEntry] = Field(min_length=1)
    # Context for the owner's output review: what the results are, the disclosure controls applied.
    release_notes: str = Field(default="", max_length=10_000)
    # The uid of the same requester's earlier job this one replaces (``client.resubmit``).
    supersedes: Optional[str] = None
    # The owner's runtime the job asks for; None: the default (left out of job.json then,
    # so owners whose server predates runtimes still accept the submission).
    runtime: Optional[str] = Field(default=None, pattern=RUNTIME_NAME_PATTERN)
    # The owner's datasets the job reads, by name; left out of job.json when empty, so a
    # server that predates datasets still accepts the job.
    datasets: list[str] = Field(default_factory=list, max_length=32)

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        return validate_uid(value)

    @field_validator("supersedes")
    @classmethod
    def _supersedes(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else validate_uid(value)

    @field_validator("requester_email", "target_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return validate_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("job name must not be empty")
        return printable(value, "the job name")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return printable(value, "the description", allow="\n\t")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned = [printable(t.strip(), "a tag") for t in value]
        bad = [t for t in cleaned if not t or len(t) > 64]
        if bad:
            raise ValueError("tags must be non-empty and at most 64 characters")
        return cleaned

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)

    @field_validator("files")
    @classmethod
    def _unique_paths(cls, value: list[FileEntry]) -> list[FileEntry]:
        paths = [f.path for f in value]
        if len(set(paths)) != len(paths):
            raise ValueError("manifest lists a path twice")
        if "run.sh" not in paths:
            raise ValueError("the code folder must contain run.sh")
        return value

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str]) -> list[str]:
        return validate_dataset_names(value)

    @property
    def manifest_sha256(self) -> str:
        return manifest_digest(self.files)

    def document(self) -> str:
        """``job.json``'s text. Fields left at their empty default (no release notes, nothing
        superseded, the default runtime, no dataset) are left out, so a server that predates
        them still accepts the job."""
        optional = (
            ("release_notes", self.release_notes),
            ("supersedes", self.supersedes),
            ("runtime", self.runtime),
            ("datasets", self.datasets),
        )
        unset = {name for name, value in optional if not value}
        return self.model_dump_json(indent=2, exclude=unset or None)


class Heartbeat(BaseModel):
    """``heartbeat.json`` at a queue's root: the serving process's sign of life, rewritten
    every ``interval`` seconds, and once more with ``stopped_at`` on a clean stop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    started_at: datetime
    last_seen: datetime
    interval: float = Field(gt=0)
    stopped_at: Optional[datetime] = None


class QueueStatus(BaseModel):
    """What a requester can tell about an owner's queue from its heartbeat."""

    model_config = ConfigDict(frozen=True)

    owner: str
    state: Literal["online", "offline", "no_queue"]
    last_seen: Optional[datetime] = None

    @property
    def online(self) -> bool:
        return self.state == "online"

    def describe(self, now: Optional[datetime] = None) -> str:
        """ "online, last seen 20 s ago", "offline since ...", or "no queue at this datasite"."""
        if self.state == "no_queue":
            return f"no queue at {self.owner}'s datasite (or it has not synced yet)"
        if self.last_seen is None:
            return "offline: its server has not been seen yet"
        ago = max(0.0, ((now or utcnow()) - self.last_seen).total_seconds())
        if self.state == "online":
            return f"online, last seen {ago:.0f} s ago"
        return f"offline since {self.last_seen.isoformat(timespec='seconds')}"


class CancelRequest(BaseModel):
    """``inbox/<requester>/<uid>/cancel.json``: the requester asks to stop a job."""

    model_config = ConfigDict(extra="forbid")

    uid: str
    requested_at: datetime
    reason: str = Field(default="cancelled by requester", max_length=2000)

    @field_validator("requested_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return aware(value)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return printable(value, "the cancel reason", allow="\n\t")


class Transition(BaseModel):
    """One entry of a job's audit history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: JobStatus
    at: datetime
    by: str
    reason: str = ""


class StartRecord(BaseModel):
    """A worker's entry in the owner's private start journal: the job it started last."""

    model_config = ConfigDict(extra="forbid")

    requester_email: str
    uid: str
    at: datetime


class TrustRule(BaseModel):
    """Code the owner trusts: a later submission of the same bytes (except ``variable_files``)
    from one of ``requesters``, for datasets within ``datasets``, is approved without a person,
    until ``expires``. Stored privately by the owner (``trust.json``), never synced.

    Given to ``approve_job(uid, trust=TrustRule(...))`` only the terms are set; ``requesters``
    and ``datasets`` left as None take the approved job's, and the approval pins the rest:
    ``files`` (the job's manifest minus the variable files), the runtime the job asked for and
    the hash of the lock its packages were resolved into (``runtime``, ``lock_sha256``: an
    approval covers the packages too, so a rerun whose requirements resolve differently, even
    through a variable file, is not approved by the rule), ``source_uid``, ``id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{12}$")
    requesters: Optional[tuple[str, ...]] = None
    datasets: Optional[tuple[str, ...]] = None
    variable_files: tuple[str, ...] = ()
    expires: Optional[datetime] = None
    files: tuple[FileEntry, ...] = ()
    runtime: Optional[str] = Field(default=None, pattern=RUNTIME_NAME_PATTERN)
    lock_sha256: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    source_uid: Optional[str] = None
    created_at: Optional[datetime] = None
    created_by: Optional[str] = None

    @field_validator("requesters")
    @classmethod
    def _requesters(cls, value: Optional[tuple[str, ...]]) -> Optional[tuple[str, ...]]:
        if value is not None and not value:
            raise ValueError("a trust rule needs at least one requester (or None for the approved job's)")
        return None if value is None else tuple(validate_email(v) for v in value)

    @field_validator("variable_files")
    @classmethod
    def _variable_files(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            FileEntry._relative_path(path)
            if path == "run.sh":
                raise ValueError("run.sh cannot be a variable file: it is the code that runs")
        return tuple(sorted(set(value)))

    @field_validator("expires", mode="before")
    @classmethod
    def _expires(cls, value: Any) -> Any:
        """A duration (``timedelta``) counts from now."""
        return utcnow() + value if isinstance(value, timedelta) else value

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: Optional[datetime]) -> Optional[datetime]:
        return None if value is None else aware(value)

    @field_validator("source_uid")
    @classmethod
    def _source_uid(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else validate_uid(value)

    def expired(self, now: Optional[datetime] = None) -> bool:
        return self.expires is not None and (now or utcnow()) >= self.expires


class TrustRules(BaseModel):
    """The owner's private ``<queue>.trust.json``: every trust rule in force."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    rules: tuple[TrustRule, ...] = ()


AuditKind = Literal["transition", "file_view", "diff_view", "release", "trust_added", "trust_revoked"]


class AuditRecord(BaseModel):
    """One line of the owner's private audit log: what happened to which job, by whom, when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    kind: AuditKind
    by: str
    uid: Optional[str] = None
    requester: Optional[str] = None
    # What the kind needs said: the status and reason of a transition, the path viewed, the
    # rule changed, a release decision.
    details: dict[str, Union[str, int, float, bool, None]] = Field(default_factory=dict)


class RuntimeRecord(BaseModel):
    """The runtime a job ran in: its name, the interpreter's version, and the hash of the
    pinned lock its environment was built from (None for the default runtime, which is the
    owner's own environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    python: str
    lock_sha256: Optional[str] = None


class ResolvedRuntime(RuntimeRecord):
    """The runtime the owner accepted a job with: the pins of its lock (``name==version``),
    shown at review and covered by the approval; ``requirements``: the submission's
    requirements.txt was resolved into them."""

    pins: tuple[str, ...] = ()
    requirements: bool = False

    def record(self) -> RuntimeRecord:
        return RuntimeRecord(name=self.name, python=self.python, lock_sha256=self.lock_sha256)


class JobResult(BaseModel):
    """What a run produced, as the owner publishes it to the requester."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exit_code: Optional[int] = None
    stdout: Optional[FileEntry] = None
    stderr: Optional[FileEntry] = None
    outputs: tuple[FileEntry, ...] = ()
    truncated: bool = False
    runtime: Optional[RuntimeRecord] = None


class ReleasedFile(FileEntry):
    """One file of a release: its bytes, the owner's decision and the output checks' verdict."""

    decision: Literal["released"] = "released"
    verdict: Verdict
    messages: tuple[str, ...] = ()


RELEASE_SCHEMA_VERSION = 1


class Release(BaseModel):
    """The owner's release decision: ``review/<requester>/<uid>/release.json``, also recorded in
    the state (``Job.release``). Files not released are only counted: a name can carry data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = RELEASE_SCHEMA_VERSION
    uid: str
    requester_email: str
    decided_by: str
    decided_at: datetime
    reason: str = ""
    logs_released: bool
    files: tuple[ReleasedFile, ...] = ()  # released outputs, paths relative to ``outputs/``
    logs: tuple[ReleasedFile, ...] = ()  # released ``stdout.txt`` and ``stderr.txt``
    withheld_files: int = Field(default=0, ge=0)  # held files (logs included) not released


class DatasetPin(BaseModel):
    """A dataset a job may read, as the owner accepted it: by name and by the registration
    that name had then. A dataset removed or registered again under the name no longer
    matches, and the job fails instead of reading other data than was reviewed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    registration: str = Field(pattern=r"^[0-9a-f-]{8,64}$")


class JobState(BaseModel):
    """``review/<requester>/<uid>/state.json``: the one source of truth for status. Owner-written.

    Frozen, like its parts: a change is a new version, so the stores can hand out the version
    they parsed or wrote without anyone changing it under them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    uid: str
    requester_email: str
    status: JobStatus
    # The manifest the owner reviewed; the runner refuses bytes that differ from it.
    manifest_sha256: Optional[str] = None
    # The datasets the approval grants, pinned; left out of state.json when there are none.
    datasets: tuple[DatasetPin, ...] = ()
    history: tuple[Transition, ...] = ()
    result: Optional[JobResult] = None
    error: Optional[str] = None
    cleaned_up: bool = False
    release: Optional[Release] = None
    # Set at acceptance when the job has a runtime other than the plain default: the pins the
    # owner reviews and approves; the run builds exactly that lock.
    runtime: Optional[ResolvedRuntime] = None

    @property
    def updated_at(self) -> Optional[datetime]:
        return self.history[-1].at if self.history else None

    def document(self) -> str:
        """``state.json``'s text. Fields left at their empty default (None: no release
        decision, no runtime, ...; no dataset pins) are left out, so a requester's client that
        predates them still reads the states of jobs that do not use them."""
        return self.model_dump_json(indent=2, exclude_none=True, exclude=None if self.datasets else {"datasets"})

    @property
    def ref(self) -> JobRef:
        return JobRef(self.requester_email, self.uid)

    @property
    def published(self) -> bool:
        """Whether ``result`` lists logs and outputs in the review folder: not while they are
        held, nor once withheld or cleaned up."""
        held = self.status in (JobStatus.awaiting_release, JobStatus.withheld)
        return self.result is not None and not self.cleaned_up and not held

    def entered(self, status: JobStatus) -> Optional[datetime]:
        """When the job last entered ``status``, derived from the history."""
        for t in reversed(self.history):
            if t.status == status:
                return t.at
        return None


class Job(BaseModel):
    """The API's view of a job: the request joined with the owner's state (if any yet)."""

    model_config = ConfigDict(frozen=True)

    request: JobRequest
    state: Optional[JobState] = None
    # The owner's view only: the requester's inbox copy of job.json no longer matches the
    # copy the owner accepted (which is what is shown, approved and run).
    changed_after_acceptance: bool = False

    # --- request fields -------------------------------------------------------------
    @property
    def uid(self) -> str:
        return self.request.uid

    @property
    def short_uid(self) -> str:
        return self.request.uid[:8]

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def description(self) -> str:
        return self.request.description

    @property
    def tags(self) -> list[str]:
        return list(self.request.tags)

    @property
    def requester_email(self) -> str:
        return self.request.requester_email

    @property
    def target_email(self) -> str:
        return self.request.target_email

    @property
    def auto_approval(self) -> bool:
        return self.request.auto_approval

    @property
    def created_at(self) -> datetime:
        return self.request.created_at

    @property
    def release_notes(self) -> str:
        return self.request.release_notes

    @property
    def files(self) -> list[FileEntry]:
        return list(self.request.files)

    @property
    def accepted_at(self) -> Optional[datetime]:
        """When the owner first recorded a state: the owner's clock, unlike ``created_at``."""
        return self.state.history[0].at if self.state and self.state.history else None

    @property
    def supersedes(self) -> Optional[str]:
        """The uid of the earlier job this one was resubmitted in place of, if any."""
        return self.request.supersedes

    @property
    def datasets(self) -> list[str]:
        """The owner's datasets the job reads (its results are then derived from them)."""
        return list(self.request.datasets)

    # --- state fields ---------------------------------------------------------------
    @property
    def status(self) -> JobStatus:
        """Pending until the owner has written a state: the owner is the only source."""
        return self.state.status if self.state else JobStatus.pending

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def history(self) -> list[Transition]:
        return list(self.state.history) if self.state else []

    @property
    def updated_at(self) -> datetime:
        return (self.state.updated_at if self.state else None) or self.created_at

    @property
    def started_at(self) -> Optional[datetime]:
        return self.state.entered(JobStatus.running) if self.state else None

    @property
    def finished_at(self) -> Optional[datetime]:
        """When the run ended (a release later does not move it), or the job was settled."""
        if self.state is None:
            return None
        ran_until = self.state.entered(JobStatus.awaiting_release)
        return ran_until or (self.state.updated_at if self.state.status.is_terminal else None)

    @property
    def duration(self) -> Optional[float]:
        """Seconds spent running (until now while it runs)."""
        start = self.started_at
        if start is None:
            return None
        end = self.finished_at or utcnow()
        return max(0.0, (end - start).total_seconds())

    @property
    def exit_code(self) -> Optional[int]:
        return self.state.result.exit_code if self.state and self.state.result else None

    @property
    def runtime(self) -> Optional[RuntimeRecord]:
        """The runtime the job ran in once finished; before that, the one it was accepted with."""
        if self.state and self.state.result and self.state.result.runtime:
            return self.state.result.runtime
        return self.state.runtime if self.state else None

    @property
    def error(self) -> Optional[str]:
        """Why the job failed, was rejected, cancelled or sent back for changes (None otherwise)."""
        if not self.state:
            return None
        if self.state.error:
            return self.state.error
        if self.status in (
            JobStatus.rejected,
            JobStatus.cancelled,
            JobStatus.failed,
            JobStatus.withheld,
            JobStatus.changes_requested,
        ):
            return self.state.history[-1].reason or None
        return None

    @property
    def release(self) -> Optional[Release]:
        """The owner's release decision: which files and logs were released, why, by whom."""
        return self.state.release if self.state else None

    def summary(self) -> dict[str, Any]:
        """A flat row for tables, DataFrames and the CLI."""
        return {
            "uid": self.uid,
            "name": self.name,
            "status": self.status.value,
            "requester_email": self.requester_email,
            "target_email": self.target_email,
            "tags": self.tags,
            "datasets": self.datasets,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "exit_code": self.exit_code,
            "error": self.error,
            "supersedes": self.supersedes,
        }

    def _repr_html_(self) -> str:
        from .listing.table import jobs_to_html  # rendering lives with the other tabular views

        return jobs_to_html([self])

    def __repr__(self) -> str:
        return f"Job(uid={self.uid!r}, name={self.name!r}, status={self.status.value!r})"

    def __str__(self) -> str:
        return f"{self.name} [{self.short_uid}] {self.status.label}"


class SubmitRequest(BaseModel):
    """Validated input of ``submit_code``; the API, the CLI and the form all go through it."""

    model_config = ConfigDict(extra="forbid")

    target_email: str
    code_folder: Path
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    auto_approval: bool = False
    release_notes: str = Field(default="", max_length=10_000)
    runtime: Optional[str] = Field(default=None, pattern=RUNTIME_NAME_PATTERN)
    datasets: list[str] = Field(default_factory=list, max_length=32)

    @field_validator("datasets", mode="before")
    @classmethod
    def _dataset_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str]) -> list[str]:
        return validate_dataset_names(value)

    @field_validator("target_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return validate_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return JobRequest._name(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [t for t in value.split(",")]
        if isinstance(value, (list, tuple)):
            return [t.strip() for t in value if str(t).strip()]
        return value


# --- datasets ------------------------------------------------------------------------

DATASET_USERS_ANY = "*"
DATASET_GENERATOR = "syft-code-queue"


def validate_users(value: Any) -> tuple[str, ...]:
    """A dataset's audience: ``"*"`` (every SyftBox user) or a list of emails."""
    if isinstance(value, str):
        value = [value]
    users = tuple(dict.fromkeys(str(v).strip() for v in value))
    if DATASET_USERS_ANY in users:
        if len(users) > 1:
            raise ValueError("users is either '*' (everyone) or a list of emails, not both")
        return users
    return tuple(validate_email(user) for user in users)


class DatasetRecord(BaseModel):
    """``datasets/<name>.json`` in the owner's private folder: where the private part is and
    who may use it. Owner-written, never synced: the requester never learns the path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    name: str
    registration: str  # a new one whenever the name is registered again or its data changes
    private_path: Path
    users: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_dataset_name(value)

    @field_validator("users", mode="before")
    @classmethod
    def _users(cls, value: Any) -> tuple[str, ...]:
        return validate_users(value)

    def allows(self, email: str) -> bool:
        return DATASET_USERS_ANY in self.users or email in self.users


class DatasetMetadata(BaseModel):
    """``dataset.yaml``: a dataset's public metadata, syft-dataset's v1 document (its
    ``uid`` is our registration) plus our keys: ``generator`` first and
    ``mock_manifest_sha256`` last, so a document still syncing (a prefix of it) is told from
    a whole one; ``mock_note``; and ``mock_files``, the mock's manifest, which tells a
    requester when the mock has fully synced. Documents other tools wrote lack our keys and
    may carry keys of their own."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    generator: Optional[str] = None
    canonical_name: str = "Dataset"
    version: str = "1"
    uid: str
    created_at: datetime
    updated_at: datetime
    name: str
    summary: Optional[str] = None
    tags: list[str] = Field(default_factory=list)
    location: Optional[str] = None
    mock_url: Optional[str] = None
    private_url: Optional[str] = None
    readme_url: Optional[str] = None
    mock_files_urls: list[str] = Field(default_factory=list)
    mock_note: Optional[str] = None
    mock_files: Optional[list[FileEntry]] = None
    mock_manifest_sha256: Optional[str] = None

    @property
    def ours(self) -> bool:
        return self.generator == DATASET_GENERATOR

    @property
    def whole(self) -> bool:
        """False for a document of ours caught mid-sync: its last key is missing or does
        not match the manifest above it."""
        if not self.ours:
            return True
        return self.mock_files is not None and self.mock_manifest_sha256 == manifest_digest(self.mock_files)

    @field_validator("uid", mode="before")
    @classmethod
    def _uid(cls, value: Any) -> str:
        return str(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return value or []


class AddDataset(BaseModel):
    """Validated input of ``add_dataset`` and ``update_dataset``; the API and the CLI go
    through it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    private_path: Path
    mock_path: Optional[Path] = None
    summary: str = Field(default="", max_length=1_000)
    readme: Optional[str] = Field(default=None, max_length=200_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    users: tuple[str, ...] = (DATASET_USERS_ANY,)
    mock_note: str = Field(default="", max_length=2_000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_dataset_name(value)

    @field_validator("users", mode="before")
    @classmethod
    def _users(cls, value: Any) -> tuple[str, ...]:
        return validate_users(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return SubmitRequest._split_tags(value)
