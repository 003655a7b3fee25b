"""``scq demo``: the whole story on an embedded local root, in one process, in seconds: the
owner publishes a dataset, the requester finds it, tests on its mock and submits, the owner
approves, the job runs on the private data, the owner checks its outputs and releases them,
and the result comes back."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from .client import CodeQueueClient
from .models import JobStatus, QueueConfig
from .runner.bubblewrap import unreadable_by_others
from .server import CodeQueueServer
from .syftbox import Workspace

OWNER = "owner@example.com"
REQUESTER = "requester@example.com"
OUTSIDER = "outsider@example.com"

RUN_SH = """\
#!/bin/bash
set -e
echo "Analyzing the $SYFT_DATA_KIND census for $SYFT_REQUESTER (job $SYFT_JOB_NAME)..."
python3 analysis.py > "$SYFT_OUTPUT_DIR/results.txt"
echo "Analysis complete!"
"""

ANALYSIS_PY = """\
import csv, os, statistics
rows = csv.DictReader(open(os.path.join(os.environ["SYFT_DATASET_DIR"], "census.csv")))
ages = [int(row["age"]) for row in rows]
print(f"n={len(ages)} mean_age={statistics.mean(ages):.1f} median_age={statistics.median(ages)}")
"""

PRIVATE_CSV = "name,age\nada,36\nalan,41\ngrace,45\nlinus,28\n"
MOCK_CSV = "name,age\nperson1,30\nperson2,40\nperson3,50\nperson4,60\n"


def _step(text: str) -> None:
    print(f"\n== {text}")


def _owner_data(root: Path) -> Path:
    """Where the owner keeps the census: beside the SyftBox folder, never inside it. A
    server running as root runs each job as a uid of its own, which must be able to read
    it; where ``root`` is closed to other users the demo keeps it in a temporary folder."""
    folder = root / "owner-data"
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and unreadable_by_others(folder) is not None:
        folder = Path(tempfile.mkdtemp(prefix="scq-demo-owner-data-"))
    os.chmod(folder, 0o755)
    return folder


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    for name, text in files.items():
        (folder / name).write_text(text)
        os.chmod(folder / name, 0o644)
    return folder


def run_demo(root: Path, queue_name: str = "code-queue", timeout: float = 60) -> None:
    root = root.resolve()
    config = QueueConfig(queue_name=queue_name)
    owner_ws = Workspace(email=OWNER, data_dir=root / "syftbox")
    requester_ws = owner_ws.as_identity(REQUESTER)
    print(f"embedded SyftBox root: {owner_ws.data_dir} (datasites of {OWNER} and {REQUESTER})")

    server = CodeQueueServer(config=config, workspace=owner_ws)
    data = _owner_data(root)
    _step(f"{OWNER} publishes the dataset 'census': the private CSV stays in {data}, its mock is published")
    dataset = server.add_dataset(
        "census",
        private_path=_write(data / "census", {"census.csv": PRIVATE_CSV}),
        mock_path=_write(data / "census-mock", {"census.csv": MOCK_CSV}),
        summary="Census extract, one row per person",
        readme="# Census\n\nColumns: `name`, `age`. One row per person.\n",
        tags=["census"],
        users="*",
        mock_note="4 synthetic rows, same columns",
    )
    print(f"published {dataset.owner}/{dataset.name}: {dataset.summary} (mock: {dataset.mock_note})")
    server.start()
    try:
        client = CodeQueueClient(config=config, workspace=requester_ws)
        _step(f"{REQUESTER} lists {OWNER}'s datasets")
        for found in client.list_datasets(OWNER):
            print(f"  {found.name}: {found.summary} [{', '.join(found.tags)}] mock: {found.mock_note}")

        _step(f"{REQUESTER} writes a code folder and tests it on the mock")
        code = _write(root / "requester-work" / "mean_age", {"run.sh": RUN_SH, "analysis.py": ANALYSIS_PY})
        mock_run = client.run_local(code, OWNER, ["census"])
        if mock_run.status != "completed":
            raise RuntimeError(f"the mock run failed: {mock_run.error}\n{mock_run.logs}")
        print(f"mock run: {mock_run.status}; results.txt: {(mock_run.output_dir / 'results.txt').read_text().strip()}")

        _step(f"{REQUESTER} submits it to {OWNER}, asking for 'census'")
        job = client.submit_code(
            target_email=OWNER,
            code_folder=code,
            name="Data Analysis Job",
            description="Statistical analysis of dataset",
            tags=["analysis", "statistics"],
            datasets=["census"],
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
                f"files: {', '.join(f.path for f in pending.files)}, datasets: {', '.join(pending.datasets)}"
            )

        _step(f"{OWNER} approves it; the server runs it on the private census")
        server.approve_job(job.uid, reason="looks safe")
        while server.get_job(job.uid).status in (JobStatus.approved, JobStatus.running):
            if time.monotonic() > deadline:
                raise TimeoutError("the job did not finish running")
            time.sleep(0.02)
        print(f"requester sees: {client.get_job(job.uid).status.label}")

        _step(f"{OWNER} checks what it would release (it read private data), then releases it")
        held = server.get_held_outputs(job.uid)
        for entry in (*held.files, *held.log_files):
            print(f"  {entry.path}: {entry.verdict}{' (' + '; '.join(entry.messages) + ')' if entry.messages else ''}")
        server.release_job(job.uid, reason="aggregates only")
        job = client.wait_for_job(job.uid, timeout=timeout)
        print(f"requester sees: {job.status.value} (exit code {job.exit_code}, {job.duration or 0:.2f} s)")

        _step("the requester reads the results, computed on the private data")
        output = client.get_job_output(job.uid)
        if job.status != JobStatus.completed or output is None:
            raise RuntimeError(f"demo job did not complete: {job.error}")
        print(f"results.txt: {(output / 'results.txt').read_text().strip()}")
        print("logs:")
        print("  " + (client.get_job_logs(job.uid) or "").strip().replace("\n", "\n  "))
        print("history:")
        for t in job.history:
            print(f"  {t.status.value:16} by {t.by}: {t.reason}")

        _step(f"another user, {OUTSIDER}, sees none of it")
        outsider = CodeQueueClient(config=config, workspace=owner_ws.as_identity(OUTSIDER))
        print(f"{OUTSIDER} lists {len(outsider.list_jobs())} jobs")
    finally:
        server.stop()
    print("\ndemo complete")
