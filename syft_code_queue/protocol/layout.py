"""Where every file of a queue lives: the one module that joins a path.

Synced, under ``datasites/<owner>/app_data/<queue>/`` (``QueueLayout``):
- ``inbox/<requester>/<uid>/``: written by the requester only (``job.json``, ``code/``, an
  optional ``cancel.json``);
- ``review/<requester>/<uid>/``: written by the owner only (``state.json``, ``stdout.txt``,
  ``stderr.txt``, ``outputs/``, ``release.json``);
- ``heartbeat.json``: written by the serving process, readable by anyone;
- ``runtimes.json``: the owner's runtimes, readable by everyone.

Owner-private, under ``<data_dir>/.syft_code_queue/<owner>/``, never synced
(``PrivateLayout``): the serve lock, the state locks, the start journal, the workers'
scratch slots, the trust rules, the audit log, the held results of jobs whose release the
owner decides (``held/<queue>/<requester>/<uid>/``: ``held.json``, the logs, ``outputs/``,
and ``releasing.json`` while a release is being published), ``accepted/<queue>/<requester>/<uid>/``
(``job.json`` and ``code/``): the owner's immutable copy of each accepted job, which is what
is shown, approved and run, the declared runtimes, their locks and the built environments
(``RuntimePaths``; on a root server the environments live in a machine-wide folder its jobs'
unprivileged uids can reach, see ``shared_environments``).

Datasets (``DatasetLayout``): the public part (``dataset.yaml``, the README, the mock, the
permission files) under ``datasites/<owner>/public/syft_datasets/v1/<name>/``, syft-dataset's
v1 layout; the owner's registry of pointers to private folders under
``<data_dir>/.syft_code_queue/<owner>/datasets/``, never synced; where syft-dataset 0.1.21
and syft-rds 0.5 keep theirs, to discover them; and the requester's mock runs under
``<data_dir>/.syft_code_queue/<requester>/mock-runs/``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

from ..models import EMAIL_PATTERN, UID_PATTERN, JobRef, validate_dataset_name

JOB_FILE = "job.json"
CANCEL_FILE = "cancel.json"
STATE_FILE = "state.json"
CODE_DIR = "code"
OUTPUTS_DIR = "outputs"
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
HEARTBEAT_FILE = "heartbeat.json"
RELEASE_FILE = "release.json"
HELD_FILE = "held.json"
RELEASING_FILE = "releasing.json"
INBOX_DIR = "inbox"
REVIEW_DIR = "review"
RUNTIMES_FILE = "runtimes.json"
REQUIREMENTS_FILE = "requirements.txt"  # at the root of a code folder

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

    @cached_property
    def release_file(self) -> Path:
        return self.review / RELEASE_FILE


@dataclass(frozen=True)
class HeldPaths:
    """One job's held results, in the owner's private storage."""

    folder: Path

    @cached_property
    def held_file(self) -> Path:
        """What was held and each file's verdict (``HeldResults``)."""
        return self.folder / HELD_FILE

    @cached_property
    def releasing_file(self) -> Path:
        """A release decided and not yet wholly published: a restart completes or undoes it."""
        return self.folder / RELEASING_FILE

    @cached_property
    def outputs_dir(self) -> Path:
        return self.folder / OUTPUTS_DIR

    @cached_property
    def stdout_file(self) -> Path:
        return self.folder / STDOUT_FILE

    @cached_property
    def stderr_file(self) -> Path:
        return self.folder / STDERR_FILE


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

    @cached_property
    def heartbeat(self) -> Path:
        """The serving process's sign of life, readable by anyone (``Heartbeat``)."""
        return self.root / HEARTBEAT_FILE

    @cached_property
    def runtimes(self) -> Path:
        """The owner's published runtimes (``PublishedRuntimes``)."""
        return self.root / RUNTIMES_FILE

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
    def trust_rules(self) -> Path:
        """The owner's trust rules (``TrustRules``): code approved without a person."""
        return self.private_dir / f"{self.queue}.trust.json"

    @cached_property
    def trust_lock(self) -> Path:
        """Held while the trust rules are read, changed and written back."""
        return self.private_dir / f"{self.queue}.trust.lock"

    @cached_property
    def audit_log(self) -> Path:
        """The append-only audit log, one ``AuditRecord`` per line."""
        return self.private_dir / f"{self.queue}.audit.jsonl"

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

    def held(self, ref: JobRef) -> HeldPaths:
        """Where a job's results wait for the owner's release."""
        return HeldPaths(self.private_dir / "held" / self.queue / ref.requester / ref.uid)

    @cached_property
    def declared_runtimes(self) -> Path:
        """The runtimes the owner declared for this queue (``RuntimeDeclarations``)."""
        return self.private_dir / f"{self.queue}.runtimes.json"

    @cached_property
    def runtime_paths(self) -> "RuntimePaths":
        return RuntimePaths(self.private_dir / "runtimes")


@dataclass(frozen=True)
class RuntimePaths:
    """The owner's resolutions and locks (shared by the owner's queues: a lock is named by its
    hash) and, by default, the cache of environments built from them."""

    root: Path

    def lock(self, lock_sha256: str) -> Path:
        return self.root / "locks" / f"{lock_sha256}.json"

    def resolution(self, key: str) -> Path:
        """Which lock a runtime and a set of requirements resolved to."""
        return self.root / "resolved" / f"{key}.json"

    @cached_property
    def environments(self) -> Path:
        return self.root / "environments"


def requirements_file(code_dir: Path) -> Path:
    """A code folder's ``requirements.txt`` (the packages a job declares)."""
    return code_dir / REQUIREMENTS_FILE


def shared_environments() -> Path:
    """Where a root server builds environments: its jobs run as unprivileged uids that cannot
    reach the owner's private folder, so they live in the system's temporary folder (which
    they can pass through) instead. They hold public packages only, never private data."""
    return Path(tempfile.gettempdir()) / "syft-code-queue-environments"


class EnvironmentPaths:
    """One cache of built environments: ``<lock hash>/`` each (a virtual environment), with
    ``<lock hash>.lock`` beside it (held shared while a job uses it, exclusively while it is
    built or evicted; its modification time is when it was last used)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def environment(self, lock_sha256: str) -> Path:
        return self.root / lock_sha256

    def lock_file(self, lock_sha256: str) -> Path:
        return self.root / f"{lock_sha256}.lock"

    def built_marker(self, lock_sha256: str) -> Path:
        """Written last by a build: its size in bytes. No marker: not (completely) built."""
        return self.environment(lock_sha256) / ".scq-built"

    def scripts(self, lock_sha256: str) -> Path:
        """The environment's ``bin/``: its ``python``, ``pip`` and console scripts."""
        return self.environment(lock_sha256) / "bin"

    def interpreter(self, lock_sha256: str) -> Path:
        return self.scripts(lock_sha256) / "python"

    def pip_config(self, lock_sha256: str) -> Path:
        """pip's configuration inside the environment (pip reads ``sys.prefix/pip.conf``)."""
        return self.environment(lock_sha256) / "pip.conf"

    def known(self) -> list[str]:
        """Lock hashes of the environments this cache has held (built or not)."""
        try:
            return sorted(p.stem for p in self.root.glob("*.lock"))
        except FileNotFoundError:
            return []


DATASET_FILE = "dataset.yaml"  # syft-dataset's name for a dataset's public metadata
README_FILE = "README.md"
PRIVATE_METADATA_FILE = "private_metadata.yaml"  # syft-dataset's pointer to its private data
INSIDE_DATA = "/job/data"  # where a job sees its datasets, one folder each
# What the public folder of a dataset holds besides the mock's own files.
DATASET_METADATA_FILES = frozenset({DATASET_FILE, README_FILE, "syft.pub.yaml", "syftperm.yaml"})


@dataclass(frozen=True)
class DatasetLayout:
    """Where the datasets of ``owner`` live, seen from one SyftBox root (``private_dir``:
    this root's identity's owner-private folder, ``Workspace.private_dir``)."""

    datasites: Path
    owner: str
    private_dir: Path

    @cached_property
    def public(self) -> Path:
        """Our datasets, in syft-dataset's v1 layout."""
        return self.datasites / self.owner / "public" / "syft_datasets" / "v1"

    def folder(self, name: str) -> Path:
        """A dataset's public folder: metadata, README and the mock's files."""
        return self.public / validate_dataset_name(name)

    def metadata(self, name: str) -> Path:
        return self.folder(name) / DATASET_FILE

    def readme(self, name: str) -> Path:
        return self.folder(name) / README_FILE

    def permission_files(self, name: str) -> tuple[Path, Path]:
        """The folder's ``syft.pub.yaml`` and legacy ``syftperm.yaml``."""
        return self.folder(name) / "syft.pub.yaml", self.folder(name) / "syftperm.yaml"

    def url(self, name: str, private: bool = False) -> str:
        """The ``syft://`` URL syft-dataset's v1 document gives the public folder (or names
        for the private part, which is ours outside the SyftBox folder and reached by no URL)."""
        area = "private" if private else "public"
        return f"syft://{self.owner}/{area}/syft_datasets/v1/{validate_dataset_name(name)}"

    @cached_property
    def registry(self) -> Path:
        """The owner's private registry: one document per dataset, never synced."""
        return self.private_dir / "datasets"

    def record(self, name: str) -> Path:
        return self.registry / f"{validate_dataset_name(name)}.json"

    @cached_property
    def registry_lock(self) -> Path:
        return self.registry / ".lock"

    # -- what other tools made ------------------------------------------------------------
    @cached_property
    def syft_dataset_public(self) -> tuple[Path, ...]:
        """syft-dataset 0.1.21's public roots: protocol 0 (no version folder), then v1."""
        base = self.datasites / self.owner / "public" / "syft_datasets"
        return (base, base / "v1")

    def syft_dataset_private(self, name: str, v1: bool) -> Path:
        """Where syft-dataset keeps a dataset's private part (inside the datasite: synced,
        under an owner-only ACL)."""
        base = self.datasites / self.owner / "private" / "syft_datasets"
        return (base / "v1" if v1 else base) / name / PRIVATE_METADATA_FILE

    @cached_property
    def syft_rds_public(self) -> Path:
        """syft-rds 0.5's public datasets: one folder each, the mock's files inside."""
        return self.datasites / self.owner / "public" / "datasets"

    def syft_rds_private(self, name: str) -> Path:
        """syft-rds 0.5's private part: ``<data_dir>/../.syftbox/private_datasets/<owner>/<name>``,
        outside the synced tree."""
        return self.datasites.parent.parent / ".syftbox" / "private_datasets" / self.owner / name

    # -- mock runs ------------------------------------------------------------------------
    def mock_run(self, run_id: str) -> "MockRunPaths":
        """A mock run's folder, in this identity's private folder: SyftBox never syncs it."""
        return MockRunPaths(self.private_dir / "mock-runs" / run_id)


@dataclass(frozen=True)
class MockRunPaths:
    """One mock run's files: what ran, its logs and its outputs."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / CODE_DIR

    @property
    def outputs(self) -> Path:
        return self.root / OUTPUTS_DIR

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def stdout(self) -> Path:
        return self.root / STDOUT_FILE

    @property
    def stderr(self) -> Path:
        return self.root / STDERR_FILE
