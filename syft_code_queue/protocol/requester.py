"""The requester's side of the protocol: write a submission into an owner's inbox, read
back the owner's state and the published results, ask to cancel.

A requester writes only ``inbox/<self>/<uid>/`` and reads only ``review/<self>/<uid>/``.
Each version of a document is parsed once (its identity comes from ``fstat`` of what was
read) and result files are hashed once while they stay unchanged.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from pydantic import ValidationError

from ..cache import BoundedCache
from ..errors import InvalidTransitionError, JobNotFoundError, SubmissionError
from ..models import (
    UID_PATTERN,
    CancelRequest,
    Heartbeat,
    Job,
    JobRef,
    JobRequest,
    JobState,
    JobStatus,
    QueueStatus,
    Transition,
    utcnow,
)
from ..syftbox import (
    FileIdentity,
    Workspace,
    atomic_write,
    atomic_write_json,
    file_identity,
    read_versioned,
    rejected_copy,
)
from .documents import format_logs, parse_request, parse_state
from .layout import QueueLayout
from .manifest import VerifiedFiles, files_present

# Jobs whose documents are remembered, each with the version of the file it was parsed from.
# The one whose document changed longest ago goes first, so jobs in flight stay. Forgetting
# one costs parsing it again (and a state.json of it caught mid-sync then shows no state).
JOBS_KEPT = 4_096
OFFLINE_AFTER = 2.5  # heartbeat intervals without a beat before a queue reads as offline
SYNC_SLACK = 10.0  # seconds a beat may take to sync
VERIFIED_KEPT = 16_384  # result files whose bytes were checked, while they stay unchanged


class RequesterStore:
    """What a requester reads and writes: their own inbox folders and review folders."""

    def __init__(self, workspace: Workspace, queue: str) -> None:
        self.workspace = workspace
        self.queue = queue
        self._layouts: dict[str, QueueLayout] = {}  # kept: their paths are joined once
        self._owner_of: dict[str, str] = {}  # uid -> the owner whose queue holds it, once found
        # uid -> a job.json version we wrote or parsed, and its request
        self._requests: BoundedCache[str, tuple[FileIdentity, JobRequest]] = BoundedCache(JOBS_KEPT)
        # uid -> the last whole state seen, and which version of state.json it was parsed from
        # (None: parsed by the job index). It is also what a state.json caught mid-sync (a
        # prefix of a newer version) shows, so a job never looks pending again.
        self._states: BoundedCache[str, tuple[Optional[FileIdentity], JobState]] = BoundedCache(JOBS_KEPT)
        self._verified = VerifiedFiles(VERIFIED_KEPT)

    def ref(self, uid: str) -> JobRef:
        return JobRef(self.workspace.email, uid)

    def layout(self, owner: str) -> QueueLayout:
        if owner not in self._layouts:
            self._layouts[owner] = QueueLayout(self.workspace.datasites, owner, self.queue)
        return self._layouts[owner]

    def write_submission(self, request: JobRequest, code_folder: Path) -> None:
        """Code first, ``job.json`` last; the owner accepts only when all bytes match anyway.

        Only ``job.json`` is forced to disk: a code file lost in a power cut leaves a submission
        whose manifest names what is missing, refused with that reason after the arrival
        timeout, which is what a sync that never finished gets too."""
        paths = self.layout(request.target_email).job(JobRef(request.requester_email, request.uid))
        if paths.submission.exists():
            raise SubmissionError(f"job {request.uid} already exists")
        code_dir = paths.code_dir
        for entry in request.files:
            src = code_folder / entry.path
            data = src.read_bytes() if entry.size or src.exists() else b""  # empty files never sync
            if len(data) != entry.size:
                raise SubmissionError(f"{entry.path} changed while it was being submitted")
            atomic_write(code_dir / entry.path, data, durable=False)
        written = atomic_write_json(paths.job_file, request.document())
        self._owner_of[request.uid] = request.target_email
        self._requests.put(request.uid, (written, request))

    def submitted_code(self, layout: QueueLayout, job: Job) -> Path:
        """The code folder of a job we submitted, once checked to hold exactly its manifest's bytes."""
        code_dir = layout.job(self.ref(job.uid)).code_dir
        if not files_present(code_dir, job.files):
            raise SubmissionError(
                f"the code of job {job.uid} is no longer here as it was submitted (the owner's cleanup removes it);"
                " pass code_folder= to resubmit"
            )
        return code_dir

    def _owners(self, target_email: Optional[str]) -> list[str]:
        if target_email:
            return [target_email]
        try:
            return sorted(p.name for p in self.workspace.datasites.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def queue_status(self, owner: str) -> QueueStatus:
        """Whether ``owner``'s queue server is there, from the heartbeat it publishes: online
        while its last beat is under ``OFFLINE_AFTER`` intervals old (sync takes seconds)."""
        layout = self.layout(owner)
        try:
            beat = Heartbeat.model_validate_json(layout.heartbeat.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            state = "offline" if layout.root.is_dir() else "no_queue"
            return QueueStatus(owner=owner, state=state)
        except ValidationError:  # mid-sync: the next call sees the whole file
            return QueueStatus(owner=owner, state="offline")
        age = (utcnow() - beat.last_seen).total_seconds()
        online = beat.stopped_at is None and age <= OFFLINE_AFTER * beat.interval + SYNC_SLACK
        return QueueStatus(owner=owner, state="online" if online else "offline", last_seen=beat.last_seen)

    def owners(self, target_email: Optional[str] = None) -> list[str]:
        """Owners whose queue holds an inbox folder of ours (that we submitted to)."""
        me = self.workspace.email
        return [owner for owner in self._owners(target_email) if (self.layout(owner).inbox / me).is_dir()]

    def _load(self, layout: QueueLayout, uid: str) -> Optional[Job]:
        present, request = self._request(layout, uid)
        state = self._state(layout, uid) if request is not None else None  # no request: not shown
        return self.job_view(layout, self.ref(uid), request, present, state)

    def _request(self, layout: QueueLayout, uid: str) -> tuple[bool, Optional[JobRequest]]:
        """Whether job.json exists, and its request; parsed only if this version was not."""
        path = layout.job(self.ref(uid)).job_file
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
        ref = self.ref(uid)
        path = layout.job(ref).state_file
        known = self._states.get(uid)
        if known is not None and known[0] is not None and file_identity(path) == known[0]:
            return known[1]
        read = read_versioned(path)
        if read is None:
            return None
        state = parse_state(read[1], ref)
        if state is not None:
            self._states.put(uid, (read[0], state))
        return state

    def job_view(
        self,
        layout: QueueLayout,
        ref: JobRef,
        request: Optional[JobRequest],
        present: bool,
        state: Optional[JobState],
    ) -> Optional[Job]:
        """The requester's view of a submission from its parsed documents (``present``:
        whether a job.json exists at all); the job index builds its jobs the same way."""
        uid = ref.uid
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
        refused = rejected_copy(layout.job(self.ref(uid)).job_file)
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
            uid=uid,
            requester_email=self.workspace.email,
            status=JobStatus.rejected,
            error=reason,
            history=[Transition(status=JobStatus.rejected, at=at, by="syftbox", reason=reason)],
        )
        return Job(request=request, state=state)

    def find(self, uid: str) -> tuple[QueueLayout, Job]:
        if not UID_PATTERN.match(uid or ""):
            raise JobNotFoundError(f"not a job uid: {uid!r}")
        for owner in self._owners_to_search(uid):
            layout = self.layout(owner)
            if layout.job(self.ref(uid)).submission.is_dir():
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
        if job.is_terminal or job.status == JobStatus.awaiting_release:
            raise InvalidTransitionError(f"job {uid} is already {job.status.label}; it cannot be cancelled")
        path = layout.job(self.ref(uid)).cancel_file
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
        if not job.is_terminal or result is None or not job.state.published:  # type: ignore[union-attr]
            return None
        outputs = layout.job(self.ref(uid)).outputs_dir
        if not files_present(outputs, result.outputs, self._verified):
            return None
        return outputs  # absent when every output is empty: 0-byte files never sync

    def logs(self, uid: str) -> Optional[str]:
        return self.logs_of(*self.find(uid))

    def logs_of(self, layout: QueueLayout, job: Job) -> Optional[str]:
        result = job.state.result if job.state else None
        if result is None or not job.state.published:  # type: ignore[union-attr]
            return None
        return format_logs(layout.job(self.ref(job.uid)).review, result, self._verified)

    def results_arrived(self, layout: QueueLayout, job: Job) -> bool:
        """Whether every log and output file the state lists is here with its bytes (true when
        there is nothing to wait for); the logs need not be read for that."""
        state = job.state
        if state is None or state.result is None or state.cleaned_up:
            return True
        result, paths = state.result, layout.job(self.ref(job.uid))
        logs = [entry for entry in (result.stdout, result.stderr) if entry is not None]
        return files_present(paths.review, logs, self._verified) and files_present(
            paths.outputs_dir, result.outputs, self._verified
        )
