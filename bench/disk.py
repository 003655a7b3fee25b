"""Disk work per job on the owner's side: the files, folders and links the owner's server
creates for one job, and the bytes it writes, with a code folder of ``--files`` files of
``--size`` bytes each, one job at a time; and the time per job, submit to completed.

The requester submits from the main thread; only what the server's own threads do is
counted: creations through an audit hook (a file counts when ``open`` creates it, whatever
it is later), bytes as the process's written bytes (``wchar``) less the main thread's. The
sandbox's own mounts live in memory and are not counted; nor is what the job itself writes.

    python bench/disk.py [--jobs 20] [--files 20] [--size 65536] [--runner plain|sandboxed]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from common import OWNER, REQUESTER, RUNNERS, TRIVIAL_RUN_SH, emit, make_runner, ms, scq

WARMUP = 3
created: Counter[str] = Counter()


def _count(event: str, args: tuple) -> None:
    """Count what a server thread creates (the hook runs before the call, so ``lexists``
    still tells a new file from an existing one)."""
    if threading.current_thread() is threading.main_thread():
        return
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and args[2] & os.O_CREAT:
        if not os.path.lexists(args[0]):
            created["files"] += 1
    elif event == "os.mkdir":
        created["folders"] += 1
    elif event == "os.symlink":
        created["symlinks"] += 1
    elif event == "os.link":
        created["hard links"] += 1


def written_by_server() -> int:
    """Bytes this process wrote, less what its main thread (the requester) wrote."""

    def wchar(path: str) -> int:
        with open(path) as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))

    return wchar("/proc/self/io") - wchar(f"/proc/self/task/{threading.main_thread().native_id}/io")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--runner", choices=sorted(set(RUNNERS) - {"direct"}), default="sandboxed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        base = Path(tmp)
        code = base / "code"
        code.mkdir()
        (code / "run.sh").write_text(TRIVIAL_RUN_SH)
        for i in range(args.files - 1):
            (code / f"part{i}.py").write_bytes(os.urandom(args.size))
        client = scq.create_client(email=REQUESTER, data_dir=base / "root")
        server = scq.create_server(
            email=OWNER,
            data_dir=base / "root",
            max_concurrent_jobs=1,
            auto_approval_enabled=True,
            runner=make_runner(args.runner),
        )
        server.start()
        try:
            for i in range(WARMUP + args.jobs):
                if i == WARMUP:
                    sys.addaudithook(_count)
                    before = written_by_server()
                    start = time.perf_counter()
                job = client.submit_code(OWNER, code, name=f"job {i}", auto_approval=True)
                job = client.wait_for_job(job.uid, timeout=60)
                assert job.status == scq.JobStatus.completed, job.error
            written = written_by_server() - before
            elapsed = time.perf_counter() - start
        finally:
            server.stop()
    code_bytes = args.size * (args.files - 1) + len(TRIVIAL_RUN_SH)
    emit(
        {
            "bench": "disk",
            "runner": args.runner,
            "jobs": args.jobs,
            "code_files": args.files,
            "code_bytes": code_bytes,
            "created_per_job": {kind: round(n / args.jobs, 2) for kind, n in sorted(created.items())},
            "bytes_written_per_job": round(written / args.jobs),
            "bytes_written_per_job_in_code_sizes": round(written / args.jobs / code_bytes, 2),
            "ms_per_job": ms(elapsed / args.jobs),
        }
    )


if __name__ == "__main__":
    main()
