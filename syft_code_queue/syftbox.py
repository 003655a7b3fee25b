"""The SyftBox workspace: who we are, where datasites live, how files are written and shared.

Everything here follows SyftBox's own conventions so the same code works on an embedded
local root (several datasites side by side, for demos and tests) and on a real SyftBox
client whose folder is synced with other machines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Optional, Union

from .models import FileEntry, validate_email
from .recent import Recent

PathLike = Union[str, Path]

log = logging.getLogger(__name__)

CONFIG_PATH_ENV = "SYFTBOX_CLIENT_CONFIG_PATH"
EMAIL_ENV = "SYFTBOX_EMAIL"
DATA_DIR_ENV = "SYFTBOX_DATA_DIR"
DEFAULT_CONFIG_PATH = Path("~/.syftbox/config.json")

# Suffix SyftBox never syncs, so a half-written file is never published.
TEMP_SUFFIX = ".tmp"
PERMISSION_FILE = "syft.pub.yaml"
LEGACY_PERMISSION_FILE = "syftperm.yaml"


class ConfigurationError(RuntimeError):
    """No SyftBox identity could be found; the message says how to provide one."""


HOW_TO_CONFIGURE = (
    "No SyftBox identity found. Either run a SyftBox client (it writes ~/.syftbox/config.json), "
    f"point {CONFIG_PATH_ENV} at its config.json, or set {EMAIL_ENV} and {DATA_DIR_ENV} "
    "(for a local root: SYFTBOX_EMAIL=you@example.com SYFTBOX_DATA_DIR=./syftbox), "
    "or pass email= and data_dir= explicitly."
)


@dataclass(frozen=True)
class Workspace:
    """One identity on one SyftBox root."""

    email: str
    data_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", validate_email(self.email))
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())

    @property
    def datasites(self) -> Path:
        return self.data_dir / "datasites"

    def datasite(self, email: Optional[str] = None) -> Path:
        return self.datasites / validate_email(email or self.email)

    @property
    def private_dir(self) -> Path:
        """Per-identity state that must never sync (locks, scratch space)."""
        return self.data_dir / ".syft_code_queue" / self.email

    def as_identity(self, email: str) -> "Workspace":
        """Another identity on the same root: only meaningful for embedded local roots."""
        return Workspace(email=email, data_dir=self.data_dir)

    @classmethod
    def discover(
        cls,
        email: Optional[str] = None,
        data_dir: Optional[PathLike] = None,
        config_path: Optional[PathLike] = None,
    ) -> "Workspace":
        """Explicit arguments, then $SYFTBOX_CLIENT_CONFIG_PATH, then $SYFTBOX_EMAIL and
        $SYFTBOX_DATA_DIR, then ~/.syftbox/config.json, as SyftBox itself does."""
        if email and data_dir:
            return cls(email=email, data_dir=Path(data_dir))
        candidates: list[Path] = []
        if config_path:
            candidates.append(Path(config_path).expanduser())
        elif os.environ.get(CONFIG_PATH_ENV):
            candidates.append(Path(os.environ[CONFIG_PATH_ENV]).expanduser())
        env_email, env_dir = os.environ.get(EMAIL_ENV), os.environ.get(DATA_DIR_ENV)
        if not candidates and env_email and env_dir:
            return cls(email=email or env_email, data_dir=Path(data_dir or env_dir))
        if not candidates:
            candidates.append(DEFAULT_CONFIG_PATH.expanduser())
        for path in candidates:
            if path.is_file():
                try:
                    config = json.loads(path.read_text())
                    found_email = email or config["email"]
                    found_dir = data_dir or config["data_dir"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigurationError(
                        f"SyftBox config {path} is not usable ({exc!s}); it needs 'email' and 'data_dir'."
                    ) from exc
                return cls(email=found_email, data_dir=Path(found_dir))
            if config_path or os.environ.get(CONFIG_PATH_ENV):
                raise ConfigurationError(f"SyftBox config file not found: {path}")
        raise ConfigurationError(HOW_TO_CONFIGURE)


# --- file helpers --------------------------------------------------------------------


FileIdentity = tuple[int, int, int]  # (inode, mtime in ns, size): one written version of a file


def atomic_write(path: Path, data: Union[bytes, str], durable: bool = True) -> FileIdentity:
    """Write under a name sync ignores, then rename, so no reader sees half a file.

    ``durable``: on disk before the rename, so it survives a power cut; writes whose loss a
    restart recovers from skip that wait. Returns the identity of the version written: a
    later ``file_identity(path)`` equal to it means the file is still exactly these bytes."""
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileNotFoundError:  # the folder is new; the usual case skips this system call
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
            info = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _identity_of(info)


def _identity_of(info: os.stat_result) -> FileIdentity:
    return info.st_ino, info.st_mtime_ns, info.st_size


def file_identity(path: Union[Path, str]) -> Optional[FileIdentity]:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _identity_of(info)


def read_versioned(path: Union[Path, str]) -> Optional[tuple[FileIdentity, bytes]]:
    """The identity of a file's version and its bytes, or None if it is absent. The identity
    is taken from the descriptor read, before reading: a change made meanwhile gives the file
    another one, so it never vouches for bytes that were not read."""
    try:
        with open(path, "rb") as fh:
            return _identity_of(os.fstat(fh.fileno())), fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def atomic_write_json(path: Path, document: str, durable: bool = True) -> FileIdentity:
    return atomic_write(path, document if document.endswith("\n") else document + "\n", durable)


def sha256_file(path: Union[Path, str]) -> tuple[int, str]:
    with open(path, "rb") as fh:
        return _sha256_of(fh)


def _sha256_of(fh: IO[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()


class UnsafeFolderError(ValueError):
    """A folder holds something that could reach outside it (a symlink, a special file)."""


# How a SyftBox client renames a file the server refused: ``job.json`` becomes
# ``job.syftrejected.json`` (legacy client) or ``job.rejected.json`` (current client).
REJECTED_MARKERS = (".syftrejected", ".rejected")


def is_sync_artifact(name: str) -> bool:
    """Files SyftBox or our own writers leave around that are never part of a payload."""
    return name.endswith(TEMP_SUFFIX) or any(
        f"{marker}." in name or name.endswith(marker) for marker in REJECTED_MARKERS
    )


def rejected_copy(path: Path) -> Optional[Path]:
    """Where the SyftBox client put ``path`` after the server refused to take it, if it did."""
    for marker in REJECTED_MARKERS:
        candidate = path.with_name(f"{path.stem}{marker}{path.suffix}")
        if candidate.is_file():
            return candidate
    return None


# What SyftBox never carries between machines, by name: hidden files and folders, caches and
# editor files (the SyftBox 0.4 client's default ignore list), ``*.log``, ``*.tmp`` and anything
# under a ``logs/`` folder (measured on the current server). Empty files never sync either:
# manifests list them and readers treat a missing empty file as present.
NEVER_SYNCED_DIRS = frozenset({"logs", "__pycache__"})
NEVER_SYNCED_SUFFIXES = (".log", TEMP_SUFFIX, ".pyc", ".pyo", ".pyd", ".swp", ".swo", ".iml")


def never_synced(relative: str) -> bool:
    """Whether SyftBox would leave this file (a relative POSIX path) behind."""
    *folders, name = relative.split("/")
    return (
        is_sync_artifact(name)
        or name.endswith(NEVER_SYNCED_SUFFIXES)
        or any(part.startswith(".") for part in (*folders, name))
        or any(part in NEVER_SYNCED_DIRS for part in folders)
    )


def folder_entries(folder: Union[Path, str]) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every entry below ``folder`` with its relative path ("a/b.py"), sorted, depth first.
    Links are listed, never followed: only real folders are entered."""

    def walk(directory: str, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        with os.scandir(directory) as found:
            items = sorted(found, key=lambda entry: entry.name)
        for item in items:
            yield prefix + item.name, item
            if item.is_dir(follow_symlinks=False):
                yield from walk(item.path, f"{prefix}{item.name}/")

    return walk(os.fspath(folder), "")


def build_manifest(folder: Path) -> list[FileEntry]:
    """Hash every regular file under ``folder`` that SyftBox will carry; refuse anything that
    could escape it. Files SyftBox never syncs are left out (and logged): listed, they would
    keep the submission "still arriving" until it times out."""
    entries: list[FileEntry] = []
    left_out: list[str] = []
    for relative, item in folder_entries(folder):
        if item.is_symlink():
            raise UnsafeFolderError(f"symlinks are not allowed in a code folder: {item.path}")
        if item.is_dir(follow_symlinks=False):
            continue
        if not item.is_file(follow_symlinks=False):
            raise UnsafeFolderError(f"only regular files are allowed in a code folder: {item.path}")
        if never_synced(relative):
            left_out.append(relative)
        else:
            size, digest = sha256_file(item.path)
            entries.append(FileEntry(path=relative, size=size, sha256=digest))
    if left_out:
        log.warning("left out of the submission (SyftBox does not sync them): %s", ", ".join(left_out))
    return entries


def through_symlink(folder: Path, rel: str) -> bool:
    """Whether any component of ``folder/rel`` is a symlink: such a path may lead anywhere."""
    path = os.fspath(folder)
    for part in rel.split("/"):
        path = f"{path}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return True
        except (FileNotFoundError, NotADirectoryError):
            return False
    return False


class VerifiedFiles:
    """Files already found to hold their manifest entry's bytes, by path, with the identity of
    the version hashed: a requester asking again and again whether results arrived does not
    hash them again. Rewritten, replaced or removed, a file has another identity and is
    checked anew."""

    def __init__(self, kept: int) -> None:
        self._seen: Recent[str, tuple[FileIdentity, int, str]] = Recent(kept)

    def holds(self, path: str, entry: FileEntry, info: os.stat_result) -> bool:
        """Whether the file at ``path`` (``info``: its stat) holds exactly ``entry``'s bytes."""
        if self._seen.get(path) == (_identity_of(info), entry.size, entry.sha256):
            return True
        with open(path, "rb") as fh:
            hashed = os.fstat(fh.fileno())  # before reading: a change meanwhile makes it stale
            size, digest = _sha256_of(fh)
        if size != entry.size or digest != entry.sha256:
            return False
        self._seen.put(path, (_identity_of(hashed), entry.size, entry.sha256))
        return True


def compare_to_manifest(
    folder: Path, files: Iterable[FileEntry], verified: Optional[VerifiedFiles] = None
) -> tuple[list[str], list[str]]:
    """(paths not arrived yet, or not yet these bytes; why others can never match: a path
    through a symlink, a file larger than listed). 0-byte files never sync, so a missing
    empty file counts as present. ``verified``: files unchanged since it vouched for them
    are not hashed again."""
    holds = verified.holds if verified is not None else _hashes_to
    pending: list[str] = []
    broken: list[str] = []
    for entry in files:
        if through_symlink(folder, entry.path):
            broken.append(f"{entry.path} goes through a symlink; only regular files are accepted")
            continue
        path = f"{folder}/{entry.path}"
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            if entry.size:
                pending.append(entry.path)
            continue
        if info.st_size > entry.size:
            broken.append(f"{entry.path} is larger than its manifest entry: corrupt")
        elif info.st_size != entry.size or not holds(path, entry, info):
            pending.append(entry.path)
    return pending, broken


def _hashes_to(path: str, entry: FileEntry, info: os.stat_result) -> bool:
    return sha256_file(path)[1] == entry.sha256


def copy_verified(source: Path, dest: Path, files: Iterable[FileEntry], spares: Optional[list[str]] = None) -> None:
    """Copy exactly the manifest's bytes from ``source`` to ``dest``, hashing as it reads.
    ``spares``: empty files of ours to move into place and write, instead of new ones.

    Raises ``ValueError`` naming the first file that differs: the runner must run the bytes
    that were approved, not whatever is in the synced folder now."""
    for entry in files:
        src = source / entry.path
        out = dest / entry.path
        out.parent.mkdir(parents=True, exist_ok=True)
        if spares:
            os.rename(spares.pop(), out)
        if entry.size == 0 and not src.exists():
            out.write_bytes(b"")
            continue
        if through_symlink(source, entry.path) or not src.is_file():
            raise ValueError(f"{entry.path} is missing or not a regular file")
        digest = hashlib.sha256()
        size = 0
        with open(src, "rb") as fin, open(out, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                fout.write(chunk)
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise ValueError(f"{entry.path} changed after it was approved")


# --- permissions ---------------------------------------------------------------------


def _yaml_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def queue_permissions_yaml() -> str:
    """``syft.pub.yaml`` for a queue root: each user writes only their own inbox folder and
    reads only their own review folder; ``terminal`` stops any nested file widening it."""
    return (
        "# Written by syft-code-queue. Requesters may write only inbox/<their email>/ and\n"
        "# read only review/<their email>/; nothing else here is shared.\n"
        "terminal: true\n"
        "rules:\n"
        "  - pattern: 'inbox/{{.UserEmail}}/**'\n"
        "    access:\n"
        "      read: ['USER']\n"
        "      write: ['USER']\n"
        "  - pattern: 'review/{{.UserEmail}}/**'\n"
        "    access:\n"
        "      read: ['USER']\n"
    )


def legacy_permissions_yaml(requesters: Iterable[str]) -> str:
    """The legacy ``syftperm.yaml`` format (SyftBox 0.4 servers). Rules apply in order, later
    ones winning; the datasite's owner may always do anything.

    That server grants create or write only together with read, so the inbox rule gives all
    three. It lists a file to every user that a ``user: '*'`` rule with a ``{useremail}``
    template matches for *someone* (downloads are still refused), so other users can list the
    paths, sizes and hashes in the inboxes (never their content): an open inbox for requesters
    not known in advance needs that template. Results are different: each known requester's
    review folder is named explicitly, so nobody else can even list them."""
    lines = [
        "# Written by syft-code-queue (legacy SyftBox permission format).",
        "- path: 'inbox/{useremail}/**'",
        "  user: '*'",
        "  permissions: [create, write, read]",
        "  type: allow",
    ]
    for email in sorted(set(requesters)):
        validate_email(email)
        lines += [
            f"- path: {_yaml_str(f'review/{email}/**')}",
            f"  user: {_yaml_str(email)}",
            "  permissions: [read]",
            "  type: allow",
        ]
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, content: str) -> bool:
    try:
        if path.read_text() == content:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write(path, content)
    return True
