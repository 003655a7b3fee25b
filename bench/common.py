"""Shared helpers of the benchmarks: import the checkout's package, build fixtures fast,
measure time and memory, print one JSON object."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmark this checkout, not whatever is installed

import syft_code_queue as scq  # noqa: E402
from syft_code_queue.models import (  # noqa: E402
    FileEntry,
    JobRef,
    JobRequest,
    JobResult,
    JobState,
    JobStatus,
    Transition,
    utcnow,
)
from syft_code_queue.protocol.layout import QueueLayout  # noqa: E402
from syft_code_queue.runner import JobRun, RunResult  # noqa: E402
from syft_code_queue.syftbox import sha256_file  # noqa: E402

OWNER = "owner@example.com"
REQUESTER = "alice@example.com"
TRIVIAL_RUN_SH = '#!/bin/bash\necho done > "$SYFT_OUTPUT_DIR/out.txt"\n'


class DirectRunner(scq.CodeRunner):
    """``bash run.sh`` started straight from the server, as the bare loop starts it (no
    supervisor, no sandbox): what remains against the bare loop is the queue's own cost."""

    def run_job(self, job: JobRun) -> RunResult:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        job.home_dir.mkdir(parents=True, exist_ok=True)
        with open(job.stdout_path, "wb") as out, open(job.stderr_path, "wb") as err:
            done = subprocess.run(
                self.command(job),
                cwd=job.code_dir,
                env=job.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        return RunResult(exit_code=done.returncode)


RUNNERS = {
    "direct": DirectRunner,  # the targets: the queue's cost
    "plain": scq.CodeRunner,  # the shipped plain runner (a supervisor per job, forked by the supervisor server)
    "sandboxed": None,  # the default SafeCodeRunner
}


def make_runner(name: str) -> scq.CodeRunner | None:
    factory = RUNNERS[name]
    return factory() if factory is not None else None


def trivial_code(base: Path) -> Path:
    folder = base / "code"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.sh").write_text(TRIVIAL_RUN_SH)
    return folder


def generate_jobs(root: Path, count: int, queue: str = "code-queue") -> list[str]:
    """Write ``count`` finished jobs straight to disk through the store's models (no runs).

    Every job is the requester's; about one in ten is left pending, failed or rejected so
    status filters have something to filter. Returns the uids, oldest first."""
    layout = QueueLayout(root / "datasites", OWNER, queue)
    (root / "datasites" / REQUESTER).mkdir(parents=True, exist_ok=True)
    run_sh = TRIVIAL_RUN_SH.encode()
    tmp = root / "gen.tmp"
    tmp.write_bytes(run_sh)
    code_entry = FileEntry(path="run.sh", size=len(run_sh), sha256=sha256_file(tmp)[1])
    out = b"done\n"
    tmp.write_bytes(out)
    out_entry = FileEntry(path="out.txt", size=len(out), sha256=sha256_file(tmp)[1])
    stdout_entry = FileEntry(path="stdout.txt", size=len(out), sha256=out_entry.sha256)
    tmp.unlink()
    # Recent enough that the default day-old cleanup does not kick in during a bench.
    start = utcnow() - timedelta(seconds=count + 60)
    uids = []
    for i in range(count):
        uid = uuid.uuid4().hex
        uids.append(uid)
        created = start + timedelta(seconds=i)
        request = JobRequest(
            uid=uid,
            name=f"job {i}",
            description="generated for benchmarks",
            tags=["bench"],
            requester_email=REQUESTER,
            target_email=OWNER,
            auto_approval=True,
            created_at=created,
            files=[code_entry],
        )
        history = [Transition(status=JobStatus.pending, at=created, by=OWNER, reason="submission received")]
        kind = i % 10
        status, error, result = JobStatus.pending, None, None
        if kind != 0:  # pending stays pending
            later = created + timedelta(milliseconds=5)
            if kind == 1:
                history.append(Transition(status=JobStatus.rejected, at=later, by=OWNER, reason="no"))
                status, error = JobStatus.rejected, "no"
            else:
                ok = kind != 2
                final = JobStatus.completed if ok else JobStatus.failed
                history += [
                    Transition(status=JobStatus.approved, at=later, by="auto-approval", reason="rule"),
                    Transition(status=JobStatus.running, at=later, by=OWNER, reason="started"),
                    Transition(
                        status=final,
                        at=later + timedelta(milliseconds=20),
                        by=OWNER,
                        reason="exit code 0" if ok else "run.sh exited with code 1",
                    ),
                ]
                status = final
                error = None if ok else "run.sh exited with code 1"
                result = JobResult(exit_code=0 if ok else 1, stdout=stdout_entry, outputs=[out_entry])
        state = JobState(
            uid=uid,
            requester_email=REQUESTER,
            status=status,
            manifest_sha256=request.manifest_sha256,
            history=history,
            error=error,
            result=result,
        )
        code = layout.job(JobRef(REQUESTER, uid)).code_dir
        code.mkdir(parents=True)
        (code / "run.sh").write_bytes(run_sh)
        layout.job(JobRef(REQUESTER, uid)).job_file.write_text(request.model_dump_json(indent=2) + "\n")
        review = layout.job(JobRef(REQUESTER, uid)).review
        review.mkdir(parents=True)
        layout.job(JobRef(REQUESTER, uid)).state_file.write_text(state.model_dump_json(indent=2) + "\n")
        if state.result is not None:
            (review / "stdout.txt").write_bytes(out)
            (review / "outputs").mkdir()
            (review / "outputs" / "out.txt").write_bytes(out)
    return uids


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def median_ms(samples: list[float]) -> float:
    return ms(statistics.median(samples))


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("VmRSS not found")


def wait_quiet(quiet_for: float = 0.5, timeout: float = 600) -> None:
    """Block until this process has used no CPU for ``quiet_for`` seconds (its threads are idle)."""
    deadline = time.monotonic() + timeout
    last, since = time.process_time(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = time.process_time()
        if now - last > 0.01:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
    raise TimeoutError("process never went quiet")


def emit(result: dict[str, Any]) -> None:
    result.setdefault("cpus", os.cpu_count())
    result.setdefault("python", sys.version.split()[0])
    print(json.dumps(result, indent=2, default=str))
