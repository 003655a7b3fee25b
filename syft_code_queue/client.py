"""The requester's API: submit a code folder, follow its status, read logs and results.

A requester only ever sees their own jobs: it reads ``inbox/<me>/`` and ``review/<me>/``
of each owner's queue, which is also all that SyftBox syncs to it.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import ValidationError

from .errors import SubmissionError, UnsafeFolderError, describe
from .listing.index import JobIndex
from .listing.snapshot import Snapshot, next_version
from .listing.table import JobList, jobs_to_dataframe
from .models import Job, JobRequest, JobStatus, QueueConfig, QueueStatus, SubmitRequest, utcnow
from .protocol.manifest import build_manifest, copy_verified
from .protocol.requester import RequesterStore
from .syftbox import Workspace
from .watch import ChangeFeed, Changes, open_feed

PathLike = Union[str, os.PathLike[str]]
RESUBMIT_CHANGES = frozenset({"target_email", "name", "description", "tags", "auto_approval"})


class CodeQueueClient:
    """Requester side of one queue name (the default ``code-queue`` unless configured)."""

    def __init__(
        self,
        config: Optional[QueueConfig] = None,
        *,
        workspace: Optional[Workspace] = None,
        email: Optional[str] = None,
        data_dir: Optional[PathLike] = None,
    ) -> None:
        self.config = config or QueueConfig()
        self.workspace = workspace or Workspace.discover(email=email, data_dir=data_dir)
        self.store = RequesterStore(self.workspace, self.config.queue_name)
        self._lock = threading.Lock()
        self._feed: Optional[ChangeFeed] = None
        self._indexes: dict[str, JobIndex] = {}  # one per owner we submitted to
        self._snapshot = Snapshot(0, ())
        self._snapshot_of: tuple[Any, ...] = ()  # what self._snapshot was built from

    @property
    def email(self) -> str:
        return self.workspace.email

    def submit_code(
        self,
        target_email: str,
        code_folder: PathLike,
        name: str,
        description: str = "",
        tags: Optional[list[str]] = None,
        auto_approval: bool = False,
    ) -> Job:
        """Send ``code_folder`` (which must hold ``run.sh``) to ``target_email``'s queue."""
        return self._submit(target_email, code_folder, name, description, tags or [], auto_approval, None)

    def resubmit(self, uid: str, code_folder: Optional[PathLike] = None, **changes: Any) -> Job:
        """Submit job ``uid``'s code again as a new job that ``supersedes`` it, e.g. after a
        rejection or a failure. ``code_folder`` sends other code instead; ``changes`` may set
        ``target_email``, ``name``, ``description``, ``tags`` or ``auto_approval`` (the old
        job's values otherwise)."""
        unknown = set(changes) - RESUBMIT_CHANGES
        if unknown:
            raise ValueError(
                f"resubmit cannot change {', '.join(sorted(unknown))}; "
                f"it takes code_folder and {', '.join(sorted(RESUBMIT_CHANGES))}"
            )
        layout, old = self.store.find(uid)
        fields = {
            "target_email": old.target_email,
            "name": old.name,
            "description": old.description,
            "tags": old.tags,
            "auto_approval": old.auto_approval,
            **changes,
        }
        args = (fields["target_email"], fields["name"], fields["description"], fields["tags"], fields["auto_approval"])
        if code_folder is not None:
            return self._submit(args[0], code_folder, *args[1:], supersedes=uid)
        submitted = layout.job(self.store.ref(uid)).code_dir
        with tempfile.TemporaryDirectory(prefix="scq-resubmit-") as copy:
            try:
                copy_verified(submitted, Path(copy), old.request.files)
            except (ValueError, OSError) as exc:
                raise SubmissionError(
                    f"the code of job {uid} is no longer the code it was submitted with ({exc}); "
                    "the owner's cleanup may have removed it: pass code_folder= to resubmit from your copy"
                ) from None
            return self._submit(args[0], copy, *args[1:], supersedes=uid)

    def _submit(
        self,
        target_email: str,
        code_folder: PathLike,
        name: str,
        description: str,
        tags: list[str],
        auto_approval: bool,
        supersedes: Optional[str],
    ) -> Job:
        try:
            params = SubmitRequest(
                target_email=target_email,
                code_folder=Path(code_folder),
                name=name,
                description=description,
                tags=tags,
                auto_approval=auto_approval,
            )
        except ValidationError as exc:
            raise ValueError(describe(exc, limit=1)) from None
        folder = params.code_folder.expanduser()
        if not folder.exists():
            raise FileNotFoundError(f"code folder not found: {folder}")
        if not folder.is_dir():
            raise NotADirectoryError(f"code_folder must be a folder, not a file: {folder}")
        run_sh = folder / "run.sh"
        if run_sh.is_symlink() or not run_sh.is_file():
            raise FileNotFoundError(f"the code folder must contain a run.sh script: {run_sh}")
        try:
            files = build_manifest(folder)
        except UnsafeFolderError as exc:
            raise ValueError(str(exc)) from None
        request = JobRequest(
            uid=uuid.uuid4().hex,
            name=params.name,
            description=params.description,
            tags=params.tags,
            requester_email=self.email,
            target_email=params.target_email,
            auto_approval=params.auto_approval,
            created_at=utcnow(),
            files=files,
            supersedes=supersedes,
        )
        try:
            self.store.write_submission(request, folder)
        except OSError as exc:
            raise SubmissionError(f"could not write the submission: {exc}") from exc
        return Job(request=request)

    def queue_status(self, owner: str) -> QueueStatus:
        """Whether ``owner``'s queue server is there: online (and when last seen), offline
        since when, or no queue at that datasite. A job sent to an offline queue waits for
        the owner's server; one sent where there is no queue never runs."""
        return self.store.queue_status(owner)

    def get_job(self, uid: str) -> Job:
        """The job's current view; raises ``JobNotFoundError`` for a uid you did not submit."""
        return self.store.find(uid)[1]

    def list_jobs(
        self,
        limit: Optional[int] = None,
        status: Optional[Union[JobStatus, str]] = None,
        target_email: Optional[str] = None,
    ) -> JobList:
        """Your jobs, newest first; filters apply before the limit."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be zero or positive")
        wanted = JobStatus(status) if status is not None else None
        jobs = [job for job in self.snapshot(target_email).jobs if wanted is None or job.status == wanted]
        return JobList(jobs[:limit] if limit is not None else jobs)

    def snapshot(self, target_email: Optional[str] = None) -> Snapshot:
        """Your jobs (at every owner, or one) as the files are now, newest first, versioned:
        cheap to call often (only what changed since the last call is read again)."""
        owners = self.store.owners(target_email)
        with self._lock:
            parts = [self._index(owner).snapshot() for owner in owners]
            made_of = (target_email, tuple(zip(owners, (part.version for part in parts), strict=True)))
            if made_of != self._snapshot_of:
                version = next_version()  # after the parts: above their revisions, below later ones
                if len(parts) == 1:  # one owner, the usual case: its order is already right
                    self._snapshot = Snapshot(version, parts[0].entries, parts[0].positions)
                else:
                    self._snapshot = Snapshot.build(version, [e for part in parts for e in part.entries])
                self._snapshot_of = made_of
            return self._snapshot

    def _changes(self) -> ChangeFeed:
        if self._feed is None:
            self._feed = open_feed()
        return self._feed

    def _index(self, owner: str) -> JobIndex:
        if owner not in self._indexes:
            layout = self.store.layout(owner)
            self._indexes[owner] = JobIndex(
                layout, partial(self.store.job_view, layout), requester=self.email, feed=self._changes()
            )
        return self._indexes[owner]

    def get_job_output(self, uid: str) -> Optional[Path]:
        """Folder with the job's returned outputs; None until it finished and they synced, and
        again once the owner's cleanup removed them."""
        return self.store.output_dir(uid)

    def get_job_logs(self, uid: str) -> Optional[str]:
        """The job's stdout (then stderr); None until the run finished and the logs synced, and
        again once the owner's cleanup removed them."""
        return self.store.logs(uid)

    def cancel_job(self, uid: str, reason: str = "cancelled by requester") -> Job:
        """Ask the owner's server to cancel; raises if the job already finished."""
        return self.store.request_cancel(uid, reason)

    def wait_for_job(self, uid: str, timeout: float = 300, poll_interval: float = 0.5) -> Job:
        """Block until the job is finished and its results have arrived, or raise TimeoutError.

        File-system events on the job's review folder wake it as soon as something arrives;
        ``poll_interval`` only bounds the wait where such events are not available."""
        deadline = time.monotonic() + timeout
        layout, job = self.store.find(uid)
        if job.is_terminal and self.store.results_arrived(layout, job):
            return job  # already here: no watch, no thread
        folder = str(layout.job(self.store.ref(uid)).review)
        arrived = threading.Event()

        def on_change(changes: Changes) -> None:
            if changes is None or any(_overlaps(path, folder) for path in changes):
                arrived.set()

        with self._lock:
            feed = self._changes()
        feed.watch(layout.review / self.email)
        unsubscribe = feed.subscribe(on_change)
        try:
            with feed.running():
                while True:
                    arrived.clear()  # before reading: a change after this wakes the wait below
                    job = self.store.reload(layout, uid)
                    if job.is_terminal and self.store.results_arrived(layout, job):
                        return job
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        if job.is_terminal:
                            raise TimeoutError(
                                f"job {uid} is {job.status.value} but its results have not all "
                                f"synced after {timeout:g} s"
                            )
                        raise TimeoutError(f"job {uid} is still {job.status.value} after {timeout:g} s")
                    arrived.wait(min(poll_interval, remaining))
        finally:
            unsubscribe()

    def jobs_dataframe(self, **filters: Any) -> Any:
        """``list_jobs`` as a pandas DataFrame."""
        return jobs_to_dataframe(self.list_jobs(**filters))


def _overlaps(path: str, folder: str) -> bool:
    """Whether a change at ``path`` (or below it) can touch ``folder``."""
    return path == folder or path.startswith(folder + os.sep) or folder.startswith(path + os.sep)


def create_client(
    config: Optional[QueueConfig] = None,
    *,
    email: Optional[str] = None,
    data_dir: Optional[PathLike] = None,
    queue_name: Optional[str] = None,
) -> CodeQueueClient:
    """A client for the configured SyftBox identity (see the README's Configuration)."""
    if queue_name is not None:
        config = (config or QueueConfig()).model_copy(update={"queue_name": queue_name})
        QueueConfig.model_validate(config.model_dump())
    return CodeQueueClient(config=config, email=email, data_dir=data_dir)


def submit_code(
    target_email: str,
    code_folder: PathLike,
    name: str,
    description: str = "",
    tags: Optional[list[str]] = None,
    auto_approval: bool = False,
    **client_options: Any,
) -> Job:
    """Module-level shortcut: ``create_client(**client_options).submit_code(...)``."""
    return create_client(**client_options).submit_code(
        target_email, code_folder, name, description=description, tags=tags, auto_approval=auto_approval
    )
