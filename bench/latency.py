"""Latency: from ``submit_code`` until the requester sees the job completed with its
outputs, one job at a time. ``--runner direct`` (the default) starts ``bash run.sh`` as a
bare loop would, so the queue's own latency is measured; ``plain`` is the shipped
``CodeRunner`` (a supervisor per job, forked by the supervisor server), ``sandboxed`` the
default ``SafeCodeRunner``.

    python bench/latency.py [--jobs 60] [--runner direct|plain|sandboxed]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import OWNER, REQUESTER, RUNNERS, emit, make_runner, ms, scq, trivial_code

WARMUP = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="direct")
    args = parser.parse_args()
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        base = Path(tmp)
        code = trivial_code(base)
        client = scq.create_client(email=REQUESTER, data_dir=base / "root")
        server = scq.create_server(
            email=OWNER,
            data_dir=base / "root",
            max_concurrent_jobs=2,
            auto_approval_enabled=True,
            job_timeout=60,
            runner=make_runner(args.runner),
        )
        server.start()
        try:
            for i in range(WARMUP + args.jobs):
                start = time.perf_counter()
                job = client.submit_code(OWNER, code, name=f"job {i}", auto_approval=True)
                job = client.wait_for_job(job.uid, timeout=60)
                assert job.status == scq.JobStatus.completed and client.get_job_output(job.uid) is not None
                if i >= WARMUP:
                    samples.append(time.perf_counter() - start)
        finally:
            server.stop()
    samples.sort()
    emit(
        {
            "bench": "latency",
            "jobs": args.jobs,
            "runner": args.runner,
            "p50_ms": ms(statistics.median(samples)),
            "p95_ms": ms(samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]),
            "min_ms": ms(samples[0]),
            "max_ms": ms(samples[-1]),
            "target": "p50 <= 50 ms",
        }
    )


if __name__ == "__main__":
    main()
