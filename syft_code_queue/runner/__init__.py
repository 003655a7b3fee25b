"""Running an approved job: the plain ``CodeRunner`` (``base``), the default
``SafeCodeRunner`` (``safe``), and what they are built from: the bubblewrap sandbox, the
staging folder, the limits, the supervisor and its launcher, and the command policy."""

from .base import CodeRunner, JobRun, RunResult
from .safe import SafeCodeRunner

__all__ = ["CodeRunner", "JobRun", "RunResult", "SafeCodeRunner"]
