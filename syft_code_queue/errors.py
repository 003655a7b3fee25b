"""Every exception the package raises on purpose, under one base, and one way to word a
pydantic ``ValidationError`` as a sentence.

```
QueueError
├── ConfigurationError (RuntimeError)    no SyftBox identity could be found, or it is invalid
├── ServerAlreadyRunning (RuntimeError)  another live process serves this queue
├── JobNotFoundError (LookupError)       no job with that uid is visible to this identity
│   └── AmbiguousJobError                a bare uid that several requesters' jobs use
├── TrustRuleNotFound (LookupError)      no trust rule has that id
├── InvalidTransitionError (ValueError)  the job's status does not allow the action
├── SubmissionError (ValueError)         a submission that can never be accepted
├── UnsafeFolderError (ValueError)       a code folder holding links or special files
├── UsageError (ValueError)              a command-line argument that cannot be used
├── ReleaseError (ValueError)            held results that cannot be released as asked
├── DatasetError (ValueError)            a dataset that cannot be added, changed or used as asked
│   └── MockNotSynced                    a mock run before the dataset's mock has synced
├── DatasetNotFoundError (LookupError)   no dataset of that name at that owner
├── StillArriving                        a submission whose files have not all synced yet
├── SupervisorError (OSError)            the job supervisor could not be started or reached
├── RuntimeNotFound (LookupError)        no runtime of that name is declared
├── RequirementsRefused (ValueError)     a submission's runtime or requirements cannot be accepted
├── EnvironmentBuildError (RuntimeError) a runtime's environment could not be built
└── ToolMissing (RuntimeError)           a program the queue needs (uv) is not installed
```

Each class keeps the builtin base it had before this hierarchy existed, so ``except
ValueError`` and ``except LookupError`` in callers' code still catch what they caught.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import ValidationError


class QueueError(Exception):
    """Base of every error syft-code-queue raises on purpose."""


class ConfigurationError(QueueError, RuntimeError):
    """No SyftBox identity could be found, or the one found is not usable."""


class ServerAlreadyRunning(QueueError, RuntimeError):
    """Another live process already serves this queue on this datasite."""


class JobNotFoundError(QueueError, LookupError):
    """No job with that uid is visible to this identity."""


class AmbiguousJobError(JobNotFoundError):
    """A bare uid that several requesters' jobs use: name the job as ``REQUESTER/UID``."""


class TrustRuleNotFound(QueueError, LookupError):
    """No trust rule of this queue has that id (it was revoked, or never existed)."""


class InvalidTransitionError(QueueError, ValueError):
    """The job's current status does not allow the requested action."""


class SubmissionError(QueueError, ValueError):
    """A submission that can never be accepted (the reason is recorded as a rejection)."""


class UnsafeFolderError(QueueError, ValueError):
    """A code folder holding symlinks or special files (refused rather than followed)."""


class UsageError(QueueError, ValueError):
    """A command-line request that cannot be carried out as given: printed without a
    traceback, exit code 2."""


class ReleaseError(QueueError, ValueError):
    """Held results that cannot be released as asked: a file not held, one that changed after
    it was checked, or nothing selected."""


class DatasetError(QueueError, ValueError):
    """A dataset that cannot be added, changed or used as asked (the message says why)."""


class MockNotSynced(DatasetError):
    """A mock run asked for before every file of the dataset's mock has synced here."""


class DatasetNotFoundError(QueueError, LookupError):
    """No dataset of that name is published by that owner (or visible to this identity)."""


class StillArriving(QueueError):
    """A submission whose files have not all synced yet: wait, don't reject."""


class ResolutionPending(StillArriving):
    """A submission whose requirements are being resolved off the serve thread: wait, don't
    reject; it is looked at again once the resolution is recorded or refused."""


class SupervisorError(QueueError, OSError):
    """The job supervisor server could not be started, or did not answer."""


class RuntimeNotFound(QueueError, LookupError):
    """No runtime of that name is declared on this queue."""


class RequirementsRefused(QueueError, ValueError):
    """A submission's runtime or requirements that cannot be accepted (recorded as a rejection)."""


class EnvironmentBuildError(QueueError, RuntimeError):
    """A runtime's pinned environment could not be built (the job fails with the reason)."""


class ToolMissing(QueueError, RuntimeError):
    """A program the queue needs for what was asked (uv, for runtimes) is not installed."""


def describe(exc: ValidationError, *, subject: str = "", drop_first: Optional[Any] = None, limit: int = 3) -> str:
    """The first ``limit`` problems of ``exc`` as one line, each named by its field:
    ``"name: must not be empty; tags.0: ..."``. ``subject`` names what was validated when
    the location is empty; ``drop_first`` removes a leading location part (a tagged union's
    discriminator value) that would only confuse a reader."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = list(err["loc"])
        if drop_first is not None and len(loc) > 1 and loc[0] == drop_first:
            loc = loc[1:]
        where = ".".join(str(p) for p in loc) or subject
        message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
