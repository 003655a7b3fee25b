"""The SyftBox workspace: who we are, where datasites live, how files are written, and what
sync never carries.

Everything here follows SyftBox's own conventions so the same code works on an embedded
local root (several datasites side by side, for demos and tests) and on a real SyftBox
client whose folder is synced with other machines.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional, Union

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from .errors import ConfigurationError, describe
from .models import validate_email

PathLike = Union[str, Path]

log = logging.getLogger(__name__)

CONFIG_PATH_ENV = "SYFTBOX_CLIENT_CONFIG_PATH"
EMAIL_ENV = "SYFTBOX_EMAIL"
DATA_DIR_ENV = "SYFTBOX_DATA_DIR"
DEFAULT_CONFIG_PATH = Path("~/.syftbox/config.json")

# Suffix SyftBox never syncs, so a half-written file is never published.
TEMP_SUFFIX = ".tmp"


HOW_TO_CONFIGURE = (
    "No SyftBox identity found. Either run a SyftBox client (it writes ~/.syftbox/config.json), "
    f"point {CONFIG_PATH_ENV} at its config.json, or set {EMAIL_ENV} and {DATA_DIR_ENV} "
    "(for a local root: SYFTBOX_EMAIL=you@example.com SYFTBOX_DATA_DIR=./syftbox), "
    "or pass email= and data_dir= explicitly."
)


class SyftBoxConfig(BaseModel):
    """The fields of SyftBox's ``config.json`` this package reads (the rest is SyftBox's)."""

    model_config = ConfigDict(extra="ignore")

    email: StrictStr
    data_dir: StrictStr


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
                    config = SyftBoxConfig.model_validate_json(path.read_bytes())
                except (OSError, ValidationError) as exc:
                    cause = describe(exc) if isinstance(exc, ValidationError) else str(exc)
                    raise ConfigurationError(
                        f"SyftBox config {path} is not usable ({cause}); it needs 'email' and 'data_dir' as strings."
                    ) from None
                return cls(email=email or config.email, data_dir=Path(data_dir or config.data_dir))
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
                view = view[os.write(fd, view) :]
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


def write_if_changed(path: Path, content: str) -> bool:
    try:
        if path.read_text() == content:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomic_write(path, content)
    return True
