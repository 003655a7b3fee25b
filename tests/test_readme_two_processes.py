"""The original README's snippets, as written, with the requester in one process and the
data owner's server in another, sharing one local SyftBox root (identity from env)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

OWNER_EMAIL = "data-owner@example.com"
REQUESTER_EMAIL = "data-scientist@company.com"

SERVER_SNIPPET = '''
import syft_code_queue as scq

def custom_approval_rules(job):
    """Define custom auto-approval logic."""
    # Auto-approve analysis jobs
    if "analysis" in job.tags:
        return True

    # Auto-approve from trusted domains
    if "@company.com" in job.requester_email:
        return True

    return False

# Start server
server = scq.create_server(
    auto_approval_callback=custom_approval_rules,
    max_concurrent_jobs=3,
    job_timeout=600  # 10 minutes
)

server.start()
print("ready", flush=True)
import threading; threading.Event().wait()
'''

REQUESTER_SNIPPET = '''
import syft_code_queue as scq
from pathlib import Path

# Create your code folder with run.sh
code_folder = Path("my_analysis")
code_folder.mkdir(exist_ok=True)

# Create run.sh script
(code_folder / "run.sh").write_text("""#!/bin/bash
echo "Analyzing data..."
python analysis.py > "$SYFT_OUTPUT_DIR/results.txt"
echo "Analysis complete!"
""")
(code_folder / "analysis.py").write_text("print('mean=4.5')\\n")

# Submit to remote datasite
job = scq.submit_code(
    target_email="data-owner@example.com",
    code_folder=code_folder,
    name="Data Analysis Job",
    description="Statistical analysis of dataset",
    tags=["analysis", "statistics"],
    auto_approval=True
)

print(f"Job submitted: {job.uid}")
job_uid = job.uid

client = scq.create_client()
client.wait_for_job(job_uid, timeout=60)

# Check specific job
job = client.get_job(job_uid)
print(f"Status: {job.status}")

# List all jobs
jobs = client.list_jobs(limit=10)
for job in jobs:
    print(f"{job.name}: {job.status}")

# Get job output
output_path = client.get_job_output(job_uid)
if output_path:
    results = (output_path / "results.txt").read_text()
    print(results)

# Get execution logs
logs = client.get_job_logs(job_uid)
print(logs)

# Filter jobs by status
pending_jobs = client.list_jobs(status=scq.JobStatus.pending)
# Filter by target
my_jobs = client.list_jobs(target_email="data-owner@example.com")
print(f"pending={len(pending_jobs)} at-owner={len(my_jobs)}")
'''


def _env(root: Path, email: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYFTBOX_")}
    repo = str(Path(__file__).resolve().parents[1])
    env.update(
        SYFTBOX_EMAIL=email,
        SYFTBOX_DATA_DIR=str(root),
        PYTHONPATH=os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")])),
    )
    return env


def test_original_readme_snippets_across_two_processes(tmp_path):
    root = tmp_path / "SyftBox"
    owner = subprocess.Popen(
        [sys.executable, "-c", SERVER_SNIPPET],
        env=_env(root, OWNER_EMAIL),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout.readline().strip() == "ready", owner.stderr.read()
        work = tmp_path / "requester"
        work.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", REQUESTER_SNIPPET],
            env=_env(root, REQUESTER_EMAIL),
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "Status: completed" in out
        assert "Data Analysis Job: completed" in out
        assert "mean=4.5" in out
        assert "Analyzing data...\nAnalysis complete!" in out
        assert "pending=0 at-owner=1" in out

        # a third user on the same root sees nothing through the API
        outsider = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent("""
                import syft_code_queue as scq
                print(len(scq.create_client().list_jobs()))
            """),
            ],
            env=_env(root, "someone-else@example.com"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert outsider.stdout.strip() == "0", outsider.stderr
    finally:
        owner.send_signal(signal.SIGTERM)
        owner.wait(timeout=10)
