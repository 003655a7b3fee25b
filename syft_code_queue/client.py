"""The requester's API: submit a code folder, follow its status, read logs and results.

A requester only ever sees their own jobs: it reads ``inbox/<me>/`` and ``review/<me>/``
of each owner's queue, which is also all that SyftBox syncs to it. It sees an owner's
datasets through what they publish (metadata and mock), and runs its code on the mocks
first (``run_local``) exactly as the owner's server will run it on the private data.
``on`` tells callbacks when one of its jobs changes status, and ``subscribe`` tells a
listener which job changed: both are driven by file-system events on the requester's
folders (a watcher looks at the jobs' snapshot when a change is recorded, and every few
seconds in case a change went unreported), so nothing polls once a second.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional, Union

from pydantic import ValidationError

from .datasets import Dataset, DatasetCatalog, DatasetList, MockRunResult, run_on_mocks
from .errors import InvalidTransitionError, SubmissionError, UnsafeFolderError, describe
from .governance.notify import Callback, Listener, Notifier, Watcher
from .listing.index import JobIndex
from .listing.query import JobQuery, Rows
from .listing.snapshot import Snapshot, next_version
from .listing.table import JobList, jobs_to_dataframe
from .models import FileEntry, Job, JobRequest, JobStatus, QueueConfig, QueueStatus, SubmitRequest, utcnow
from .protocol.documents import read_model
from .protocol.manifest import build_manifest
from .protocol.requester import RequesterStore
from .runner import CodeRunner, SafeCodeRunner
from .runtimes.documents import PublishedRuntime, PublishedRuntimes
from .syftbox import Workspace
from .watch import ChangeFeed, Changes, open_feed

PathLike = Union[str, os.PathLike[str]]


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
        self.catalog = DatasetCatalog(self.workspace)
        self._lock = threading.Lock()
        self._feed: Optional[ChangeFeed] = None
        self._recorded = threading.Event()  # set by the indexes when a change is recorded
        self._listed = Rows()  # list_jobs's flattened jobs, kept between calls
        self._indexes: dict[str, JobIndex] = {}  # one per owner we submitted to
        self._snapshot = Snapshot(0, ())
        self._snapshot_of: tuple[Any, ...] = ()  # what self._snapshot was built from
        self._notifier = Notifier(f"client-{self.email}")
        self._watcher: Optional[Watcher] = None
        self._watcher_lock = threading.Lock()  # one watcher at a time

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
        release_notes: str = "",
        runtime: Optional[str] = None,
        datasets: Optional[list[str]] = None,
    ) -> Job:
        """Send ``code_folder`` (which must hold ``run.sh``) to ``target_email``'s queue.
        ``release_notes``: what the results are and the disclosure controls applied (e.g.
        "counts rounded to 5; no cell under 10"), shown to the owner beside held outputs;
        ``runtime``: one of the owner's runtimes (``list_runtimes``), None for the default;
        ``datasets``: the owner's datasets it reads, each at ``/job/data/<name>``."""
        fields = {
            "name": name,
            "description": description,
            "tags": tags or [],
            "auto_approval": auto_approval,
            "release_notes": release_notes,
            "runtime": runtime,
            "datasets": datasets or [],
        }
        return self._submit(target_email, code_folder, fields, supersedes=None)

    def resubmit(self, uid: str, code_folder: Optional[PathLike] = None, **changes: Any) -> Job:
        """Send a new version of your finished job ``uid`` (e.g. one the owner sent back with
        ``changes_requested``): a new job that supersedes it, with the code of ``code_folder``
        (by default the same code again) and the old job's name, description, tags,
        auto_approval, release notes, runtime and datasets unless ``changes`` sets them."""
        layout, old = self.store.find(uid)
        if not old.is_terminal:
            raise InvalidTransitionError(
                f"job {uid} is still {old.status.value}; resubmit it once the owner has decided, or cancel it first"
            )
        fields = {
            "name": old.name,
            "description": old.description,
            "tags": old.tags,
            "auto_approval": old.auto_approval,
            "release_notes": old.request.release_notes,
            "runtime": old.request.runtime,
            "datasets": old.datasets,
        }
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"resubmit() cannot change {', '.join(unknown)}: only {', '.join(sorted(fields))}")
        if code_folder is not None:
            return self._submit(old.target_email, code_folder, {**fields, **changes}, supersedes=uid)
        folder = self.store.submitted_code(layout, old)
        return self._submit(old.target_email, folder, {**fields, **changes}, supersedes=uid, files=old.files)

    def _submit(
        self,
        target_email: str,
        code_folder: PathLike,
        fields: dict[str, Any],
        supersedes: Optional[str],
        files: Optional[list[FileEntry]] = None,
    ) -> Job:
        """``files``: the manifest, when ``code_folder`` is a submission's verified copy."""
        request, folder = self._request(
            target_email=target_email, code_folder=code_folder, supersedes=supersedes, files=files, **fields
        )
        try:
            self.store.write_submission(request, folder)
        except OSError as exc:
            raise SubmissionError(f"could not write the submission: {exc}") from exc
        self._recorded.set()  # a watcher looks again, and starts watching a new owner's queue
        return Job(request=request)

    def _request(
        self, supersedes: Optional[str] = None, files: Optional[list[FileEntry]] = None, **fields: Any
    ) -> tuple[JobRequest, Path]:
        """The request a submission (or a mock run) of a code folder makes, and the folder."""
        try:
            params = SubmitRequest(**{**fields, "code_folder": Path(fields["code_folder"])})
        except ValidationError as exc:
            raise ValueError(describe(exc, limit=1)) from None
        offered = [r.name for r in self.list_runtimes(params.target_email)] if params.runtime is not None else []
        if offered and params.runtime not in offered:
            raise ValueError(
                f"{params.target_email} offers no runtime {params.runtime!r}; it offers: {', '.join(offered)}"
            )
        folder = params.code_folder.expanduser()
        request = JobRequest(
            uid=uuid.uuid4().hex,
            name=params.name,
            description=params.description,
            tags=params.tags,
            requester_email=self.email,
            target_email=params.target_email,
            auto_approval=params.auto_approval,
            created_at=utcnow(),
            files=files if files is not None else _code_files(folder),
            release_notes=params.release_notes,
            supersedes=supersedes,
            runtime=params.runtime,
            datasets=params.datasets,
        )
        return request, folder

    # -- datasets -----------------------------------------------------------------------
    def list_datasets(self, owner: str) -> DatasetList:
        """The datasets ``owner`` shares with you that have synced here: a table in a
        notebook, ``.df`` for a DataFrame."""
        return self.catalog.list(owner)

    def get_dataset(self, owner: str, name: str) -> Dataset:
        """One of ``owner``'s datasets: its summary, README, mock note, and ``mock_path``,
        the synced mock to develop against."""
        return self.catalog.get(owner, name)

    def run_local(
        self,
        code_folder: PathLike,
        target_email: str,
        datasets: Optional[list[str]] = None,
        name: str = "mock run",
        runner: Optional[CodeRunner] = None,
    ) -> MockRunResult:
        """Run ``code_folder`` here on the synced mocks of ``target_email``'s ``datasets``,
        as their server will run it on the private data: the same runner, sandbox, paths and
        variables, with ``SYFT_DATA_KIND=mock``. The result's ``output_dir`` is in your
        private folder, which SyftBox never syncs."""
        request, folder = self._request(
            target_email=target_email, code_folder=code_folder, name=name, datasets=datasets or []
        )
        mocks = {dataset: self.catalog.get(target_email, dataset) for dataset in request.datasets}
        runner = runner or SafeCodeRunner(timeout=self.config.job_timeout)
        problems = runner.check_code(folder, Job(request=request))
        if problems:
            raise ValueError("the owner's server would refuse this code: " + "; ".join(problems))
        paths = self.catalog.layout(target_email).mock_run(request.uid)
        return run_on_mocks(runner, Job(request=request), folder, request.files, mocks, paths, self.config.job_timeout)

    def on(self, event: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(notification)`` when ``event`` happens to one of your jobs
        (``"submitted"``, a status such as ``"running"``, ``"finished"``, ``"transition"``);
        returns a function that stops it. A callback that raises is logged and skipped."""
        off = self._notifier.on(event, callback)
        self._watch()
        return off

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(uid)`` soon after one of your jobs changes (at any owner), on a
        watcher thread (it should return quickly); returns an unsubscribe. The widgets'
        tables use it instead of polling."""
        unsubscribe = self._notifier.subscribe(listener)
        self._watch()
        return unsubscribe

    def _watch(self) -> None:
        with self._watcher_lock:
            if self._watcher is None or not self._watcher.alive:
                with self._lock:
                    feed = self._changes()
                self._watcher = Watcher(self.snapshot, self._notifier, self._recorded, feed.running, self._watcher_lock)
                self._watcher.start()

    def queue_status(self, owner: str) -> QueueStatus:
        """Whether ``owner``'s queue server is there: online (and when last seen), offline
        since when, or no queue at that datasite. A job sent to an offline queue waits for
        the owner's server; one sent where there is no queue never runs."""
        return self.store.queue_status(owner)

    def list_runtimes(self, owner: str) -> list[PublishedRuntime]:
        """The runtimes ``owner`` offers on this queue (name, Python version, pinned packages,
        lock hash), as last synced; empty until their list has arrived whole."""
        try:
            published = read_model(self.store.layout(owner).runtimes, PublishedRuntimes)
        except ValueError:  # caught mid-sync: not whole yet
            return []
        return list(published.runtimes) if published is not None else []

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
        query = JobQuery(statuses=(JobStatus(status),) if status is not None else (), limit=limit)
        return JobList(self.snapshot(target_email).page(query, self._listed).jobs)

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
                layout,
                partial(self.store.job_view, layout),
                requester=self.email,
                feed=self._changes(),
                recorded=self._recorded,
            )
        return self._indexes[owner]

    def get_job_output(self, uid: str) -> Optional[Path]:
        """Folder with the job's returned outputs (only those the owner released, when the
        owner releases them); None until it finished and they synced, while they are held
        or once withheld, and again once the owner's cleanup removed them."""
        return self.store.output_dir(uid)

    def get_job_logs(self, uid: str) -> Optional[str]:
        """The job's stdout (then stderr); None until the run finished and the logs synced,
        while they are held or when the owner did not release them, and again once the
        owner's cleanup removed them."""
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
                        raise TimeoutError(f"job {uid} is still {job.status.label} after {timeout:g} s")
                    arrived.wait(min(poll_interval, remaining))
        finally:
            unsubscribe()

    def jobs_dataframe(self, **filters: Any) -> Any:
        """``list_jobs`` as a pandas DataFrame."""
        return jobs_to_dataframe(self.list_jobs(**filters))


def _code_files(folder: Path) -> list[FileEntry]:
    """The manifest of a code folder, refused with a clear error when it cannot be a job."""
    if not folder.exists():
        raise FileNotFoundError(f"code folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"code_folder must be a folder, not a file: {folder}")
    run_sh = folder / "run.sh"
    if run_sh.is_symlink() or not run_sh.is_file():
        raise FileNotFoundError(f"the code folder must contain a run.sh script: {run_sh}")
    try:
        return build_manifest(folder)
    except UnsafeFolderError as exc:
        raise ValueError(str(exc)) from None


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
    release_notes: str = "",
    runtime: Optional[str] = None,
    datasets: Optional[list[str]] = None,
    **client_options: Any,
) -> Job:
    """Module-level shortcut: ``create_client(**client_options).submit_code(...)``."""
    return create_client(**client_options).submit_code(
        target_email,
        code_folder,
        name,
        description=description,
        tags=tags,
        auto_approval=auto_approval,
        release_notes=release_notes,
        runtime=runtime,
        datasets=datasets,
    )


def run_local(
    code_folder: PathLike,
    target_email: str,
    datasets: Optional[list[str]] = None,
    runner: Optional[CodeRunner] = None,
    **client_options: Any,
) -> MockRunResult:
    """Module-level shortcut: ``create_client(**client_options).run_local(...)``."""
    return create_client(**client_options).run_local(code_folder, target_email, datasets, runner=runner)
