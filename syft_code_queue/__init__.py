"""syft-code-queue: send code to a data owner's SyftBox datasite, have it reviewed, run it
safely and get the results back, privately."""

from .client import CodeQueueClient, create_client, submit_code
from .errors import (
    AmbiguousJobError,
    ConfigurationError,
    InvalidTransitionError,
    JobNotFoundError,
    QueueError,
    ServerAlreadyRunning,
    SubmissionError,
    UnsafeFolderError,
)
from .models import Job, JobRef, JobStatus, QueueConfig
from .runner import CodeRunner, JobRun, RunResult, SafeCodeRunner
from .server import CodeQueueServer, create_server
from .syftbox import Workspace

__version__ = "0.1.0"

# The widgets pull in anywidget and ipywidgets (about 0.7 s), which the CLI and scripts
# never need: they load on first use of ``scq.JobTable`` and friends.
_WIDGETS = ("ApprovalPanel", "JobTable", "SubmitForm")


def __getattr__(name: str) -> object:
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApprovalPanel",
    "CodeQueueClient",
    "CodeQueueServer",
    "CodeRunner",
    "ConfigurationError",
    "InvalidTransitionError",
    "Job",
    "AmbiguousJobError",
    "JobNotFoundError",
    "JobRef",
    "JobRun",
    "JobStatus",
    "JobTable",
    "QueueConfig",
    "QueueError",
    "RunResult",
    "SafeCodeRunner",
    "ServerAlreadyRunning",
    "SubmitForm",
    "SubmissionError",
    "UnsafeFolderError",
    "Workspace",
    "create_client",
    "create_server",
    "submit_code",
]
