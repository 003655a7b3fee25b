"""The runtimes' documents: what the owner declares (private), the locks that pin an
environment (private, named by their hash), and what the owner publishes for requesters.

A ``Lock`` is the whole recipe of one environment: the interpreter, the index and uv's pinned
requirements with their hashes. Its ``sha256`` names the lock file, the built environment and
the job's record, so a job approved with a lock runs in exactly that environment.
"""

from __future__ import annotations

import hashlib
import json
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..models import DEFAULT_RUNTIME, RUNTIME_NAME_PATTERN


class Lock(BaseModel):
    """A resolution: ``requirements`` is uv's pinned output (``name==version`` with hashes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interpreter: str  # the base interpreter the environment is made from
    prefix: str  # its installation (``sys.base_prefix``), which the job must see too
    python: str  # its version, e.g. "3.11.2"
    index_url: Optional[str] = None  # None: uv's default index (PyPI unless the owner configured one)
    requirements: str = ""

    @property
    def sha256(self) -> str:
        canonical = json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def pins(self) -> tuple[str, ...]:
        """``name==version`` of every package, in uv's (alphabetical) order."""
        pins = []
        for line in self.requirements.splitlines():
            if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
                pins.append(line.split(";")[0].split("\\")[0].strip())
        return tuple(pins)


class RuntimeSpec(BaseModel):
    """One runtime the owner declared: what they asked for, and the lock it resolved to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RUNTIME_NAME_PATTERN)
    python: Optional[str] = Field(default=None, pattern=r"^3(\.\d+){0,2}$")  # None: the serving version
    packages: tuple[str, ...] = ()
    index_url: Optional[str] = None
    allow_requirements: bool = False
    lock_sha256: str = ""

    @field_validator("name")
    @classmethod
    def _not_default(cls, value: str) -> str:
        if value == DEFAULT_RUNTIME:
            raise ValueError(
                f"{DEFAULT_RUNTIME!r} names the serving interpreter's own environment; choose another name"
            )
        return value


class RuntimeDeclarations(BaseModel):
    """The owner's private list of declared runtimes for one queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtimes: tuple[RuntimeSpec, ...] = ()


class Resolution(BaseModel):
    """Which lock a runtime plus a submission's requirements resolved to (private)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lock_sha256: str


class PublishedRuntime(BaseModel):
    """A runtime as requesters (and the SubmitForm) see it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    python: str
    packages: tuple[str, ...] = ()  # name==version of everything installed; () for the default
    lock_sha256: Optional[str] = None  # None: the default runtime (the owner's own environment)
    allow_requirements: bool = False  # whether a submission's requirements.txt is installed
    default: bool = False


class PublishedRuntimes(BaseModel):
    """``runtimes.json`` at the queue's root, readable by everyone; owner-written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtimes: tuple[PublishedRuntime, ...] = ()
