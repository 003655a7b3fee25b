"""Whether the owner is there: the server's heartbeat, as a requester reads it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import ALICE, OWNER, eventually

import syft_code_queue as scq
from syft_code_queue.cli import main
from syft_code_queue.models import Heartbeat, utcnow


def test_a_requester_sees_the_owner_online_then_offline_since_the_stop(
    root: Path, client: scq.CodeQueueClient, server_factory
) -> None:
    assert client.queue_status(OWNER).state == "no_queue"
    assert "no queue at" in client.queue_status(OWNER).describe()
    server = server_factory().start()
    status = eventually(
        lambda: client.queue_status(OWNER) if client.queue_status(OWNER).online else None, what="the owner's heartbeat"
    )
    assert status.describe().startswith("online, last seen ")
    server.stop()
    offline = client.queue_status(OWNER)
    assert offline.state == "offline" and offline.last_seen is not None
    assert offline.describe().startswith("offline since ")


def test_a_server_that_died_reads_as_offline_once_its_beats_are_overdue(
    root: Path, client: scq.CodeQueueClient, server_factory
) -> None:
    server = server_factory(heartbeat_interval=1).start()
    eventually(lambda: client.queue_status(OWNER).online, what="the owner's heartbeat")
    beat_file = server.store.layout.heartbeat
    server.stop()
    # as if the process had been killed: its last beat, with no stop, long ago
    old = Heartbeat(started_at=utcnow() - timedelta(hours=1), last_seen=utcnow() - timedelta(minutes=5), interval=1)
    beat_file.write_text(old.model_dump_json())
    status = client.queue_status(OWNER)
    assert status.state == "offline"
    assert status.last_seen == old.last_seen


def test_the_heartbeat_is_readable_by_every_user_and_nothing_else_is(root: Path, server_factory) -> None:
    server = server_factory().start()
    acl = (server.store.layout.root / "syft.pub.yaml").read_text()
    assert "pattern: 'heartbeat.json'" in acl and "read: ['*']" in acl
    assert json.loads(server.store.layout.heartbeat.read_text())["interval"] == 30.0


def test_scq_status_says_where_the_queue_stands(root: Path, server_factory, capsys: pytest.CaptureFixture[str]) -> None:
    identity = ["--email", ALICE, "--data-dir", str(root)]
    assert main(["status", *identity, OWNER]) == 0
    assert "no queue at" in capsys.readouterr().out
    server_factory().start()
    assert main(["status", *identity, OWNER]) == 0
    assert f"{OWNER}: online, last seen" in capsys.readouterr().out
