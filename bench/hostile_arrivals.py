"""Hostile arrivals: how long another requester's trivial job takes while ``--hostile``
submissions with ``--entries``-entry manifests stay "still arriving" (their files never
come), and how long a ``run.sh`` of ``--script-mb`` MB holds the serve thread before it is
refused. Each pass re-checks a still-arriving submission; its ``job.json`` is parsed again
only when it changed, and a manifest over ``max_code_files`` is refused at once.

    python bench/hostile_arrivals.py [--hostile 4] [--entries 9000] [--jobs 10] [--script-mb 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from common import OWNER, REQUESTER, emit, make_runner, ms, scq, trivial_code

from syft_code_queue.models import utcnow
from syft_code_queue.protocol.layout import QueueLayout

EVE = "eve@example.com"


def hostile_submission(root: Path, entries: int, script: bytes = b"echo\n") -> str:
    """A job.json naming ``entries`` files that never arrive (only run.sh does)."""
    uid = uuid.uuid4().hex
    paths = QueueLayout(root / "datasites", OWNER, "code-queue").job(scq.JobRef(EVE, uid))
    paths.code_dir.mkdir(parents=True)
    (paths.code_dir / "run.sh").write_bytes(script)
    files = [{"path": "run.sh", "size": len(script), "sha256": hashlib.sha256(script).hexdigest()}]
    files += [{"path": f"data/f{i}.bin", "size": 1, "sha256": "0" * 64} for i in range(entries)]
    document = {
        "uid": uid,
        "name": "hostile",
        "requester_email": EVE,
        "target_email": OWNER,
        "created_at": utcnow().isoformat(),
        "files": files,
    }
    paths.job_file.write_text(json.dumps(document))
    return uid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hostile", type=int, default=4)
    parser.add_argument("--entries", type=int, default=9_000)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--script-mb", type=float, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        base = Path(tmp)
        root = base / "root"
        server = scq.create_server(
            email=OWNER, data_dir=root, runner=make_runner("direct"), auto_approval_enabled=True
        ).start()
        client = scq.create_client(email=REQUESTER, data_dir=root)
        for _ in range(args.hostile):
            hostile_submission(root, args.entries)
        code = trivial_code(base)
        samples = []
        for _ in range(args.jobs):
            start = time.perf_counter()
            job = client.submit_code(OWNER, code, "innocent", auto_approval=True)
            client.wait_for_job(job.uid, timeout=120)
            samples.append(time.perf_counter() - start)
        script = b"echo x\n" * int(args.script_mb * 1024 * 1024 / 7)
        start = time.perf_counter()
        big = hostile_submission(root, 0, script)
        while server.store.read_state(scq.JobRef(EVE, big)) is None:
            time.sleep(0.005)
        refused_after = time.perf_counter() - start
        server.stop()
    emit(
        {
            "hostile_submissions": args.hostile,
            "entries_each": args.entries,
            "innocent_job_median_ms": ms(statistics.median(samples)),
            "innocent_job_max_ms": ms(max(samples)),
            "script_mb": args.script_mb,
            "big_script_refused_ms": ms(refused_after),
        }
    )


if __name__ == "__main__":
    main()
