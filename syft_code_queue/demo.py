"""``scq demo``: the whole story on an embedded local root, in one process, in seconds."""

from __future__ import annotations

import time
from pathlib import Path

from .client import CodeQueueClient
from .models import JobStatus, QueueConfig
from .server import CodeQueueServer
from .syftbox import Workspace

OWNER = "owner@example.com"
REQUESTER = "requester@example.com"
OUTSIDER = "outsider@example.com"

RUN_SH = """\
#!/bin/bash
set -e
echo "Analyzing data for $SYFT_REQUESTER (job $SYFT_JOB_NAME)..."
python3 analysis.py > "$SYFT_OUTPUT_DIR/results.txt"
echo "Analysis complete!"
"""

ANALYSIS_PY = """\
import csv, statistics
ages = [int(row["age"]) for row in csv.DictReader(open("data.csv"))]
print(f"n={len(ages)} mean_age={statistics.mean(ages):.1f} median_age={statistics.median(ages)}")
"""

DATA_CSV = "name,age\nada,36\nalan,41\ngrace,45\nlinus,28\n"


def _step(text: str) -> None:
    print(f"\n== {text}")


def run_demo(root: Path, queue_name: str = "code-queue", timeout: float = 60) -> None:
    root = root.resolve()
    config = QueueConfig(queue_name=queue_name)
    owner_ws = Workspace(email=OWNER, data_dir=root)
    requester_ws = owner_ws.as_identity(REQUESTER)
    print(f"embedded SyftBox root: {root} (datasites of {OWNER} and {REQUESTER})")

    server = CodeQueueServer(config=config, workspace=owner_ws)
    server.start()
    try:
        _step(f"{REQUESTER} writes a code folder and submits it to {OWNER}")
        code = root / "requester-work" / "my_analysis"
        code.mkdir(parents=True, exist_ok=True)
        (code / "run.sh").write_text(RUN_SH)
        (code / "analysis.py").write_text(ANALYSIS_PY)
        (code / "data.csv").write_text(DATA_CSV)
        client = CodeQueueClient(config=config, workspace=requester_ws)
        job = client.submit_code(
            target_email=OWNER,
            code_folder=code,
            name="Data Analysis Job",
            description="Statistical analysis of dataset",
            tags=["analysis", "statistics"],
        )
        print(f"submitted job {job.uid}")

        _step(f"{OWNER}'s server accepts it; it waits for review")
        deadline = time.monotonic() + timeout
        while server.get_job(job.uid).state is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not accept the job")
            time.sleep(0.02)
        for pending in server.list_jobs(status=JobStatus.pending):
            print(
                f"pending: {pending.name} [{pending.short_uid}] from {pending.requester_email}, "
                f"files: {', '.join(f.path for f in pending.files)}"
            )

        _step(f"{OWNER} approves it; the server runs it")
        server.approve_job(job.uid, reason="looks safe")
        job = client.wait_for_job(job.uid, timeout=timeout)
        print(f"requester sees: {job.status.value} (exit code {job.exit_code}, {job.duration or 0:.2f} s)")

        _step("the requester reads the results")
        output = client.get_job_output(job.uid)
        if job.status != JobStatus.completed or output is None:
            raise RuntimeError(f"demo job did not complete: {job.error}")
        print(f"results.txt: {(output / 'results.txt').read_text().strip()}")
        print("logs:")
        print("  " + (client.get_job_logs(job.uid) or "").strip().replace("\n", "\n  "))
        print("history:")
        for t in job.history:
            print(f"  {t.status.value:9} by {t.by}: {t.reason}")

        _step(f"another user, {OUTSIDER}, sees none of it")
        outsider = CodeQueueClient(config=config, workspace=owner_ws.as_identity(OUTSIDER))
        print(f"{OUTSIDER} lists {len(outsider.list_jobs())} jobs")
    finally:
        server.stop()
    print("\ndemo complete")
