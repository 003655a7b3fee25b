"""Running an approved job: ``bash run.sh`` on a scratch copy, with logs and outputs captured.

``CodeRunner`` is the plain runner (subclass it and override ``run_job``); ``SafeCodeRunner``
adds output caps, a process-tree timeout and command policy checks.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Optional

from .commands import policy_violations
from .models import Job

log = logging.getLogger(__name__)

TRUNCATION_MARKER = b"\n[syft-code-queue: output truncated at %d bytes]\n"
MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"


def job_path() -> str:
    """The interpreter serving the queue comes first, so ``python`` and the owner's
    installed packages are what a job gets, as the README's examples expect."""
    return f"{Path(sys.executable).parent}:{MINIMAL_PATH}"


@dataclass
class JobRun:
    """Everything a runner needs for one execution; the server prepares it."""

    job: Job
    code_dir: Path
    output_dir: Path
    stdout_path: Path
    stderr_path: Path
    home_dir: Path
    timeout: float
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def uid(self) -> str:
        return self.job.uid

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def description(self) -> str:
        return self.job.description

    @property
    def tags(self) -> list[str]:
        return self.job.tags

    @property
    def requester_email(self) -> str:
        return self.job.requester_email

    def environment(self) -> dict[str, str]:
        """The job's whole environment: nothing of the owner's leaks in."""
        return {
            "SYFT_JOB_ID": self.job.uid,
            "SYFT_JOB_NAME": self.job.name,
            "SYFT_OUTPUT_DIR": str(self.output_dir),
            "SYFT_REQUESTER": self.job.requester_email,
            "PATH": job_path(),
            "HOME": str(self.home_dir),
            "TMPDIR": str(self.home_dir),
            "LANG": "C.UTF-8",
        }


@dataclass
class RunResult:
    exit_code: Optional[int]
    error: Optional[str] = None
    truncated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.error is None


class CodeRunner:
    """Runs ``bash run.sh`` in the job's scratch folder and waits for it.

    The whole process group is killed on timeout or cancellation."""

    def __init__(self, timeout: Optional[float] = None, max_output_size: Optional[int] = None) -> None:
        self.timeout = timeout
        self.max_output_size = max_output_size

    def check_code(self, code_dir: Path, job: Job) -> list[str]:
        """Reasons to refuse a submission before anyone approves it (none by default)."""
        return []

    def describe(self) -> str:
        return type(self).__name__

    def command(self, run: JobRun) -> list[str]:
        return ["bash", "run.sh"]

    def run_job(self, job: JobRun) -> RunResult:
        timeout = min(t for t in (self.timeout, job.timeout) if t is not None) if (self.timeout or job.timeout) else None
        job.output_dir.mkdir(parents=True, exist_ok=True)
        job.home_dir.mkdir(parents=True, exist_ok=True)
        with open(job.stdout_path, "wb") as out, open(job.stderr_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    self.command(job),
                    cwd=job.code_dir,
                    env=job.environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    preexec_fn=self.preexec,
                )
            except OSError as exc:
                return RunResult(exit_code=None, error=f"could not start the job: {exc}")
            pumps = [
                _Pump(proc.stdout, out, self.max_output_size),  # type: ignore[arg-type]
                _Pump(proc.stderr, err, self.max_output_size),  # type: ignore[arg-type]
            ]
            error = self._wait(proc, timeout, job.cancel_event)
            for pump in pumps:
                pump.join()
        truncated = any(p.truncated for p in pumps)
        return RunResult(exit_code=proc.returncode, error=error, truncated=truncated)

    def preexec(self) -> None:
        """Runs in the child before exec; subclasses set limits here."""

    def _wait(self, proc: subprocess.Popen, timeout: Optional[float], cancel: threading.Event) -> Optional[str]:
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                kill_tree(proc)
                return f"timed out after {_fmt_seconds(timeout)} s"
            try:
                proc.wait(timeout=0.05 if remaining is None else min(0.05, remaining))
                kill_tree(proc)  # reap anything the job left behind in its group
                return None
            except subprocess.TimeoutExpired:
                if cancel.is_set():
                    kill_tree(proc)
                    return "cancelled while running"


def _fmt_seconds(value: Optional[float]) -> str:
    return f"{value:g}" if value is not None else "?"


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill the job's whole process group and reap the leader."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.error("job process %s did not die after SIGKILL", proc.pid)


class _Pump(threading.Thread):
    """Copies a pipe to a file while it streams, keeping at most ``limit`` bytes."""

    def __init__(self, source: IO[bytes], sink: IO[bytes], limit: Optional[int]) -> None:
        super().__init__(daemon=True)
        self.source, self.sink, self.limit = source, sink, limit
        self.written = 0
        self.truncated = False
        self.start()

    def run(self) -> None:
        fd = self.source.fileno()
        try:
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                if self.limit is not None and self.written + len(chunk) > self.limit:
                    keep = max(0, self.limit - self.written)
                    if keep:
                        self.sink.write(chunk[:keep])
                        self.written += keep
                    if not self.truncated:
                        self.sink.write(TRUNCATION_MARKER % self.limit)
                        self.truncated = True
                    continue  # keep draining so the job never blocks on a full pipe
                self.sink.write(chunk)
                self.written += len(chunk)
        finally:
            self.sink.flush()
            self.source.close()


class SafeCodeRunner(CodeRunner):
    """The default runner: a timeout that kills the whole process tree, capped output, and
    command lists checked against the commands ``run.sh`` actually invokes.

    The lists are a policy check applied when a job is accepted; they are not containment."""

    def __init__(
        self,
        timeout: float = 600,
        max_output_size: int = 10 * 1024 * 1024,
        blocked_commands: Optional[Iterable[str]] = None,
        allowed_commands: Optional[Iterable[str]] = None,
    ) -> None:
        super().__init__(timeout=timeout, max_output_size=max_output_size)
        self.blocked_commands = frozenset(blocked_commands or ())
        self.allowed_commands = frozenset(allowed_commands) if allowed_commands is not None else None

    def check_code(self, code_dir: Path, job: Job) -> list[str]:
        script = code_dir / "run.sh"
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            return ["run.sh is not UTF-8 text"]
        return policy_violations(text, self.blocked_commands, self.allowed_commands)

    def describe(self) -> str:
        return f"SafeCodeRunner(timeout={self.timeout:g}s, max_output_size={self.max_output_size})"
