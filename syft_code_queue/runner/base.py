"""Running an approved job: ``bash run.sh`` on a scratch copy, with logs and outputs captured.

``CodeRunner`` is the plain runner (subclass it and override ``run_job``): no sandbox and no
limits, but every process the job starts is killed when it ends, times out or is cancelled.
``SafeCodeRunner`` (``runner/safe.py``), the default, adds the sandbox, resource limits,
output caps and the command policy.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, ClassVar, Iterator, Literal, Mapping, Optional

from ..models import Job
from ..protocol.manifest import folder_entries
from .launcher import Launch, SupervisedJob
from .python import JobPython, serving_python

log = logging.getLogger(__name__)

TRUNCATION_MARKER = b"\n[syft-code-queue: output truncated at %d bytes]\n"
WATCHDOG_PERIOD = 0.5  # seconds between checks of what a running job has written
Watchdog = Callable[[], Optional[str]]


DataKind = Literal["private", "mock"]


@dataclass
class JobRun:
    """Everything a runner needs for one execution; the server prepares it."""

    job: Job
    # Exactly the approved bytes: a scratch copy of the runner's own, or, for a runner that
    # ``reads_code_in_place``, the owner's accepted copy itself, which it must never write.
    code_dir: Path
    output_dir: Path
    stdout_path: Path
    stderr_path: Path
    home_dir: Path
    timeout: float
    cancel_event: threading.Event = field(default_factory=threading.Event)
    # The runtime's Python (built and held by the server for the run); None: the default.
    python: Optional[JobPython] = None
    # The datasets the job reads: name -> the folder on the host (the private part, or the
    # mock in a mock run), each shown read-only at /job/data/<name>.
    data: Mapping[str, Path] = field(default_factory=dict)
    data_kind: DataKind = "private"

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

    def runtime_python(self, as_other_user: bool) -> JobPython:
        return self.python or serving_python(as_other_user)

    def environment(self, data_dir: Optional[Path] = None) -> dict[str, str]:
        """The job's whole environment: nothing of the owner's leaks in."""
        path = self.runtime_python(as_other_user=False).path(None)
        return job_environment(self, self.output_dir, self.home_dir, self.home_dir, path, data_dir=data_dir)


def job_environment(
    run: JobRun,
    output_dir: Path | str,
    home: Path | str,
    tmp: Path | str,
    path: str,
    data_dir: Optional[Path | str] = None,
) -> dict[str, str]:
    """The job's whole environment. ``data_dir``: where its datasets are, one folder each,
    when it asked for any; only then does it get the data variables, and the unprefixed
    names code written for syft-rds reads."""
    job = run.job
    env = {
        "SYFT_JOB_ID": job.uid,
        "SYFT_JOB_NAME": job.name,
        "SYFT_OUTPUT_DIR": str(output_dir),
        "SYFT_REQUESTER": job.requester_email,
        "PATH": path,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
    }
    if run.data and data_dir is not None:
        env |= {"SYFT_DATA_DIR": str(data_dir), "SYFT_DATA_KIND": run.data_kind}
        env |= {"DATA_DIR": str(data_dir), "OUTPUT_DIR": str(output_dir)}
        if len(run.data) == 1:
            env["SYFT_DATASET_DIR"] = f"{data_dir}/{next(iter(run.data))}"
    return env


@contextmanager
def data_folder(data: Mapping[str, Path], reader_uid: Optional[int] = None) -> Iterator[Optional[Path]]:
    """Without a sandbox, a job reaches its datasets through a folder of its own holding one
    link per dataset (nothing is copied). Owned by the server and read-only, so a job running
    as another uid (``reader_uid``) can neither add nor change a link; None without datasets."""
    if not data:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="scq-data-") as made:
        folder = Path(made)
        for name, target in data.items():
            os.symlink(target, folder / name)
        os.chmod(folder, 0o555 if reader_uid is not None else 0o500)
        try:
            yield folder
        finally:
            os.chmod(folder, 0o700)


@dataclass
class RunResult:
    exit_code: Optional[int]
    error: Optional[str] = None
    truncated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.error is None


class CodeRunner:
    """Runs ``bash run.sh`` in the job's scratch folder and waits for it, under a supervisor of
    its own (supervisor.py, forked by the supervisor server: launcher.py), so the job's whole
    process tree goes when it ends, times out or is cancelled, daemons and ``setsid`` children
    included.

    The job runs in ``code_dir``, a scratch copy it may write: it runs as the server's user,
    so it could change any file the server owns, and is never handed the accepted copy.
    """

    # True for a runner that only reads ``code_dir`` and shows it to the job so that the job
    # cannot change it: the server then hands it the owner's accepted copy instead of a copy.
    reads_code_in_place: ClassVar[bool] = False

    def __init__(self, timeout: Optional[float] = None, max_output_size: Optional[int] = None) -> None:
        for name, value in (("timeout", timeout), ("max_output_size", max_output_size)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        self.timeout = timeout
        self.max_output_size = max_output_size

    def check_code(self, code_dir: Path, job: Job) -> list[str]:
        """Reasons to refuse a submission before anyone approves it: anything in the code
        folder that is not a plain file or folder (a symlink could point at the owner's files)."""
        return unsafe_entries(code_dir)

    def describe(self) -> str:
        return type(self).__name__

    def warnings(self) -> list[str]:
        """What the owner should know about this runner's containment (logged at server start)."""
        return [
            f"{type(self).__name__} runs jobs with no sandbox and no resource limits; "
            "use SafeCodeRunner to contain them"
        ]

    def command(self, run: JobRun) -> list[str]:
        return ["bash", "run.sh"]

    def run_job(self, job: JobRun) -> RunResult:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        job.home_dir.mkdir(parents=True, exist_ok=True)
        with data_folder(job.data) as data_dir:
            launch = Launch(argv=self.command(job), cwd=job.code_dir, env=job.environment(data_dir))
            return self.supervise(launch, job, self.effective_timeout(job))

    def effective_timeout(self, run: JobRun) -> Optional[float]:
        limits = [t for t in (self.timeout, run.timeout) if t]
        return min(limits) if limits else None

    def supervise(
        self, launch: Launch, run: JobRun, timeout: Optional[float], watchdog: Optional[Watchdog] = None
    ) -> RunResult:
        """Start ``launch`` under its supervisor, stream its output to the log files (capped at
        ``max_output_size``) and stop it on timeout, cancellation or the watchdog's word."""
        with open(run.stdout_path, "wb", buffering=0) as out, open(run.stderr_path, "wb", buffering=0) as err:
            try:
                job = launch.start()
            except OSError as exc:
                return RunResult(exit_code=None, error=f"could not start the job: {exc}")
            with job:
                pumps = [_Pump(job.stdout, out, self.max_output_size), _Pump(job.stderr, err, self.max_output_size)]
                error = _wait(job, timeout, run.cancel_event, watchdog) or job.error
                for pump in pumps:
                    pump.finish()
        truncated = any(p.truncated for p in pumps)
        return RunResult(exit_code=job.exit_code, error=error, truncated=truncated)


def _wait(
    job: SupervisedJob, timeout: Optional[float], cancel: threading.Event, watchdog: Optional[Watchdog]
) -> Optional[str]:
    """Wait for the supervisor; None when the job ended by itself, else why it was stopped."""
    start = time.monotonic()
    deadline = start + timeout if timeout else None
    next_check = start + WATCHDOG_PERIOD
    while True:
        now = time.monotonic()
        if job.wait(0.05 if deadline is None else max(0.0, min(0.05, deadline - now))):
            return None
        now = time.monotonic()
        reason = None
        if deadline is not None and now >= deadline:
            reason = f"timed out after {timeout:g} s"
        elif cancel.is_set():
            reason = "cancelled while running"
        elif watchdog is not None and now >= next_check:
            reason = watchdog()
            next_check = now + WATCHDOG_PERIOD
        if reason is not None:
            job.stop()
            return reason


class _Pump(threading.Thread):
    """Copies a pipe to an unbuffered file while it streams (so the live log shows what the job
    printed so far), keeping at most ``limit`` bytes; memory stays flat however much the job
    prints: it reads and writes 64 KiB at a time."""

    GRACE = 5.0  # seconds to drain after the supervisor ended

    def __init__(self, source: IO[bytes], sink: IO[bytes], limit: Optional[int]) -> None:
        super().__init__(daemon=True)
        self.source, self.sink, self.limit = source, sink, limit
        self.written = 0
        self.truncated = False
        self._abandon = threading.Event()
        self.start()

    def finish(self) -> None:
        """Drain what is left, but never wait forever for a writer that escaped."""
        self.join(self.GRACE)
        if self.is_alive():
            log.warning("a job's output pipe stayed open after the job ended; abandoning it")
            self._abandon.set()
            self.join()

    def run(self) -> None:
        fd = self.source.fileno()
        try:
            while not self._abandon.is_set():
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                self._write(chunk)
        finally:
            self.source.close()

    def _write(self, chunk: bytes) -> None:
        if self.limit is not None and self.written + len(chunk) > self.limit:
            keep = max(0, self.limit - self.written)
            if keep:
                self._put(chunk[:keep])
                self.written += keep
            if not self.truncated:
                self._put(TRUNCATION_MARKER % self.limit)
                self.truncated = True
            return  # keep draining so the job never blocks on a full pipe
        self._put(chunk)
        self.written += len(chunk)

    def _put(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self.sink.write(view) :]


def unsafe_entries(code_dir: Path) -> list[str]:
    """Everything in a code folder that is not a regular file or a folder, by relative path."""
    try:
        if not stat.S_ISDIR(os.lstat(code_dir).st_mode):
            return ["the code folder is not a plain folder"]
    except FileNotFoundError:
        return ["the code folder is not a plain folder"]
    problems: list[str] = []
    for rel, item in folder_entries(code_dir):
        if item.is_symlink():
            problems.append(f"{rel} is a symbolic link; only regular files and folders are accepted")
        elif not (item.is_dir(follow_symlinks=False) or item.is_file(follow_symlinks=False)):
            problems.append(f"{rel} is not a regular file; only regular files and folders are accepted")
    return problems
