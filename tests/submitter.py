"""A requester process for the many-submitters test: submits N jobs, reads every state.json it
can see raw while the owner writes them, and reports as JSON what it saw."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from syft_code_queue import CodeQueueClient, Workspace


def main(email: str, owner: str, data_dir: str, count: int, work: str) -> None:
    client = CodeQueueClient(workspace=Workspace(email=email, data_dir=Path(data_dir)))
    folder = Path(work) / email
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text('echo "$SYFT_JOB_NAME" > "$SYFT_OUTPUT_DIR/name.txt"\n')
    uids, corrupt, reads = [], 0, 0
    review = client.store.layout(owner).review / email

    def read_all() -> None:
        nonlocal corrupt, reads
        for state in review.glob("*/state.json"):
            reads += 1
            try:
                json.loads(state.read_bytes())
            except ValueError:
                corrupt += 1

    for n in range(count):
        uids.append(client.submit_code(owner, folder, name=f"{email} {n}", auto_approval=True).uid)
        read_all()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not all(client.get_job(uid).is_terminal for uid in uids):
        read_all()
        time.sleep(0.05)
    outcome = {}
    for uid in uids:
        job = client.get_job(uid)
        output = client.get_job_output(uid)
        outcome[uid] = {
            "status": job.status.value,
            "error": job.error,
            "name": job.name,
            "output": (output / "name.txt").read_text().strip() if output and (output / "name.txt").exists() else None,
        }
    print(json.dumps({"jobs": outcome, "corrupt_reads": corrupt, "reads": reads}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
