"""Datasets are zero-copy: a job's start latency with a 1 GiB private dataset (a sparse
file: its size is what a copy would pay for) and without one. Start latency runs from
``submit_code`` until ``run.sh`` begins (it records the time); both kinds of job run one
at a time, interleaved, on the default ``SafeCodeRunner`` (``--runner`` to change it).

    python bench/datasets.py [--jobs 30] [--runner sandboxed|plain|direct]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import OWNER, REQUESTER, RUNNERS, emit, make_runner, ms, scq

WARMUP = 2
SIZE = 1 << 30
RUN_SH = '#!/bin/bash\npython3 -c "import time; print(time.time())" > "$SYFT_OUTPUT_DIR/start.txt"\n'


def started_after(client: scq.CodeQueueClient, code: Path, datasets: list[str]) -> float:
    submitted = time.time()
    job = client.submit_code(OWNER, code, name="start", auto_approval=True, datasets=datasets)
    job = client.wait_for_job(job.uid, timeout=120)
    assert job.status == scq.JobStatus.completed, job.error
    return float((client.get_job_output(job.uid) / "start.txt").read_text()) - submitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="sandboxed")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"without": [], "with_1gib": []}
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # a job running as a uid of its own reads the dataset
        private = base / "big"
        private.mkdir(mode=0o755)
        with open(private / "big.bin", "wb") as fh:
            fh.truncate(SIZE)
        os.chmod(private / "big.bin", 0o644)
        code = base / "code"
        code.mkdir()
        (code / "run.sh").write_text(RUN_SH)
        client = scq.create_client(email=REQUESTER, data_dir=base / "root")
        server = scq.create_server(
            email=OWNER, data_dir=base / "root", auto_approval_enabled=True, runner=make_runner(args.runner)
        )
        server.add_dataset("big", private_path=private)
        server.start()
        try:
            for i in range(WARMUP + args.jobs):
                for kind, datasets in (("without", []), ("with_1gib", ["big"])):
                    latency = started_after(client, code, datasets)
                    if i >= WARMUP:
                        samples[kind].append(latency)
        finally:
            server.stop()
    without, with_data = statistics.median(samples["without"]), statistics.median(samples["with_1gib"])
    emit(
        {
            "bench": "datasets",
            "jobs": args.jobs,
            "runner": args.runner,
            "dataset_bytes": SIZE,
            "start_p50_ms_without": ms(without),
            "start_p50_ms_with_1gib": ms(with_data),
            "ratio": round(with_data / without, 2),
        }
    )


if __name__ == "__main__":
    main()
