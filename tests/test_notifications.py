"""Notifications: owners and requesters hear about what happens to jobs through callbacks,
and a callback that fails never stops the queue."""

from __future__ import annotations

import logging
import threading

import pytest
from helpers import OWNER, accepted, eventually

import syft_code_queue as scq
from syft_code_queue.cli import main


class Heard:
    """A callback that keeps what it was told, from the notification thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.told: list[scq.Notification] = []

    def __call__(self, notification: scq.Notification) -> None:
        with self.lock:
            self.told.append(notification)

    def events(self, uid: str) -> list[str]:
        with self.lock:
            return [
                (n.event if n.transition is None else f"{n.event}:{n.transition.status}")
                for n in self.told
                if n.uid == uid
            ]


def test_the_owner_hears_a_job_arrive_run_and_finish(client, server, make_code):
    heard = Heard()
    for event in ("submitted", "pending", "running", "finished", "transition"):
        server.on(event, heard)
    job = client.submit_code(OWNER, make_code("echo hi"), "heard")
    server.approve_job(accepted(server, job.uid))
    client.wait_for_job(job.uid, timeout=30)
    steps = ["pending", "approved", "running", "completed"]
    expected = ["submitted", "pending:pending", "transition:pending", "transition:approved", "running:running"]
    expected += ["transition:running", "finished:completed", "transition:completed"]
    eventually(lambda: heard.events(job.uid) == expected, what=f"the notifications of {steps}")
    assert heard.told[-1].job.status == scq.JobStatus.completed and heard.told[-1].job.name == "heard"


def test_a_callback_that_raises_is_logged_and_the_queue_goes_on(client, server, make_code, caplog):
    heard = Heard()

    def broken(notification: scq.Notification) -> None:
        raise RuntimeError("mail server down")

    server.on("pending", broken)
    server.on("pending", heard)
    server.on("finished", heard)
    with caplog.at_level(logging.ERROR):
        job = client.submit_code(OWNER, make_code("echo"), "despite a broken hook")
        server.approve_job(accepted(server, job.uid))
        assert client.wait_for_job(job.uid, timeout=30).status == scq.JobStatus.completed
        eventually(lambda: heard.events(job.uid) == ["pending:pending", "finished:completed"], what="both callbacks")
    assert "mail server down" in caplog.text


def test_the_owner_hears_what_another_owner_process_decided(root, client, server, make_code, capsys):
    heard = Heard()
    server.on("approved", heard)
    job = client.submit_code(OWNER, make_code("echo"), "approved elsewhere")
    accepted(server, job.uid)
    assert main(["approve", job.uid, "--email", OWNER, "--data-dir", str(root)]) == 0
    eventually(lambda: heard.events(job.uid) == ["approved:approved"], what="the approval heard")


def test_the_requester_hears_each_of_their_jobs_change(client, server, make_code):
    earlier = client.submit_code(OWNER, make_code("echo"), "before listening")
    accepted(server, earlier.uid)
    heard = Heard()
    client.on("submitted", heard)
    off = client.on("transition", heard)
    job = client.submit_code(OWNER, make_code("echo"), "listened to")
    server.approve_job(accepted(server, job.uid))
    client.wait_for_job(job.uid, timeout=30)
    expected = ["submitted", "transition:pending", "transition:approved", "transition:running", "transition:completed"]
    eventually(lambda: heard.events(job.uid) == expected, what="the requester's notifications")
    server.reject_job(earlier.uid, "not now")  # known before listening: only its new step is told
    eventually(lambda: heard.events(earlier.uid) == ["transition:rejected"], what="the rejection heard")
    off()
    later = client.submit_code(OWNER, make_code("echo"), "after off")
    accepted(server, later.uid)
    eventually(lambda: heard.events(later.uid) == ["submitted"], what="submitted still heard")
    assert "transition:pending" not in heard.events(later.uid)


def test_unknown_events_and_callbacks_are_refused(client, server):
    with pytest.raises(ValueError, match="unknown event 'arrived': use one of"):
        server.on("arrived", print)
    with pytest.raises(TypeError, match="must be callable"):
        client.on("finished", "mail me")  # type: ignore[arg-type]
    assert {"submitted", "pending", "running", "awaiting_release", "finished", "transition"} <= scq.EVENTS
