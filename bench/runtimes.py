"""Runtimes: the cold start (a job whose requirements.txt is resolved and whose environment is
built) and the warm start (another job with the same requirements: no resolution, no build),
against the default runtime, one job at a time in the default sandboxed runner, from
``submit_code`` until the requester sees the job completed with its outputs.

Needs uv and the package index (the cold start resolves and builds against it).

    python bench/runtimes.py [--jobs 20] [--package termcolor]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import OWNER, REQUESTER, emit, ms, scq

from syft_code_queue.runtimes import owner as runtimes_owner

RUN_SH = "#!/bin/bash\npython -c 'print(1)' > \"$SYFT_OUTPUT_DIR/out.txt\"\n"
WARMUP = 2


def code(base: Path, name: str, requirements: str | None) -> Path:
    folder = base / name
    folder.mkdir()
    (folder / "run.sh").write_text(RUN_SH)
    if requirements is not None:
        (folder / "requirements.txt").write_text(requirements)
    return folder


def one(client: scq.CodeQueueClient, folder: Path, name: str) -> float:
    start = time.perf_counter()
    job = client.submit_code(OWNER, folder, name=name, auto_approval=True)
    job = client.wait_for_job(job.uid, timeout=600)
    assert job.status == scq.JobStatus.completed, client.get_job_logs(job.uid)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--package", default="termcolor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scq-bench-", dir="/tmp") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o711)  # a root server's jobs must reach the environments in it
        runtimes_owner.shared_environments = lambda: base / "environments"  # a cold cache of our own
        client = scq.create_client(email=REQUESTER, data_dir=base / "root")
        server = scq.create_server(
            email=OWNER, data_dir=base / "root", auto_approval_enabled=True, allow_requirements=True, job_timeout=600
        )
        server.start()
        try:
            plain = code(base, "plain", None)
            declared = code(base, "declared", f"{args.package}\n")
            cold = one(client, declared, "cold")
            default: list[float] = []
            warm: list[float] = []
            for i in range(WARMUP + args.jobs):  # interleaved: the machine's load hits both alike
                d, w = one(client, plain, f"default {i}"), one(client, declared, f"warm {i}")
                if i >= WARMUP:
                    default.append(d)
                    warm.append(w)
        finally:
            server.stop()
    extra = statistics.median(warm) - statistics.median(default)
    emit(
        {
            "bench": "runtimes",
            "jobs": args.jobs,
            "package": args.package,
            "cold_ms": ms(cold),
            "warm_p50_ms": ms(statistics.median(warm)),
            "default_p50_ms": ms(statistics.median(default)),
            "warm_minus_default_ms": ms(extra),
            "target": "warm_minus_default_ms <= 20",
        }
    )


if __name__ == "__main__":
    main()
