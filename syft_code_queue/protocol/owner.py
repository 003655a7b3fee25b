"""The owner's side of the protocol: accept what arrives in the inbox, keep each job's
``state.json`` (the one source of truth for its status), publish results.

Every state change goes through ``update(ref, change)`` under the job's lock, which
serialises it between this process's threads and other owner processes (a server thread
and an ``scq approve`` may act on the same job); ``change`` is one of ``lifecycle``'s pure
steps. ``create`` writes a job's first state. Results go to the requester's review folder
at once (``publish_results``), or into the owner's private held folder (``hold_results``)
until the owner releases them (``publish_release``). Each step a write
adds to a history goes into the owner's audit log and to the store's observers (the
server's notifications).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator, Optional

from pydantic import ValidationError

from ..cache import BoundedCache
from ..errors import (
    AmbiguousJobError,
    InvalidTransitionError,
    JobNotFoundError,
    ReleaseError,
    StillArriving,
    SubmissionError,
    UnsafeFolderError,
    describe,
)
from ..filesystem import make_folders, open_regular, read_regular, remove_tree
from ..models import (
    EMAIL_PATTERN,
    UID_PATTERN,
    CancelRequest,
    FileEntry,
    Job,
    JobRef,
    JobRequest,
    JobResult,
    JobState,
    QueueConfig,
)
from ..syftbox import (
    FileIdentity,
    Workspace,
    atomic_write_json,
    file_identity,
    never_synced,
    sha256_file,
    write_if_changed,
)
from .accepted import AcceptedCopies
from .audit import AuditLog
from .bounds import check_manifest_length, read_document
from .documents import parse_request, read_cancel, read_state, submission_folders
from .layout import OUTPUTS_DIR, STDERR_FILE, STDOUT_FILE, PrivateLayout, QueueLayout
from .manifest import compare_to_manifest, files_present, folder_entries, through_symlink
from .permissions import LEGACY_PERMISSION_FILE, PERMISSION_FILE, legacy_permissions_yaml, queue_permissions_yaml

log = logging.getLogger(__name__)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PUBLISHED_MODE = 0o644  # what the owner's SyftBox client needs to read and upload
WITHHELD_NOTE = "\n[syft-code-queue: outputs not returned (SyftBox does not sync them): {}]\n"
UNNAMED_NOTE = "\n[syft-code-queue: outputs not returned (their names cannot be sent): {}]\n"
OVER_NOTE = "\n[syft-code-queue: {} more outputs not returned (at most {} are: max_output_files)]\n"
STATES_KEPT = 1_024  # state versions an owner store remembers writing: the jobs in flight

StateChange = Callable[[JobState], JobState]
# Told of every state this store writes: (the version before, or None for a first state; the new one).
Observer = Callable[[Optional[JobState], JobState], None]


@dataclass(frozen=True)
class CodeFile:
    """The first bytes of one submitted file, shown to the reviewer.

    ``matches_manifest`` tells whether the bytes shown are the ones the manifest (and so an
    approval) pins, and the requester's copy still holds them: a change in the inbox after
    acceptance is flagged (``changed_after_acceptance``), never shown."""

    entry: FileEntry
    head: bytes
    matches_manifest: bool
    # The requester's inbox copy of the file no longer holds the accepted bytes (what is
    # shown, and what an approval runs, is still the owner's accepted copy).
    changed_after_acceptance: bool = False

    @property
    def truncated(self) -> bool:
        return len(self.head) < self.entry.size


# Jobs hash onto this many state locks: writes of different jobs (each ending in an fsync)
# then mostly run side by side and share the disk's journal commits instead of queueing.
LOCK_STRIPES = 16


@dataclass
class _Stripe:
    lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0  # how often the thread holding ``lock`` re-entered it
    file: Optional[IO[str]] = None  # the lock file, kept open between uses


class OwnerStore:
    """What the data owner reads and writes, for one queue."""

    def __init__(self, workspace: Workspace, queue: str) -> None:
        self.workspace = workspace
        self.queue = queue
        self.layout = QueueLayout(workspace.datasites, workspace.email, queue)
        self.private = PrivateLayout(workspace.private_dir, queue)
        self.accepted = AcceptedCopies(self.private)
        self._stripes = [_Stripe() for _ in range(LOCK_STRIPES)]
        # job.json -> the version last parsed and its request: a submission still arriving
        # is looked at on every pass, and parsing a large one again costs every requester
        self._requests: BoundedCache[JobRef, tuple[FileIdentity, JobRequest]] = BoundedCache(STATES_KEPT)
        self._memo_lock = threading.Lock()  # the requesters it has seen
        self._known_requesters: set[str] = set()
        # state file -> the version this store wrote last, and its state (recent jobs only:
        # forgetting one costs reading and parsing it again, nothing more)
        self._written: BoundedCache[str, tuple[FileIdentity, JobState]] = BoundedCache(STATES_KEPT)
        self.audit = AuditLog(self.private.audit_log)
        self._observers: list[Observer] = []

    # -- setup ------------------------------------------------------------------------
    def ensure_queue(self) -> None:
        self.layout.inbox.mkdir(parents=True, exist_ok=True)
        self.layout.review.mkdir(parents=True, exist_ok=True)
        self.private.private_dir.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.layout.root / PERMISSION_FILE, queue_permissions_yaml())
        self._known_requesters = set(self.requesters())
        self._write_legacy_permissions()

    def _write_legacy_permissions(self) -> None:
        write_if_changed(self.layout.root / LEGACY_PERMISSION_FILE, legacy_permissions_yaml(self._known_requesters))

    def note_requester(self, requester: str) -> None:
        with self._memo_lock:  # state writes of different jobs run concurrently
            if requester not in self._known_requesters:
                # Everyone with an inbox keeps their rule, also in a store that never ran
                # ensure_queue (``scq approve``): the file is rewritten whole.
                self._known_requesters |= {*self.requesters(), requester}
                self._write_legacy_permissions()

    @contextmanager
    def locked(self, ref: JobRef) -> Iterator[None]:
        """Serialise changes to the state of job ``ref`` between this process's threads and
        other owner processes; other jobs' changes mostly proceed in parallel."""
        stripe_index = int(ref.uid, 16) % LOCK_STRIPES
        stripe = self._stripes[stripe_index]
        with stripe.lock:
            if stripe.depth:  # re-entered by the thread that already holds the file lock
                stripe.depth += 1
                try:
                    yield
                finally:
                    stripe.depth -= 1
                return
            fh = self._lock_file(stripe, stripe_index)
            fcntl.flock(fh, fcntl.LOCK_EX)
            stripe.depth = 1
            try:
                yield
            finally:
                stripe.depth = 0
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _lock_file(self, stripe: _Stripe, index: int) -> IO[str]:
        """The stripe's lock file, opened once; opened again if it was deleted meanwhile (a
        lock on a deleted file would exclude nobody)."""
        if stripe.file is not None and os.fstat(stripe.file.fileno()).st_nlink:
            return stripe.file
        if stripe.file is not None:
            stripe.file.close()
        path = self.private.state_lock(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        stripe.file = open(path, "a+")
        return stripe.file

    # -- reading ----------------------------------------------------------------------
    def requesters(self) -> list[str]:
        try:
            return sorted(p.name for p in self.layout.inbox.iterdir() if p.is_dir() and EMAIL_PATTERN.match(p.name))
        except FileNotFoundError:
            return []

    def submissions(self, requester: Optional[str] = None) -> list[JobRef]:
        """Every job folder in the inbox (or one requester's)."""
        return submission_folders(self.layout, requester)

    def find(self, key: str) -> JobRef:
        """The job named ``key``: ``REQUESTER/UID``, or a bare uid. A uid found under several
        requesters' folders is the one the owner accepted, when exactly one was (a duplicate
        uid is refused at intake); otherwise it is ambiguous and must be named in full."""
        requester, _, uid = key.rpartition("/") if isinstance(key, str) else ("", "", "")
        if not UID_PATTERN.match(uid) or (requester and not EMAIL_PATTERN.match(requester)):
            raise JobNotFoundError(f"not a job uid (or REQUESTER/UID): {key!r}")
        if requester:
            ref = JobRef(requester, uid)
            if self.layout.job(ref).submission.is_dir() or self.accepted.request(ref) is not None:
                return ref
            raise JobNotFoundError(f"no job {key} in queue {self.queue!r} of {self.workspace.email}")
        found = [who for who in self.requesters() if self.layout.job(JobRef(who, uid)).submission.is_dir()]
        if len(found) > 1:
            holders = [who for who in self.accepted.holders(uid) if who in found]
            if len(holders) != 1:
                named = ", ".join(f"{who}/{uid}" for who in found)
                raise AmbiguousJobError(f"uid {uid} is used by {len(found)} requesters; name the job as one of {named}")
            found = holders
        if not found:
            raise JobNotFoundError(f"no job {uid} in queue {self.queue!r} of {self.workspace.email}")
        return JobRef(found[0], uid)

    def read_request(self, ref: JobRef, config: QueueConfig) -> JobRequest:
        """The submission's request, checked against where it was found and against the
        owner's bounds; parsed again only when ``job.json`` changed.

        Raises StillArriving while it may still be syncing, SubmissionError when it never
        can be accepted."""
        path = self.layout.job(ref).job_file
        known = self._requests.get(ref)
        if known is not None and file_identity(path) == known[0]:
            request = known[1]
        else:
            identity, document = read_document(path, config.max_request_bytes)
            check_manifest_length(document, config)
            try:
                request = JobRequest.model_validate(document)
            except ValidationError as exc:
                raise SubmissionError(f"job.json is invalid: {describe(exc, subject='document')}") from None
            self._requests.put(ref, (identity, request))
        if request.requester_email != ref.requester:
            raise SubmissionError(
                f"job.json claims requester {request.requester_email!r} but was submitted by {ref.requester!r}"
            )
        if request.uid != ref.uid:
            raise SubmissionError(f"job.json names uid {request.uid!r} but lives in folder {ref.uid!r}")
        if request.target_email != self.workspace.email:
            raise SubmissionError(f"job.json targets {request.target_email!r}, not {self.workspace.email!r}")
        return request

    def check_code(self, request: JobRequest) -> None:
        """Raise StillArriving until the code folder matches the manifest byte for byte."""
        code_dir = self.layout.job(JobRef(request.requester_email, request.uid)).code_dir
        problems, broken = compare_to_manifest(code_dir, request.files)
        if broken:
            raise SubmissionError(broken[0])
        if problems:
            shown = ", ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
            raise StillArriving(f"{len(problems)} of {len(request.files)} files not arrived or incomplete: {shown}")

    def read_state(self, ref: JobRef) -> Optional[JobState]:
        """The state on disk; the version this store wrote last is not read and parsed again."""
        path = self.layout.job(ref).state_file
        mine = self._written.get(str(path))
        if mine is not None and file_identity(path) == mine[0]:
            return mine[1]
        return read_state(self.layout, ref)

    def read_cancel(self, ref: JobRef) -> Optional[CancelRequest]:
        return read_cancel(self.layout, ref)

    def load_job(self, ref: JobRef) -> Optional[Job]:
        """The job as the owner sees it. A submission rejected for an unreadable job.json is
        still shown (named as such), so the audit trail has no holes."""
        state = self.read_state(ref)
        try:
            raw: Optional[bytes] = read_regular(self.layout.job(ref).job_file)[1]
        except (OSError, UnsafeFolderError):
            raw = None
        request = parse_request(raw) if raw is not None else None
        return self.job_view(ref, request, raw is not None, state)

    def job_view(
        self, ref: JobRef, request: Optional[JobRequest], present: bool, state: Optional[JobState]
    ) -> Optional[Job]:
        """The owner's view of a submission from its parsed documents; the job index builds
        its jobs the same way. Once accepted, a job is the owner's private copy (the inbox's
        only flags a change); before, its identity is the folder's, whatever it claims."""
        accepted = self.accepted.request(ref) if state is not None else None
        if accepted is not None:
            return Job(request=accepted, state=state, changed_after_acceptance=request != accepted)
        if request is not None and (request.requester_email, request.uid) != ref:
            request = request.model_copy(update={"requester_email": ref.requester, "uid": ref.uid})
        if request is None:
            if state is None:
                return None
            request = JobRequest.model_construct(
                uid=ref.uid,
                name="(unreadable submission)",
                description="",
                tags=[],
                requester_email=ref.requester,
                target_email=self.workspace.email,
                auto_approval=False,
                created_at=state.history[0].at,
                files=[],
            )
        return Job(request=request, state=state)

    def read_code_file(self, ref: JobRef, path: str, max_bytes: int) -> CodeFile:
        """At most ``max_bytes`` of a submitted file named in its manifest (nothing else is
        readable this way), hashed in full to compare with the manifest. An accepted job's
        file is read from the owner's copy: what is shown is what an approval runs."""
        request, code = self.accepted.request(ref), self.accepted.code_dir(ref)
        inbox = self.layout.job(ref).code_dir
        if request is None or code is None:
            request, code = self.read_request(ref, QueueConfig(queue_name=self.queue)), inbox
        entry = next((f for f in request.files if f.path == path), None)
        if entry is None:
            raise FileNotFoundError(f"{path!r} is not part of job {ref.uid}")
        file = code / entry.path
        if through_symlink(code, entry.path):
            raise SubmissionError(f"{entry.path} is a symlink; only regular files are accepted")
        if entry.size == 0 and not file.exists():
            return CodeFile(entry=entry, head=b"", matches_manifest=True)  # empty files never sync
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        with os.fdopen(open_regular(file), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                digest.update(chunk)
                size += len(chunk)
                if len(head) < max_bytes:
                    head += chunk[: max_bytes - len(head)]
        matches = size == entry.size and digest.hexdigest() == entry.sha256
        changed = code != inbox and not files_present(inbox, [entry])
        return CodeFile(entry, bytes(head), matches and not changed, changed)

    # -- writing ----------------------------------------------------------------------
    def observe(self, observer: Observer) -> None:
        """Call ``observer(before, after)`` after every state write (under the job's lock:
        it must return at once)."""
        self._observers.append(observer)

    def _write(self, state: JobState, durable: bool, before: Optional[JobState] = None) -> None:
        self.note_requester(state.requester_email)
        path = self.layout.job(JobRef(state.requester_email, state.uid)).state_file
        written = atomic_write_json(path, state.document(), durable)
        self._written.put(str(path), (written, state))
        self.audit.transitions(state, state.history[len(before.history) if before else 0 :])
        for observer in self._observers:
            try:
                observer(before, state)
            except Exception:
                log.exception("state observer failed for job %s", state.uid)

    def wrote_last(self, path: str) -> bool:
        """Whether the state file at ``path`` is still the version this store wrote: a change
        event for it then says nothing new."""
        mine = self._written.get(path)
        return mine is not None and file_identity(path) == mine[0]

    def create(self, state: JobState, durable: bool = False) -> JobState:
        """Write a job's first state (``lifecycle.accept``, ``refuse``, ``fail_recovered``),
        or return the one that exists already.

        Not forced to disk by default: an acceptance or a refusal follows from the submission
        and the owner's rules, so a server restarted after a power cut that lost it decides
        the same again."""
        ref = JobRef(state.requester_email, state.uid)
        with self.locked(ref):
            existing = self.read_state(ref)
            if existing is not None:
                return existing
            self._write(state, durable)
            return state

    def update(self, ref: JobRef, change: StateChange, durable: bool = True) -> JobState:
        """Apply ``change`` (a ``lifecycle`` step) to the job's current state and write the
        result, under the job's lock. Raises ``InvalidTransitionError`` when the job has no
        state yet or ``change`` refuses."""
        with self.locked(ref):
            state = self.read_state(ref)
            if state is None:
                raise InvalidTransitionError(f"job {ref.uid} has not been accepted yet (still arriving)")
            new = change(state)
            self._write(new, durable, state)
            return new

    def publish_results(self, ref: JobRef, stdout: Path, stderr: Path, outputs: Path, max_files: int) -> JobResult:
        """Move logs and outputs into the requester's review folder, each file atomically; the
        logs first, so a failure while publishing outputs still leaves them.

        Outputs SyftBox never syncs, names a manifest refuses, and those past ``max_files`` (a
        results manifest ``state.json`` must carry under SyftBox's file size cap) are withheld
        and named in stderr. Returns the manifest that the state records, so the requester
        can tell when the results have fully synced."""
        paths = self.layout.job(ref)
        returned = _returned(outputs, stderr, max_files)
        entries: dict[str, Optional[FileEntry]] = {}
        for source, dest, name in ((stdout, paths.stdout_file, STDOUT_FILE), (stderr, paths.stderr_file, STDERR_FILE)):
            try:
                entries[name] = _publish_file(source, dest, name)
            except FileNotFoundError:
                entries[name] = None
        out_entries = [_publish_file(outputs / rel, paths.outputs_dir / rel, rel) for rel in returned]
        return JobResult(stdout=entries[STDOUT_FILE], stderr=entries[STDERR_FILE], outputs=tuple(out_entries))

    def hold_results(self, ref: JobRef, stdout: Path, stderr: Path, outputs: Path, max_files: int) -> JobResult:
        """Move logs and outputs into the owner's private held folder, which never syncs: the
        results of a run whose release the owner decides. The same outputs are withheld as
        ``publish_results`` withholds (they could never be released). Returns what was held."""
        held = self.private.held(ref)
        held.folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # readable by the owner only
        returned = _returned(outputs, stderr, max_files)
        entries: dict[str, Optional[FileEntry]] = {}
        for source, dest, name in ((stdout, held.stdout_file, STDOUT_FILE), (stderr, held.stderr_file, STDERR_FILE)):
            try:
                entries[name] = _publish_file(source, dest, name)
            except FileNotFoundError:
                entries[name] = None
        out_entries = tuple(_publish_file(outputs / rel, held.outputs_dir / rel, rel) for rel in returned)
        return JobResult(stdout=entries[STDOUT_FILE], stderr=entries[STDERR_FILE], outputs=out_entries)

    def publish_release(self, ref: JobRef, outputs: list[FileEntry], logs: list[FileEntry], record: str) -> None:
        """Copy released files from the held folder into the requester's review folder, each
        atomically and only with the bytes that were checked, then ``release.json``. Raises
        ``ReleaseError`` naming a held file that changed; what was copied stays until
        ``unpublish_release``. Running it again after a crash copies the same bytes again."""
        held, paths = self.private.held(ref), self.layout.job(ref)
        for entry in outputs:
            _copy_checked(held.outputs_dir / entry.path, paths.outputs_dir / entry.path, entry)
        for entry in logs:
            _copy_checked(held.folder / entry.path, paths.review / entry.path, entry)
        atomic_write_json(paths.release_file, record)

    def unpublish_release(self, ref: JobRef) -> None:
        """Undo a release that cannot be completed: no log, output or ``release.json`` stays."""
        self.withdraw_results(ref)
        self.layout.job(ref).release_file.unlink(missing_ok=True)

    def remove_bulky(self, ref: JobRef) -> None:
        """Drop code, logs, outputs and held results of a finished job; job.json and
        state.json stay as the audit."""
        self.accepted.drop_code(ref)
        remove_tree(self.private.held(ref).folder)
        remove_tree(self.layout.job(ref).code_dir)
        self.withdraw_results(ref)

    def withdraw_results(self, ref: JobRef) -> None:
        """Remove what was published of a job's logs and outputs (after a failed publish, or
        in a cleanup)."""
        paths = self.layout.job(ref)
        remove_tree(paths.review / OUTPUTS_DIR)
        paths.stdout_file.unlink(missing_ok=True)
        paths.stderr_file.unlink(missing_ok=True)


def _listed(names: list[str], shown: int = 20) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _valid_name(rel: str) -> bool:
    """Whether a results manifest can name ``rel`` (``a\\b.txt`` or a control character
    cannot be)."""
    try:
        FileEntry(path=rel, size=0, sha256=EMPTY_SHA256)
    except ValidationError:
        return False
    return True


def _returned(outputs: Path, stderr: Path, max_files: int) -> list[str]:
    """The outputs a run may return: not those SyftBox never syncs, those no manifest can
    name, nor those past ``max_files``; each withheld kind is named in ``stderr``."""
    returned: list[str] = []
    unsynced: list[str] = []  # listed, they would keep the results "not yet synced"
    unnamed: list[str] = []  # no results manifest can name them (shown escaped)
    over = 0
    for rel in _regular_files(outputs):
        if never_synced(rel):
            unsynced.append(rel)
        elif not _valid_name(rel):
            unnamed.append(repr(rel))
        elif len(returned) < max_files:
            returned.append(rel)
        else:
            over += 1
    notes = [WITHHELD_NOTE.format(_listed(unsynced))] if unsynced else []
    if unnamed:
        notes.append(UNNAMED_NOTE.format(_listed(unnamed)))
    if over:
        notes.append(OVER_NOTE.format(over, max_files))
    if notes:
        with open(stderr, "ab") as fh:
            fh.write("".join(notes).encode())
    return returned


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
    make_folders(dest.parent)
    if not _move_own_file(source, dest):
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    return FileEntry(path=rel, size=size, sha256=digest)


def _copy_checked(source: Path, dest: Path, entry: FileEntry) -> None:
    """Put exactly ``entry``'s bytes at ``dest`` atomically, hashing ``source`` as it is
    copied; an empty file is listed, never written (it would not sync)."""
    if entry.size == 0:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(source, "rb") as fin, open(tmp, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise ReleaseError(
                f"held file {entry.path} changed after it was checked (its sha256 differs); "
                "it is refused: withhold the job, or run it again"
            )
        os.chmod(tmp, PUBLISHED_MODE)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
