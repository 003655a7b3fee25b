"""Throughput: N trivial jobs submitted, auto-approved, run by 2 workers and read back by
the requester through the API, against a bare ``bash run.sh`` loop timed in the same run.

The requester runs in its own process, as it does in reality (another SyftBox client);
``--in-process`` runs it on a thread of the owner's process instead. ``--runner direct`` (the
default) starts ``bash run.sh`` as the bare loop does, so the ratio prices the queue itself;
``plain`` is the shipped ``CodeRunner`` and ``sandboxed`` the default ``SafeCodeRunner``. The
same run also times a bare loop that starts ``bash run.sh`` as the shipped runners do: under a
per-job supervisor forked by the supervisor server.

    python bench/throughput.py [--jobs 300] [--repeat 3] [--in-process] [--runner direct|plain|sandboxed]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from common import OWNER, REQUESTER, RUNNERS, emit, make_runner, scq, trivial_code

from syft_code_queue.runner.launcher import Launch

WORKERS = 2
BASH = ["bash", "run.sh"]
Spawn = Callable[[Path, dict[str, str]], None]


def bare(code: Path, env: dict[str, str]) -> None:
    """``bash run.sh`` started straight from Python."""
    subprocess.run(BASH, cwd=code, check=True, env=env)


def supervised(code: Path, env: dict[str, str]) -> None:
    """``bash run.sh`` started as the shipped runners start it (output pipes read by nobody:
    the trivial job prints nothing)."""
    with Launch(argv=BASH, cwd=code, env=env).start() as job:
        job.wait(None)
        assert job.exit_code == 0, job.error


def bare_spawn(code: Path, scratch: Path, jobs: int, threads: int, spawn: Spawn = bare) -> float:
    """Jobs per second of ``spawn`` in a loop on ``threads`` threads."""
    outs = [scratch / f"out{threads}-{spawn.__name__}-{i}" for i in range(jobs)]

    def one(out: Path) -> None:
        out.mkdir()
        spawn(code, {"SYFT_OUTPUT_DIR": str(out), "PATH": "/usr/bin:/bin"})

    start = time.perf_counter()
    if threads == 1:
        for out in outs:
            one(out)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, outs))
    elapsed = time.perf_counter() - start
    for out in outs:
        assert (out / "out.txt").read_text() == "done\n"
    return jobs / elapsed


def requester(root: Path, code: Path, jobs: int) -> float:
    """Jobs per second from the first submit until the requester has read every output."""
    client = scq.create_client(email=REQUESTER, data_dir=root)
    start = time.perf_counter()
    uids = [client.submit_code(OWNER, code, name=f"job {i}", auto_approval=True).uid for i in range(jobs)]
    for uid in uids:
        job = client.wait_for_job(uid, timeout=120)
        assert job.status == scq.JobStatus.completed, (job, job.error)
        out = client.get_job_output(uid)
        assert out is not None and (out / "out.txt").read_text() == "done\n"
    return jobs / (time.perf_counter() - start)


def queue_round_trip(root: Path, code: Path, jobs: int, in_process: bool, runner: str) -> float:
    server = scq.create_server(
        email=OWNER,
        data_dir=root,
        max_concurrent_jobs=WORKERS,
        auto_approval_enabled=True,
        job_timeout=60,
        runner=make_runner(runner),
    )
    server.start()
    try:
        if in_process:
            return requester(root, code, jobs)
        out = subprocess.run(
            [sys.executable, __file__, "--requester", str(root), str(code), "--jobs", str(jobs)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return float(out.strip().splitlines()[-1])
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="direct")
    parser.add_argument("--requester", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.requester:
        print(requester(*args.requester, args.jobs))
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        base = Path(tmp)
        code = trivial_code(base)
        bare_spawn(code, base, 1, 1, supervised)  # starts the supervisor server, outside the timings
        for r in range(args.repeat):
            scratch = base / f"bare{r}"
            scratch.mkdir()
            serial = bare_spawn(code, scratch, args.jobs, 1)
            threaded = bare_spawn(code, scratch, args.jobs, WORKERS)
            queued = queue_round_trip(base / f"root{r}", code, args.jobs, args.in_process, args.runner)
            runs.append(
                {
                    "queue_jobs_per_s": round(queued, 1),
                    "bare_serial_jobs_per_s": round(serial, 1),
                    "bare_2_threads_jobs_per_s": round(threaded, 1),
                    "ratio_vs_bare_serial": round(queued / serial, 3),
                    "ratio_vs_bare_2_threads": round(queued / threaded, 3),
                    "bare_supervised_serial_jobs_per_s": round(bare_spawn(code, scratch, args.jobs, 1, supervised), 1),
                }
            )
    emit(
        {
            "bench": "throughput",
            "jobs": args.jobs,
            "workers": WORKERS,
            "requester": "in the owner's process" if args.in_process else "its own process",
            "runner": args.runner,
            "runs": runs,
            "median_queue_jobs_per_s": statistics.median(run["queue_jobs_per_s"] for run in runs),
            "median_ratio_vs_bare_serial": statistics.median(run["ratio_vs_bare_serial"] for run in runs),
            "median_ratio_vs_bare_2_threads": statistics.median(run["ratio_vs_bare_2_threads"] for run in runs),
            "target": "queue >= 0.30 x bare spawn rate of the same run",
        }
    )


if __name__ == "__main__":
    main()
