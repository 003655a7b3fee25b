"""The on-disk protocol: the one place that knows where a job's files live.

Requester side writes only ``inbox/<requester>/<uid>/`` (``job.json``, ``code/``, an optional
``cancel.json``); owner side writes only ``review/<requester>/<uid>/`` (``state.json``,
``stdout.txt``, ``stderr.txt``, ``outputs/``). Status is read from ``state.json`` only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import IO, Iterator, Optional

from pydantic import ValidationError

from .models import (
    ALLOWED_TRANSITIONS,
    CancelRequest,
    FileEntry,
    Job,
    JobRequest,
    JobResult,
    JobState,
    JobStatus,
    Transition,
    UID_PATTERN,
    EMAIL_PATTERN,
    utcnow,
)
from .syftbox import (
    LEGACY_PERMISSION_FILE,
    PERMISSION_FILE,
    FileIdentity,
    VerifiedFiles,
    Workspace,
    atomic_write,
    atomic_write_json,
    compare_to_manifest,
    file_identity,
    folder_entries,
    legacy_permissions_yaml,
    never_synced,
    queue_permissions_yaml,
    read_versioned,
    rejected_copy,
    sha256_file,
    write_if_changed,
)
from .recent import Recent

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
CANCEL_FILE = "cancel.json"
STATE_FILE = "state.json"
CODE_DIR = "code"
OUTPUTS_DIR = "outputs"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PUBLISHED_MODE = 0o644  # what the owner's SyftBox client needs to read and upload
STARTED = "started"  # the reason recorded with every running step
WITHHELD_NOTE = "\n[syft-code-queue: outputs not returned (SyftBox does not sync them): {}]\n"


class JobNotFoundError(LookupError):
    """No job with that uid is visible to this identity."""


class InvalidTransitionError(ValueError):
    """The job's current status does not allow the requested action."""


class SubmissionError(ValueError):
    """A submission that can never be accepted (the reason is recorded as a rejection)."""


class StillArriving(Exception):
    """A submission whose files have not all synced yet: wait, don't reject."""


@dataclass(frozen=True)
class CodeFile:
    """The first bytes of one submitted file, shown to the reviewer.

    ``matches_manifest`` tells whether the bytes on disk are the ones the manifest (and so
    an approval) pins: a reviewer must not be shown code that is not what would run."""

    entry: FileEntry
    head: bytes
    matches_manifest: bool

    @property
    def truncated(self) -> bool:
        return len(self.head) < self.entry.size


JOB_PATHS_KEPT = 4_096  # enough for every job in flight; a full listing cycles through it
STATES_KEPT = 1_024  # state versions an owner store remembers writing: the jobs in flight


class JobPaths:
    """One job's folders and files (made on first use)."""

    def __init__(self, submission: Path, review: Path) -> None:
        self.submission = submission
        self.review = review

    @cached_property
    def job_file(self) -> Path:
        return self.submission / JOB_FILE

    @cached_property
    def code_dir(self) -> Path:
        return self.submission / CODE_DIR

    @cached_property
    def cancel_file(self) -> Path:
        return self.submission / CANCEL_FILE

    @cached_property
    def state_file(self) -> Path:
        return self.review / STATE_FILE

    @cached_property
    def outputs_dir(self) -> Path:
        return self.review / OUTPUTS_DIR


@dataclass(frozen=True)
class QueueLayout:
    """Paths of one queue on one owner's datasite, as seen from any SyftBox root."""

    datasites: Path
    owner: str
    queue: str
    # A job's paths are made once: the server, the index and the clients join them for every
    # file of every job they look at, and joining paths is much of their work.
    _jobs: dict[tuple[str, str], "JobPaths"] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @cached_property
    def root(self) -> Path:
        return self.datasites / self.owner / "app_data" / self.queue

    @cached_property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @cached_property
    def review(self) -> Path:
        return self.root / "review"

    def job(self, requester: str, uid: str) -> "JobPaths":
        paths = self._jobs.get((requester, uid))
        if paths is None:
            if len(self._jobs) >= JOB_PATHS_KEPT:
                self._jobs.clear()
            paths = JobPaths(Path(f"{self.inbox}/{requester}/{uid}"), Path(f"{self.review}/{requester}/{uid}"))
            self._jobs[(requester, uid)] = paths
        return paths

    def submission(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).submission

    def job_file(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).job_file

    def code_dir(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).code_dir

    def cancel_file(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).cancel_file

    def review_dir(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).review

    def state_file(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).state_file

    def outputs_dir(self, requester: str, uid: str) -> Path:
        return self.job(requester, uid).outputs_dir

    def locate(self, path: str) -> Optional["Scope"]:
        """Which jobs a change at ``path`` (or below it) can affect; None: no job's."""
        root = str(self.root)
        if path == root:
            return ALL_JOBS
        if not path.startswith(root + os.sep):
            return None
        parts = path[len(root) + 1 :].split(os.sep)
        if parts[0] not in (self.inbox.name, self.review.name):
            return None
        if len(parts) == 1:
            return ALL_JOBS
        if not EMAIL_PATTERN.match(parts[1]):
            return None
        if len(parts) == 2:
            return Scope(parts[1])
        return Scope(parts[1], parts[2]) if UID_PATTERN.match(parts[2]) else None

    def is_review_path(self, path: str) -> bool:
        return path.startswith(f"{self.review}{os.sep}")

    def is_published_result(self, path: str) -> bool:
        """Logs and outputs the owner publishes: changes there never need the owner's
        attention (unlike ``state.json``, which another owner process may have written)."""
        review = str(self.review) + os.sep
        if not path.startswith(review):
            return False
        parts = path[len(review) :].split(os.sep)
        return len(parts) >= 4 or (len(parts) == 3 and parts[2] != STATE_FILE)


@dataclass(frozen=True)
class Scope:
    """A set of jobs: all of them, one requester's (``uid`` None), or one job."""

    requester: Optional[str] = None
    uid: Optional[str] = None


ALL_JOBS = Scope()


def read_model(path: Path, model: type) -> Optional[object]:
    """Parse a document, or None if it is absent. Raises on content that is not valid."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return model.model_validate_json(raw)


def parse_request(raw: bytes) -> Optional[JobRequest]:
    """A ``job.json`` as listings show it: None when it is not a valid request."""
    try:
        return JobRequest.model_validate_json(raw)
    except ValidationError:
        return None


def parse_state(raw: bytes, requester: str, uid: str) -> Optional[JobState]:
    """A ``state.json``, or None when it does not parse or belongs to another job.

    A state that does not parse is treated as not yet arrived: only the owner writes it,
    always atomically, so a broken one can only be a partial sync."""
    try:
        state = JobState.model_validate_json(raw)
    except ValidationError:
        return None
    if state.uid != uid or state.requester_email != requester:
        return None
    return state


def read_state(layout: QueueLayout, requester: str, uid: str) -> Optional[JobState]:
    """The owner's state, or None if not written (or not synced) yet."""
    try:
        raw = layout.state_file(requester, uid).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return parse_state(raw, requester, uid)


def submission_folders(layout: QueueLayout, requester: Optional[str] = None) -> list[tuple[str, str]]:
    """Every (requester, uid) folder in the inbox, or only one requester's; folders whose
    names are not an email and a uid are skipped. One directory read per requester."""
    if requester is None:
        requesters = sorted(name for name in _folders(layout.inbox) if EMAIL_PATTERN.match(name))
    else:
        requesters = [requester]
    return [
        (who, uid)
        for who in requesters
        for uid in _folders(layout.inbox / who)
        if UID_PATTERN.match(uid)
    ]


def _folders(path: Path) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [entry.name for entry in entries if entry.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def files_present(folder: Path, files: list[FileEntry], verified: Optional[VerifiedFiles] = None) -> bool:
    return compare_to_manifest(folder, files, verified) == ([], [])


# --- requester side ------------------------------------------------------------------

# Jobs whose documents are remembered, each with the version of the file it was parsed from.
# The one whose document changed longest ago goes first, so jobs in flight stay. Forgetting
# one costs parsing it again (and a state.json of it caught mid-sync then shows no state).
JOBS_KEPT = 4_096
VERIFIED_KEPT = 16_384  # result files whose bytes were checked, while they stay unchanged


class RequesterStore:
    """What a requester reads and writes: their own inbox folders and review folders."""

    def __init__(self, workspace: Workspace, queue: str) -> None:
        self.workspace = workspace
        self.queue = queue
        self._layouts: dict[str, QueueLayout] = {}  # kept: their paths are joined once
        self._owner_of: dict[str, str] = {}  # uid -> the owner whose queue holds it, once found
        # uid -> a job.json version we wrote or parsed, and its request
        self._requests: Recent[str, tuple[FileIdentity, JobRequest]] = Recent(JOBS_KEPT)
        # uid -> the last whole state seen, and which version of state.json it was parsed from
        # (None: parsed by the job index). It is also what a state.json caught mid-sync (a
        # prefix of a newer version) shows, so a job never looks pending again.
        self._states: Recent[str, tuple[Optional[FileIdentity], JobState]] = Recent(JOBS_KEPT)
        self._verified = VerifiedFiles(VERIFIED_KEPT)

    def layout(self, owner: str) -> QueueLayout:
        if owner not in self._layouts:
            self._layouts[owner] = QueueLayout(self.workspace.datasites, owner, self.queue)
        return self._layouts[owner]

    def write_submission(self, request: JobRequest, code_folder: Path) -> None:
        """Code first, ``job.json`` last; the owner accepts only when all bytes match anyway.

        Only ``job.json`` is forced to disk: a code file lost in a power cut leaves a submission
        whose manifest names what is missing, refused with that reason after the arrival
        timeout, which is what a sync that never finished gets too."""
        layout = self.layout(request.target_email)
        dest = layout.submission(request.requester_email, request.uid)
        if dest.exists():
            raise SubmissionError(f"job {request.uid} already exists")
        code_dir = layout.code_dir(request.requester_email, request.uid)
        for entry in request.files:
            src = code_folder / entry.path
            data = src.read_bytes()
            if len(data) != entry.size:
                raise SubmissionError(f"{entry.path} changed while it was being submitted")
            atomic_write(code_dir / entry.path, data, durable=False)
        written = atomic_write_json(layout.job_file(request.requester_email, request.uid), request.model_dump_json(indent=2))
        self._owner_of[request.uid] = request.target_email
        self._requests.put(request.uid, (written, request))

    def _owners(self, target_email: Optional[str]) -> list[str]:
        if target_email:
            return [target_email]
        try:
            return sorted(p.name for p in self.workspace.datasites.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def owners(self, target_email: Optional[str] = None) -> list[str]:
        """Owners whose queue holds an inbox folder of ours (that we submitted to)."""
        me = self.workspace.email
        return [owner for owner in self._owners(target_email) if (self.layout(owner).inbox / me).is_dir()]

    def _load(self, layout: QueueLayout, uid: str) -> Optional[Job]:
        present, request = self._request(layout, uid)
        state = self._state(layout, uid) if request is not None else None  # no request: not shown
        return self.job_view(layout, self.workspace.email, uid, request, present, state)

    def _request(self, layout: QueueLayout, uid: str) -> tuple[bool, Optional[JobRequest]]:
        """Whether job.json exists, and its request; parsed only if this version was not."""
        path = layout.job_file(self.workspace.email, uid)
        known = self._requests.get(uid)
        if known is not None and file_identity(path) == known[0]:
            return True, known[1]
        read = read_versioned(path)
        if read is None:
            return False, None
        request = parse_request(read[1])
        if request is not None:
            self._requests.put(uid, (read[0], request))
        return True, request

    def _state(self, layout: QueueLayout, uid: str) -> Optional[JobState]:
        """The job's state.json, parsed only if this version was not; None while it is absent
        or not whole."""
        me = self.workspace.email
        path = layout.state_file(me, uid)
        known = self._states.get(uid)
        if known is not None and known[0] is not None and file_identity(path) == known[0]:
            return known[1]
        read = read_versioned(path)
        if read is None:
            return None
        state = parse_state(read[1], me, uid)
        if state is not None:
            self._states.put(uid, (read[0], state))
        return state

    def job_view(
        self, layout: QueueLayout, requester: str, uid: str,
        request: Optional[JobRequest], present: bool, state: Optional[JobState],
    ) -> Optional[Job]:
        """The requester's view of a submission from its parsed documents (``present``:
        whether a job.json exists at all); the job index builds its jobs the same way."""
        if request is None:
            return None if present else self._refused_upload(layout, uid)
        known = self._states.get(uid)
        if state is None:
            state = known[1] if known is not None else None
        elif known is None or known[1] is not state:
            self._states.put(uid, (None, state))
        return Job(request=request, state=state)

    def _refused_upload(self, layout: QueueLayout, uid: str) -> Optional[Job]:
        """A submission the SyftBox server refused (its client renamed job.json aside) is shown
        as rejected, so it does not silently vanish. Only this view says so: the owner never
        saw it, so there is no owner state."""
        refused = rejected_copy(layout.job_file(self.workspace.email, uid))
        if refused is None:
            return None
        try:
            request = JobRequest.model_validate_json(refused.read_bytes())
        except (ValidationError, OSError):
            return None
        reason = (
            f"SyftBox refused to upload this submission to {layout.owner}'s datasite (no write "
            f"permission): their queue {self.queue!r} is not set up or its permissions have not "
            "synced yet; submit again once it is"
        )
        at = datetime.fromtimestamp(refused.stat().st_mtime, timezone.utc)
        state = JobState(
            uid=uid, requester_email=self.workspace.email, status=JobStatus.rejected, error=reason,
            history=[Transition(status=JobStatus.rejected, at=at, by="syftbox", reason=reason)],
        )
        return Job(request=request, state=state)

    def find(self, uid: str) -> tuple[QueueLayout, Job]:
        if not UID_PATTERN.match(uid or ""):
            raise JobNotFoundError(f"not a job uid: {uid!r}")
        for owner in self._owners_to_search(uid):
            layout = self.layout(owner)
            if layout.submission(self.workspace.email, uid).is_dir():
                job = self._load(layout, uid)
                if job is not None:
                    self._owner_of[uid] = owner
                    return layout, job
        raise JobNotFoundError(f"no job {uid} submitted by {self.workspace.email} in queue {self.queue!r}")

    def _owners_to_search(self, uid: str) -> Iterator[str]:
        """The owner the job was found at before, then every owner: listed only when needed."""
        known = self._owner_of.get(uid)
        if known:
            yield known
        yield from self._owners(None)

    def request_cancel(self, uid: str, reason: str) -> Job:
        layout, job = self.find(uid)
        if job.is_terminal:
            raise InvalidTransitionError(f"job {uid} is already {job.status.value}; it cannot be cancelled")
        path = layout.cancel_file(self.workspace.email, uid)
        if not path.exists():
            cancel = CancelRequest(uid=uid, requested_at=utcnow(), reason=reason)
            atomic_write_json(path, cancel.model_dump_json(indent=2))
        return job

    def reload(self, layout: QueueLayout, uid: str) -> Job:
        """A job already found, read again (without looking for it at every owner)."""
        job = self._load(layout, uid)
        if job is None:
            raise JobNotFoundError(f"job {uid} is gone from {layout.owner}'s queue {self.queue!r}")
        return job

    def output_dir(self, uid: str) -> Optional[Path]:
        """The returned outputs once the job finished and every output file has synced."""
        return self.outputs_of(*self.find(uid))

    def outputs_of(self, layout: QueueLayout, job: Job) -> Optional[Path]:
        uid = job.uid
        result = job.state.result if job.state else None
        if not job.is_terminal or result is None or job.state.cleaned_up:  # type: ignore[union-attr]
            return None
        outputs = layout.outputs_dir(self.workspace.email, uid)
        if not files_present(outputs, result.outputs, self._verified):
            return None
        return outputs  # absent when every output is empty: 0-byte files never sync

    def logs(self, uid: str) -> Optional[str]:
        return self.logs_of(*self.find(uid))

    def logs_of(self, layout: QueueLayout, job: Job) -> Optional[str]:
        result = job.state.result if job.state else None
        if result is None or job.state.cleaned_up:  # type: ignore[union-attr]
            return None
        return format_logs(layout.review_dir(self.workspace.email, job.uid), result, self._verified)

    def results_arrived(self, layout: QueueLayout, job: Job) -> bool:
        """Whether every log and output file the state lists is here with its bytes (true when
        there is nothing to wait for); the logs need not be read for that."""
        state = job.state
        if state is None or state.result is None or state.cleaned_up:
            return True
        result, me = state.result, self.workspace.email
        logs = [entry for entry in (result.stdout, result.stderr) if entry is not None]
        return files_present(layout.review_dir(me, job.uid), logs, self._verified) and files_present(
            layout.outputs_dir(me, job.uid), result.outputs, self._verified
        )


def format_logs(folder: Path, result: JobResult, verified: Optional[VerifiedFiles] = None) -> Optional[str]:
    """stdout, then stderr under a heading; None while either has not fully synced."""
    parts: list[str] = []
    for entry, heading in ((result.stdout, None), (result.stderr, "--- stderr ---")):
        if entry is None:
            continue
        if not files_present(folder, [entry], verified):
            return None
        path = folder / entry.path
        text = path.read_text(errors="replace") if path.exists() else ""
        if text and heading:
            parts.append(heading)
        if text:
            parts.append(text.rstrip("\n"))
    return "\n".join(parts) + ("\n" if parts else "")


# --- owner side ----------------------------------------------------------------------


# Jobs hash onto this many state locks: writes of different jobs (each ending in an fsync)
# then mostly run side by side and share the disk's journal commits instead of queueing.
LOCK_STRIPES = 16


@dataclass
class _Stripe:
    lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0  # how often the thread holding ``lock`` re-entered it
    file: Optional[IO[str]] = None  # the lock file, kept open between uses


class OwnerStore:
    """What the data owner reads and writes. A job's transitions are serialised across
    threads and processes (a server thread and an ``scq approve`` may act on the same job)."""

    def __init__(self, workspace: Workspace, queue: str) -> None:
        self.workspace = workspace
        self.queue = queue
        self.layout = QueueLayout(workspace.datasites, workspace.email, queue)
        self._stripes = [_Stripe() for _ in range(LOCK_STRIPES)]
        self._memo_lock = threading.Lock()  # the requesters it has seen
        self._known_requesters: set[str] = set()
        # state file -> the version this store wrote last, and its state (recent jobs only:
        # forgetting one costs reading and parsing it again, nothing more)
        self._written: Recent[str, tuple[FileIdentity, JobState]] = Recent(STATES_KEPT)

    # -- setup ------------------------------------------------------------------------
    def ensure_queue(self) -> None:
        self.layout.inbox.mkdir(parents=True, exist_ok=True)
        self.layout.review.mkdir(parents=True, exist_ok=True)
        self.workspace.private_dir.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.layout.root / PERMISSION_FILE, queue_permissions_yaml())
        self._known_requesters = set(self.requesters())
        self._write_legacy_permissions()

    def _write_legacy_permissions(self) -> None:
        write_if_changed(
            self.layout.root / LEGACY_PERMISSION_FILE, legacy_permissions_yaml(self._known_requesters)
        )

    def note_requester(self, requester: str) -> None:
        with self._memo_lock:  # state writes of different jobs run concurrently
            if requester not in self._known_requesters:
                # Everyone with an inbox keeps their rule, also in a store that never ran
                # ensure_queue (``scq approve``): the file is rewritten whole.
                self._known_requesters |= {*self.requesters(), requester}
                self._write_legacy_permissions()

    def lock_path(self, uid: str) -> Path:
        return self.workspace.private_dir / f"{self.queue}.state.{int(uid, 16) % LOCK_STRIPES}.lock"

    @contextmanager
    def locked(self, uid: str) -> Iterator[None]:
        """Serialise changes to the state of job ``uid`` between this process's threads and
        other owner processes; other jobs' changes mostly proceed in parallel."""
        stripe = self._stripes[int(uid, 16) % LOCK_STRIPES]
        with stripe.lock:
            if stripe.depth:  # re-entered by the thread that already holds the file lock
                stripe.depth += 1
                try:
                    yield
                finally:
                    stripe.depth -= 1
                return
            fh = self._lock_file(stripe, uid)
            fcntl.flock(fh, fcntl.LOCK_EX)
            stripe.depth = 1
            try:
                yield
            finally:
                stripe.depth = 0
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _lock_file(self, stripe: _Stripe, uid: str) -> IO[str]:
        """The stripe's lock file, opened once; opened again if it was deleted meanwhile (a
        lock on a deleted file would exclude nobody)."""
        if stripe.file is not None and os.fstat(stripe.file.fileno()).st_nlink:
            return stripe.file
        if stripe.file is not None:
            stripe.file.close()
        path = self.lock_path(uid)
        path.parent.mkdir(parents=True, exist_ok=True)
        stripe.file = open(path, "a+")
        return stripe.file

    # -- reading ----------------------------------------------------------------------
    def requesters(self) -> list[str]:
        try:
            return sorted(
                p.name for p in self.layout.inbox.iterdir() if p.is_dir() and EMAIL_PATTERN.match(p.name)
            )
        except FileNotFoundError:
            return []

    def submissions(self, requester: Optional[str] = None) -> list[tuple[str, str]]:
        """Every (requester, uid) folder in the inbox (or one requester's)."""
        return submission_folders(self.layout, requester)

    def find_requester(self, uid: str) -> str:
        if not UID_PATTERN.match(uid or ""):
            raise JobNotFoundError(f"not a job uid: {uid!r}")
        for requester in self.requesters():
            if self.layout.submission(requester, uid).is_dir():
                return requester
        raise JobNotFoundError(f"no job {uid} in queue {self.queue!r} of {self.workspace.email}")

    def read_request(self, requester: str, uid: str) -> JobRequest:
        """The submission's request, checked against where it was found.

        Raises StillArriving while it may still be syncing, SubmissionError when it never
        can be accepted."""
        path = self.layout.job_file(requester, uid)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise StillArriving("job.json has not arrived yet") from None
        try:
            document = json.loads(raw)
        except ValueError:
            raise StillArriving("job.json is not complete JSON yet") from None
        try:
            request = JobRequest.model_validate(document)
        except ValidationError as exc:
            raise SubmissionError(f"job.json is invalid: {_short_validation(exc)}") from None
        if request.requester_email != requester:
            raise SubmissionError(
                f"job.json claims requester {request.requester_email!r} but was submitted by {requester!r}"
            )
        if request.uid != uid:
            raise SubmissionError(f"job.json names uid {request.uid!r} but lives in folder {uid!r}")
        if request.target_email != self.workspace.email:
            raise SubmissionError(f"job.json targets {request.target_email!r}, not {self.workspace.email!r}")
        return request

    def check_code(self, request: JobRequest) -> None:
        """Raise StillArriving until the code folder matches the manifest byte for byte."""
        code_dir = self.layout.code_dir(request.requester_email, request.uid)
        problems, broken = compare_to_manifest(code_dir, request.files)
        if broken:
            raise SubmissionError(broken[0])
        if problems:
            shown = ", ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
            raise StillArriving(f"{len(problems)} of {len(request.files)} files not arrived or incomplete: {shown}")

    def read_state(self, requester: str, uid: str) -> Optional[JobState]:
        """The state on disk; the version this store wrote last is not read and parsed again."""
        path = self.layout.state_file(requester, uid)
        mine = self._written.get(str(path))
        if mine is not None and file_identity(path) == mine[0]:
            return mine[1]
        return read_state(self.layout, requester, uid)

    def read_cancel(self, requester: str, uid: str) -> Optional[CancelRequest]:
        try:
            return read_model(self.layout.cancel_file(requester, uid), CancelRequest)  # type: ignore[return-value]
        except ValidationError:
            return None

    def load_job(self, requester: str, uid: str) -> Optional[Job]:
        """The job as the owner sees it. A submission rejected for an unreadable job.json is
        still shown (named as such), so the audit trail has no holes."""
        state = self.read_state(requester, uid)
        try:
            request = read_model(self.layout.job_file(requester, uid), JobRequest)
        except (ValidationError, ValueError):
            request = None
        return self.job_view(requester, uid, request, request is not None, state)  # type: ignore[arg-type]

    def job_view(
        self, requester: str, uid: str, request: Optional[JobRequest], present: bool, state: Optional[JobState]
    ) -> Optional[Job]:
        """The owner's view of a submission from its parsed documents; the job index builds
        its jobs the same way."""
        if request is None:
            if state is None:
                return None
            request = JobRequest.model_construct(
                uid=uid, name="(unreadable submission)", description="", tags=[],
                requester_email=requester, target_email=self.workspace.email, auto_approval=False,
                created_at=state.history[0].at, files=[],
            )
        return Job(request=request, state=state)

    def read_code_file(self, requester: str, uid: str, path: str, max_bytes: int) -> CodeFile:
        """At most ``max_bytes`` of a submitted file named in its manifest (nothing else is
        readable this way), hashed in full to compare with the manifest."""
        entry = next((f for f in self.read_request(requester, uid).files if f.path == path), None)
        if entry is None:
            raise FileNotFoundError(f"{path!r} is not part of job {uid}")
        file = self.layout.code_dir(requester, uid) / entry.path
        if file.is_symlink():
            raise SubmissionError(f"{entry.path} is a symlink; only regular files are accepted")
        if entry.size == 0 and not file.exists():
            return CodeFile(entry=entry, head=b"", matches_manifest=True)  # empty files never sync
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                digest.update(chunk)
                size += len(chunk)
                if len(head) < max_bytes:
                    head += chunk[: max_bytes - len(head)]
        matches = size == entry.size and digest.hexdigest() == entry.sha256
        return CodeFile(entry=entry, head=bytes(head), matches_manifest=matches)

    # -- writing ----------------------------------------------------------------------
    def write_state(self, state: JobState, durable: bool = True) -> None:
        self.note_requester(state.requester_email)
        path = self.layout.state_file(state.requester_email, state.uid)
        written = atomic_write_json(path, state.model_dump_json(indent=2), durable)
        self._written.put(str(path), (written, state))

    def wrote_last(self, path: str) -> bool:
        """Whether the state file at ``path`` is still the version this store wrote: a change
        event for it then says nothing new."""
        mine = self._written.get(path)
        return mine is not None and file_identity(path) == mine[0]

    def create_state(
        self, requester: str, uid: str, status: JobStatus, by: str, reason: str = "", manifest: Optional[str] = None,
        *, approved_by: Optional[str] = None, approval_reason: str = "",
    ) -> JobState:
        """The first state of a submission: accepted (pending), refused (rejected) or, for a job
        whose acceptance a power cut lost after it started, failed; or the existing one.
        ``approved_by`` records an immediate approval as a second history entry of the same
        write (auto-approval: one write instead of two).

        Not forced to disk: all of it follows from the submission and the owner's rules, so a
        server restarted after a power cut that lost it decides the same again."""
        with self.locked(uid):
            existing = self.read_state(requester, uid)
            if existing is not None:
                return existing
            history = [Transition(status=status, at=utcnow(), by=by, reason=reason)]
            if approved_by is not None:
                assert status == JobStatus.pending, "only a pending submission can be approved"
                history.append(Transition(status=JobStatus.approved, at=utcnow(), by=approved_by, reason=approval_reason))
            state = JobState(
                uid=uid,
                requester_email=requester,
                status=history[-1].status,
                manifest_sha256=manifest,
                history=history,
                error=reason if status in (JobStatus.rejected, JobStatus.failed) else None,
            )
            self.write_state(state, durable=False)
            return state

    def transition(
        self,
        requester: str,
        uid: str,
        status: JobStatus,
        by: str,
        reason: str = "",
        *,
        expect: Optional[frozenset[JobStatus]] = None,
        result: Optional[JobResult] = None,
        error: Optional[str] = None,
        at: Optional[datetime] = None,
        started_at: Optional[datetime] = None,
        durable: bool = True,
    ) -> JobState:
        """Move a job to ``status`` if its current status allows it; append to the history.

        ``started_at``: the job was started then without ``running`` being written (it ended
        first); an approved job's history gets that step before this one."""
        with self.locked(uid):
            state = self.read_state(requester, uid)
            if state is None:
                raise InvalidTransitionError(f"job {uid} has not been accepted yet")
            current, history = state.status, list(state.history)
            if started_at is not None and current == JobStatus.approved:
                history.append(Transition(status=JobStatus.running, at=started_at, by=by, reason=STARTED))
                current = JobStatus.running
            allowed = ALLOWED_TRANSITIONS[current]
            if status not in allowed or (expect is not None and state.status not in expect):
                raise InvalidTransitionError(
                    f"job {uid} is {state.status.value}; it cannot become {status.value}"
                )
            history.append(Transition(status=status, at=at or utcnow(), by=by, reason=reason))
            changes: dict[str, object] = {"status": status, "history": tuple(history)}
            if result is not None:
                changes["result"] = result
            if error is not None:
                changes["error"] = error
            elif status in (JobStatus.rejected, JobStatus.cancelled) and reason:
                changes["error"] = reason
            state = state.model_copy(update=changes)
            self.write_state(state, durable)
            return state

    def publish_results(
        self, requester: str, uid: str, stdout: Path, stderr: Path, outputs: Path
    ) -> JobResult:
        """Move logs and outputs into the requester's review folder, each file atomically.

        Returns the manifest that the state records, so the requester can tell when the
        results have fully synced."""
        review = self.layout.review_dir(requester, uid)
        out_entries: list[FileEntry] = []
        withheld: list[str] = []
        dest_root = self.layout.outputs_dir(requester, uid)
        for rel in _regular_files(outputs):
            if never_synced(rel):
                withheld.append(rel)  # listed, it would keep the results "not yet synced"
                continue
            out_entries.append(_publish_file(outputs / rel, dest_root / rel, rel))
        if withheld:
            with open(stderr, "ab") as fh:
                fh.write(WITHHELD_NOTE.format(", ".join(withheld)).encode())
        entries: dict[str, Optional[FileEntry]] = {}
        for source, name in ((stdout, STDOUT_FILE), (stderr, STDERR_FILE)):
            try:
                entries[name] = _publish_file(source, review / name, name)
            except FileNotFoundError:
                entries[name] = None
        return JobResult(stdout=entries[STDOUT_FILE], stderr=entries[STDERR_FILE], outputs=out_entries)

    def remove_bulky(self, requester: str, uid: str) -> None:
        """Drop code, logs and outputs of a finished job; job.json and state.json stay as the audit."""
        review = self.layout.review_dir(requester, uid)
        shutil.rmtree(self.layout.code_dir(requester, uid), ignore_errors=True)
        shutil.rmtree(review / OUTPUTS_DIR, ignore_errors=True)
        for name in (STDOUT_FILE, STDERR_FILE):
            (review / name).unlink(missing_ok=True)


def _regular_files(root: Path) -> list[str]:
    """Relative paths of the regular files below ``root``; links are never followed."""
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            return []
    except FileNotFoundError:
        return []
    return [rel for rel, item in folder_entries(root) if item.is_file(follow_symlinks=False)]


def _publish_file(source: Path, dest: Path, rel: str) -> FileEntry:
    """Hash ``source`` and put it at ``dest`` atomically. The run is over, so a file of the
    server's own is moved rather than copied (no bytes copied, no inode made and freed)."""
    if os.stat(source).st_size == 0:  # an empty log: nothing to read or to publish
        return FileEntry(path=rel, size=0, sha256=EMPTY_SHA256)
    size, digest = sha256_file(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not _move_own_file(source, dest):
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    return FileEntry(path=rel, size=size, sha256=digest)


def _move_own_file(source: Path, dest: Path) -> bool:
    """Rename a regular file the server owns to ``dest`` with plain read permissions; False
    when it is not ours or lives on another file system (then it is copied)."""
    info = os.lstat(source)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        return False
    try:
        os.chmod(source, PUBLISHED_MODE)
        os.rename(source, dest)
    except OSError:
        return False
    return True


def _short_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "document"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
