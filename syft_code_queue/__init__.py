"""syft-code-queue: send code to a data owner's SyftBox datasite, have it reviewed, run it
safely and get the results back, privately."""

from .client import CodeQueueClient, create_client, run_local, submit_code
from .datasets import Dataset, DatasetList, MockRunResult
from .errors import (
    AmbiguousJobError,
    ConfigurationError,
    DatasetError,
    DatasetNotFoundError,
    InvalidTransitionError,
    JobNotFoundError,
    MockNotSynced,
    QueueError,
    ReleaseError,
    ServerAlreadyRunning,
    SubmissionError,
    TrustRuleNotFound,
    UnsafeFolderError,
)
from .governance.diff import CodeDiff, FileDiff, JobDiffs
from .governance.notify import EVENTS, Notification
from .models import AuditRecord, Job, JobRef, JobStatus, QueueConfig, Release, TrustRule
from .release import Finding, HeldOutputs, OutputPolicy
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
    "EVENTS",
    "ApprovalPanel",
    "AuditRecord",
    "CodeDiff",
    "CodeQueueClient",
    "CodeQueueServer",
    "CodeRunner",
    "ConfigurationError",
    "Finding",
    "HeldOutputs",
    "Dataset",
    "DatasetError",
    "DatasetList",
    "DatasetNotFoundError",
    "InvalidTransitionError",
    "FileDiff",
    "Job",
    "AmbiguousJobError",
    "JobDiffs",
    "JobNotFoundError",
    "JobRef",
    "JobRun",
    "JobStatus",
    "JobTable",
    "OutputPolicy",
    "Notification",
    "MockNotSynced",
    "MockRunResult",
    "QueueConfig",
    "QueueError",
    "Release",
    "ReleaseError",
    "RunResult",
    "SafeCodeRunner",
    "ServerAlreadyRunning",
    "SubmitForm",
    "SubmissionError",
    "TrustRule",
    "TrustRuleNotFound",
    "UnsafeFolderError",
    "Workspace",
    "create_client",
    "create_server",
    "run_local",
    "submit_code",
]
