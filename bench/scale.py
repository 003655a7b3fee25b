"""Scale: listing and table refreshes with 10,000 jobs on disk, cold and warm, and the bytes
a job table sends when one job changes. The bytes are those of the real ``JobTable`` widget
on the owner's server, counted as the JSON of the comm messages it sends to the browser (it
sends the page's order and the rows that changed, not the page again). The snapshot API's
own delta is reported alongside.

    python bench/scale.py [--jobs 10000] [--warm 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import comm
from comm.base_comm import BaseComm
from common import OWNER, REQUESTER, emit, generate_jobs, median_ms, ms, scq, timed

from syft_code_queue.widgets import JobTable
from syft_code_queue.widgets.sources import JobSource

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


class RecordingComm(BaseComm):
    """What a widget would send to the browser: every comm message's JSON size."""

    sent: list[tuple[str, dict[str, Any]]] = []

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        RecordingComm.sent.append((self.comm_id, data))


class Widget:
    """The real ``JobTable`` of an owner's server, its messages recorded, not displayed."""

    def __init__(self, server: scq.CodeQueueServer, jobs: int) -> None:
        comm.create_comm = lambda *a, **k: RecordingComm(*a, **k)
        self.source = JobSource(server, poll_interval=3600, listen=False)
        self.table = JobTable(self.source)
        while self.table.total < jobs:  # the first listing runs on the source's thread
            self.source.pump.flush()

    def updates(self) -> list[dict[str, Any]]:
        mine = self.table.comm.comm_id
        return [data for comm_id, data in RecordingComm.sent if comm_id == mine and data.get("method") == "update"]

    def change(self, uid: str) -> list[dict[str, Any]]:
        """Tell the table a job changed (as the server's listener does); what it sent."""
        before = len(self.updates())
        self.source.job_changed(uid)
        self.source.pump.flush()
        return self.updates()[before:]


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

        widget = Widget(owner, args.jobs)
        widget_first_page = sum(len(json.dumps(u)) for u in widget.updates())
        on_page = next(r["uid"] for r in widget.table.rows if r["status"] == "pending")
        owner.approve_job(on_page, reason="bench")
        sent = widget.change(on_page)
        rows = [r for u in sent for r in u["state"].get("changed_rows", u["state"].get("rows", []))]
        assert any(r["uid"] == on_page and r["status"] == "approved" for r in rows), sent
        widget.table.close()
    emit(
        {
            "bench": "scale",
            "jobs": args.jobs,
            "generate_s": round(generated, 1),
            "client_list_jobs": client_list,
            "server_list_jobs": server_list,
            "table_refresh_page_of_50": refresh,
            "table_refresh_after_one_change_ms": ms(changed_seconds),
            "snapshot_bytes_first_page": len(first_page.encode()),
            "snapshot_bytes_per_single_job_change": len(delta.encode()),
            "bytes_first_page": widget_first_page,
            "bytes_sent_per_single_job_change": sum(len(json.dumps(u)) for u in sent),
            "targets": "warm list/refresh <= 50 ms; <= 10 KB per single-job change",
        }
    )


if __name__ == "__main__":
    main()
