"""syft-code-queue: send code to a data owner's SyftBox datasite, have it reviewed, run it
safely and get the results back, privately."""

from .client import CodeQueueClient, create_client, submit_code
from .models import Job, JobStatus, QueueConfig
from .runner import CodeRunner, JobRun, RunResult, SafeCodeRunner
from .server import CodeQueueServer, ServerAlreadyRunning, create_server
from .store import InvalidTransitionError, JobNotFoundError, SubmissionError
from .syftbox import ConfigurationError, Workspace

__version__ = "0.1.0"

__all__ = [
    "CodeQueueClient",
    "CodeQueueServer",
    "CodeRunner",
    "ConfigurationError",
    "InvalidTransitionError",
    "Job",
    "JobNotFoundError",
    "JobRun",
    "JobStatus",
    "QueueConfig",
    "RunResult",
    "SafeCodeRunner",
    "ServerAlreadyRunning",
    "SubmissionError",
    "Workspace",
    "create_client",
    "create_server",
    "submit_code",
]
