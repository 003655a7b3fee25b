"""Mock runs: a job run against the mocks of the datasets it names, exactly as the owner's
server would run it on the private data (the same runner, sandbox, paths and variables),
with ``SYFT_DATA_KIND=mock``.

The requester runs one before submitting (``run_local``); the owner runs a pending job on
the mocks before deciding (``run_on_mock``). Either way the logs and outputs stay in the
runner's own private folder, which SyftBox never syncs, and are never published.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

from ..errors import MockNotSynced
from ..models import FileEntry, Job
from ..protocol.layout import MockRunPaths
from ..protocol.manifest import compare_to_manifest, copy_verified
from ..runner import CodeRunner, JobRun
from .views import Dataset

LOG_TAIL_LINES = 20


class MockRunResult(BaseModel):
    """What a mock run gave: its status, exit code, logs and the folder of its outputs."""

    model_config = ConfigDict(frozen=True)

    status: Literal["completed", "failed"]
    exit_code: Optional[int]
    logs: str
    output_dir: Path
    outputs: tuple[str, ...] = ()  # the output files, relative to output_dir
    error: Optional[str] = None
    datasets: tuple[str, ...] = ()

    @property
    def log_tail(self) -> str:
        """The last lines of the logs, as a form shows them."""
        return "\n".join(self.logs.splitlines()[-LOG_TAIL_LINES:])


def run_on_mocks(
    runner: CodeRunner,
    job: Job,
    code: Path,
    files: list[FileEntry],
    mocks: dict[str, Dataset],
    paths: MockRunPaths,
    timeout: float,
) -> MockRunResult:
    """Run ``job`` (exactly ``files`` of ``code``) on copies of the synced ``mocks``; the
    results go to ``paths``. ``MockNotSynced`` while a mock has not fully arrived."""
    for name, dataset in mocks.items():
        pending, broken = compare_to_manifest(dataset.mock_path, dataset.files)
        if pending or broken:
            raise MockNotSynced(
                f"the mock of dataset {name!r} is not synced yet ({len(pending) + len(broken)} of "
                f"{len(dataset.files)} files not here or incomplete); wait for SyftBox and try again"
            )
    shutil.rmtree(paths.root, ignore_errors=True)
    paths.root.mkdir(parents=True, mode=0o700)
    copy_verified(code, paths.code, files)
    with tempfile.TemporaryDirectory(prefix="scq-mock-") as made:
        os.chmod(made, 0o755)  # a job running as a uid of its own reads the mocks as any user
        data = {}
        for name, dataset in mocks.items():
            data[name] = Path(made) / name
            try:
                copy_verified(dataset.mock_path, data[name], list(dataset.files))
            except ValueError:
                raise MockNotSynced(f"the mock of dataset {name!r} changed while it was read; try again") from None
            _readable(data[name])
        run = JobRun(
            job=job,
            code_dir=paths.code,
            output_dir=paths.outputs,
            stdout_path=paths.stdout,
            stderr_path=paths.stderr,
            home_dir=paths.home,
            timeout=timeout,
            data=data,
            data_kind="mock",
        )
        result = runner.run_job(run)
    outputs = tuple(sorted(p.relative_to(paths.outputs).as_posix() for p in paths.outputs.rglob("*") if p.is_file()))
    return MockRunResult(
        status="completed" if result.succeeded else "failed",
        exit_code=result.exit_code,
        logs=_logs(paths),
        output_dir=paths.outputs,
        outputs=outputs,
        error=result.error or (None if result.succeeded else f"run.sh exited with code {result.exit_code}"),
        datasets=tuple(mocks),
    )


def _logs(paths: MockRunPaths) -> str:
    """stdout, then stderr under a heading, as a finished job's logs read."""
    out, err = (p.read_text(errors="replace") if p.exists() else "" for p in (paths.stdout, paths.stderr))
    parts = [text.rstrip("\n") for text in (out,) if text] + (["--- stderr ---", err.rstrip("\n")] if err else [])
    return "\n".join(parts) + ("\n" if parts else "")


def _readable(folder: Path) -> None:
    for directory, _, names in os.walk(folder):
        os.chmod(directory, 0o755)
        for name in names:
            os.chmod(os.path.join(directory, name), 0o644)
