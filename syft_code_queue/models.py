"""Pydantic models for everything that crosses a boundary: files on disk, API results, CLI input.

The two on-disk documents have a single writer each: ``JobRequest`` (``job.json``) is written
by the requester, ``JobState`` (``state.json``) by the data owner. ``Job`` is the read-only
view the API returns, derived from both; it is never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

UID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
EMAIL_PATTERN = re.compile(r"^[^@\s/\\]+@[^@\s/\\]+$")
QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
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

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.rejected, JobStatus.cancelled})


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
    max_in_flight_per_requester: int = Field(default=100, gt=0)  # submissions still arriving
    max_output_files: int = Field(default=10_000, gt=0)  # outputs returned to the requester

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

    @field_validator("uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        return validate_uid(value)

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

    @property
    def manifest_sha256(self) -> str:
        return manifest_digest(self.files)


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


class JobResult(BaseModel):
    """What a run produced, as the owner publishes it to the requester."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exit_code: Optional[int] = None
    stdout: Optional[FileEntry] = None
    stderr: Optional[FileEntry] = None
    outputs: tuple[FileEntry, ...] = ()
    truncated: bool = False


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
    history: tuple[Transition, ...] = ()
    result: Optional[JobResult] = None
    error: Optional[str] = None
    cleaned_up: bool = False

    @property
    def updated_at(self) -> Optional[datetime]:
        return self.history[-1].at if self.history else None

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
    def files(self) -> list[FileEntry]:
        return list(self.request.files)

    @property
    def accepted_at(self) -> Optional[datetime]:
        """When the owner first recorded a state: the owner's clock, unlike ``created_at``."""
        return self.state.history[0].at if self.state and self.state.history else None

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
        if self.state and self.state.status.is_terminal:
            return self.state.updated_at
        return None

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
    def error(self) -> Optional[str]:
        """Why the job failed, was rejected or was cancelled (None otherwise)."""
        if not self.state:
            return None
        if self.state.error:
            return self.state.error
        if self.status in (JobStatus.rejected, JobStatus.cancelled, JobStatus.failed):
            return self.state.history[-1].reason or None
        return None

    def summary(self) -> dict[str, Any]:
        """A flat row for tables, DataFrames and the CLI."""
        return {
            "uid": self.uid,
            "name": self.name,
            "status": self.status.value,
            "requester_email": self.requester_email,
            "target_email": self.target_email,
            "tags": self.tags,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "exit_code": self.exit_code,
            "error": self.error,
        }

    def _repr_html_(self) -> str:
        from .listing.table import jobs_to_html  # rendering lives with the other tabular views

        return jobs_to_html([self])

    def __repr__(self) -> str:
        return f"Job(uid={self.uid!r}, name={self.name!r}, status={self.status.value!r})"

    def __str__(self) -> str:
        return f"{self.name} [{self.short_uid}] {self.status.value}"


class SubmitRequest(BaseModel):
    """Validated input of ``submit_code``; the API, the CLI and the form all go through it."""

    model_config = ConfigDict(extra="forbid")

    target_email: str
    code_folder: Path
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    auto_approval: bool = False

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
