"""Where every file of a queue lives: the one module that joins a path.

Synced, under ``datasites/<owner>/app_data/<queue>/`` (``QueueLayout``):
- ``inbox/<requester>/<uid>/``: written by the requester only (``job.json``, ``code/``, an
  optional ``cancel.json``);
- ``review/<requester>/<uid>/``: written by the owner only (``state.json``, ``stdout.txt``,
  ``stderr.txt``, ``outputs/``).

Owner-private, under ``<data_dir>/.syft_code_queue/<owner>/``, never synced
(``PrivateLayout``): the serve lock, the state locks, the start journal, the workers'
scratch slots, and ``accepted/<queue>/<requester>/<uid>/`` (``job.json`` and ``code/``): the
owner's immutable copy of each accepted job, which is what is shown, approved and run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

from ..models import EMAIL_PATTERN, UID_PATTERN, JobRef

JOB_FILE = "job.json"
CANCEL_FILE = "cancel.json"
STATE_FILE = "state.json"
CODE_DIR = "code"
OUTPUTS_DIR = "outputs"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
INBOX_DIR = "inbox"
REVIEW_DIR = "review"

JOB_PATHS_KEPT = 4_096  # enough for every job in flight; a full listing cycles through it


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

    @cached_property
    def stdout_file(self) -> Path:
        return self.review / STDOUT_FILE

    @cached_property
    def stderr_file(self) -> Path:
        return self.review / STDERR_FILE


@dataclass(frozen=True)
class Scope:
    """The jobs a change may concern: all of them (``ALL_JOBS``), one requester's (``job``
    None), or one job."""

    requester: Optional[str] = None
    job: Optional[JobRef] = None

    @classmethod
    def of(cls, ref: JobRef) -> "Scope":
        return cls(ref.requester, ref)


ALL_JOBS = Scope()


@dataclass(frozen=True)
class QueueLayout:
    """Paths of one queue on one owner's datasite, as seen from any SyftBox root."""

    datasites: Path
    owner: str
    queue: str
    # A job's paths are made once: the server, the index and the clients join them for every
    # file of every job they look at, and joining paths is much of their work.
    _jobs: dict[JobRef, JobPaths] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @cached_property
    def root(self) -> Path:
        return self.datasites / self.owner / "app_data" / self.queue

    @cached_property
    def inbox(self) -> Path:
        return self.root / INBOX_DIR

    @cached_property
    def review(self) -> Path:
        return self.root / REVIEW_DIR

    def requester_inbox(self, requester: str) -> Path:
        return self.inbox / requester

    def job(self, ref: JobRef) -> JobPaths:
        paths = self._jobs.get(ref)
        if paths is None:
            if len(self._jobs) >= JOB_PATHS_KEPT:
                self._jobs.clear()
            paths = JobPaths(Path(f"{self.inbox}/{ref}"), Path(f"{self.review}/{ref}"))
            self._jobs[ref] = paths
        return paths

    def locate(self, path: str) -> Optional[Scope]:
        """Which jobs a change at ``path`` (or below it) can affect; None: no job's."""
        root = str(self.root)
        if path == root:
            return ALL_JOBS
        if not path.startswith(root + os.sep):
            return None
        parts = path[len(root) + 1 :].split(os.sep)
        if parts[0] not in (INBOX_DIR, REVIEW_DIR):
            return None
        if len(parts) == 1:
            return ALL_JOBS
        if not EMAIL_PATTERN.match(parts[1]):
            return None
        if len(parts) == 2:
            return Scope(parts[1])
        return Scope.of(JobRef(parts[1], parts[2])) if UID_PATTERN.match(parts[2]) else None

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
class PrivateLayout:
    """The owner's private files for one queue: outside ``datasites/``, so never synced."""

    private_dir: Path  # the identity's private folder (``Workspace.private_dir``)
    queue: str

    @cached_property
    def serve_lock(self) -> Path:
        """Held by the one process serving the queue; holds its pid."""
        return self.private_dir / f"{self.queue}.serve.lock"

    def state_lock(self, stripe: int) -> Path:
        """One of the lock files that serialise state changes across owner processes."""
        return self.private_dir / f"{self.queue}.state.{stripe}.lock"

    @cached_property
    def start_journal(self) -> Path:
        return self.private_dir / f"{self.queue}.started"

    @cached_property
    def scratch(self) -> Path:
        """The workers' scratch slots, one folder each."""
        return self.private_dir / "runs" / self.queue

    @cached_property
    def accepted_root(self) -> Path:
        """The owner's copies of accepted jobs, one folder per requester."""
        return self.private_dir / "accepted" / self.queue

    def accepted(self, ref: JobRef) -> Path:
        """The owner's immutable copy of one accepted job."""
        return self.accepted_root / ref.requester / ref.uid

    def accepted_request(self, ref: JobRef) -> Path:
        return self.accepted(ref) / JOB_FILE

    def accepted_code(self, ref: JobRef) -> Path:
        return self.accepted(ref) / CODE_DIR

    def accepted_requesters(self) -> list[str]:
        """The requesters with an accepted copy."""
        try:
            with os.scandir(self.accepted_root) as entries:
                return [e.name for e in entries if e.is_dir(follow_symlinks=False) and EMAIL_PATTERN.match(e.name)]
        except FileNotFoundError:
            return []
