"""Memory: the owner's server process RSS with 10,000 jobs on disk, after start and after
a full scan (listing every job). The server runs in a fresh child process; its periodic
rescan is set to an hour so "after start" is a quiet moment after the first pass.

    python bench/memory.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import OWNER, emit, generate_jobs, rss_mb, scq, timed, wait_quiet


def child(root: Path) -> None:
    """Runs in the fresh process: report RSS at each stage as one JSON line."""
    imported = rss_mb()
    server = scq.create_server(email=OWNER, data_dir=root, auto_approval_enabled=True, rescan_interval=3600)
    started, _ = timed(server.start)
    wait_quiet()  # the first pass over the queue has finished
    after_start = rss_mb()
    scanned, jobs = timed(server.list_jobs)
    after_scan = rss_mb()
    server.stop()
    print(
        json.dumps(
            {
                "jobs_listed": len(jobs),
                "start_s": round(started, 2),
                "full_scan_s": round(scanned, 2),
                "rss_after_import_mb": imported,
                "rss_after_start_mb": after_start,
                "rss_after_full_scan_mb": after_scan,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        root = Path(tmp) / "root"
        generate_jobs(root, args.jobs)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(root)], check=True, capture_output=True, text=True
        ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    emit({"bench": "memory", "jobs": args.jobs, **result, "target": "server RSS <= 200 MB"})


if __name__ == "__main__":
    main()
