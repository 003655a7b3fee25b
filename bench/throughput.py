"""Throughput: N trivial jobs submitted, auto-approved, run by 2 workers and read back by
the requester through the API, against a bare ``bash run.sh`` loop timed in the same run.

    python bench/throughput.py [--jobs 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import OWNER, REQUESTER, emit, scq, trivial_code

WORKERS = 2


def bare_spawn(code: Path, scratch: Path, jobs: int, threads: int) -> float:
    """Jobs per second of ``bash run.sh`` launched straight from Python."""
    outs = [scratch / f"out{threads}-{i}" for i in range(jobs)]

    def one(out: Path) -> None:
        out.mkdir()
        subprocess.run(["bash", "run.sh"], cwd=code, check=True,
                       env={"SYFT_OUTPUT_DIR": str(out), "PATH": "/usr/bin:/bin"})

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


def queue_round_trip(root: Path, code: Path, jobs: int) -> float:
    """Jobs per second from the first submit until the requester has read every output."""
    client = scq.create_client(email=REQUESTER, data_dir=root)
    server = scq.create_server(email=OWNER, data_dir=root, max_concurrent_jobs=WORKERS,
                               auto_approval_enabled=True, job_timeout=60)
    server.start()
    try:
        start = time.perf_counter()
        uids = [client.submit_code(OWNER, code, name=f"job {i}", auto_approval=True).uid for i in range(jobs)]
        for uid in uids:
            job = client.wait_for_job(uid, timeout=120)
            assert job.status == scq.JobStatus.completed, (job, job.error)
            out = client.get_job_output(uid)
            assert out is not None and (out / "out.txt").read_text() == "done\n"
        elapsed = time.perf_counter() - start
    finally:
        server.stop()
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        base = Path(tmp)
        code = trivial_code(base)
        for r in range(args.repeat):
            scratch = base / f"bare{r}"
            scratch.mkdir()
            serial = bare_spawn(code, scratch, args.jobs, 1)
            threaded = bare_spawn(code, scratch, args.jobs, WORKERS)
            queued = queue_round_trip(base / f"root{r}", code, args.jobs)
            runs.append({
                "queue_jobs_per_s": round(queued, 1),
                "bare_serial_jobs_per_s": round(serial, 1),
                "bare_2_threads_jobs_per_s": round(threaded, 1),
                "ratio_vs_bare_serial": round(queued / serial, 3),
                "ratio_vs_bare_2_threads": round(queued / threaded, 3),
            })
    ratios = [run["ratio_vs_bare_serial"] for run in runs]
    emit({
        "bench": "throughput",
        "jobs": args.jobs,
        "workers": WORKERS,
        "runs": runs,
        "median_queue_jobs_per_s": statistics.median(run["queue_jobs_per_s"] for run in runs),
        "median_ratio_vs_bare_serial": statistics.median(ratios),
        "median_ratio_vs_bare_2_threads": statistics.median(run["ratio_vs_bare_2_threads"] for run in runs),
        "target": "queue >= 0.30 x bare spawn rate of the same run",
    })


if __name__ == "__main__":
    main()
