"""Scale: listing and table refreshes with 10,000 jobs on disk, cold and warm, and the bytes
a job table sends when one job changes (it sends the rows that changed since its last
snapshot, not the page again).

    python bench/scale.py [--jobs 10000] [--warm 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import OWNER, REQUESTER, emit, generate_jobs, median_ms, ms, scq, timed

PAGE = 50


class Table:
    """The data path of a job table: a snapshot, the first page of rows as JSON, and on
    later refreshes only the rows that changed since the last snapshot it sent."""

    def __init__(self, server: scq.CodeQueueServer) -> None:
        self.server = server
        self.sent = None

    def refresh(self) -> str:
        snapshot = self.server.snapshot()
        if self.sent is None:
            payload = json.dumps({"version": snapshot.version, "rows": snapshot.rows(0, PAGE)})
        else:
            payload = json.dumps(snapshot.changes_since(self.sent).to_json())
        self.sent = snapshot
        return payload


def measure(make, call, warm: int) -> dict[str, float]:
    """Cold: the first call on a fresh object. Warm: the median of the next calls."""
    subject = make()
    cold, _ = timed(lambda: call(subject))
    samples = [timed(lambda: call(subject))[0] for _ in range(warm)]
    return {"cold_ms": ms(cold), "warm_ms": median_ms(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scq-bench-") as tmp:
        root = Path(tmp) / "root"
        generated, uids = timed(lambda: generate_jobs(root, args.jobs))

        def client() -> scq.CodeQueueClient:
            return scq.create_client(email=REQUESTER, data_dir=root)

        def server() -> scq.CodeQueueServer:
            return scq.CodeQueueServer(email=OWNER, data_dir=root)  # not started: reads only

        client_list = measure(client, lambda c: c.list_jobs(), args.warm)
        server_list = measure(server, lambda s: s.list_jobs(), args.warm)
        refresh = measure(lambda: Table(server()), Table.refresh, args.warm)

        owner = server()
        table = Table(owner)
        first_page = table.refresh()
        newest_pending = next(j for j in owner.list_jobs(status=scq.JobStatus.pending))
        owner.approve_job(newest_pending.uid, reason="bench")
        changed_seconds, delta = timed(table.refresh)
        assert json.loads(delta)["changed"][0]["status"] == "approved"
    emit({
        "bench": "scale",
        "jobs": args.jobs,
        "generate_s": round(generated, 1),
        "client_list_jobs": client_list,
        "server_list_jobs": server_list,
        "table_refresh_page_of_50": refresh,
        "table_refresh_after_one_change_ms": ms(changed_seconds),
        "bytes_first_page": len(first_page.encode()),
        "bytes_sent_per_single_job_change": len(delta.encode()),
        "targets": "warm list/refresh <= 50 ms; <= 10 KB per single-job change",
    })


if __name__ == "__main__":
    main()
