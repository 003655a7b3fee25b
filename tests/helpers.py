"""What the tests share besides fixtures: the identities on the embedded root, the system
tools a test needs, and waiting for something to become true (``eventually``)."""

from __future__ import annotations

import os
import shutil
import time
from typing import Callable, TypeVar

import pytest

import syft_code_queue as scq

T = TypeVar("T")

OWNER = "owner@example.com"
ALICE = "alice@example.com"
EVE = "eve@example.com"


def need(tool: str) -> str:
    """A system tool the test needs: skipped on a developer machine without it, but a
    failure in CI, where .ci/run installs it."""
    path = shutil.which(tool)
    if path is None:
        message = (
            f"{tool} is not installed, so this test cannot run; install it with the README's"
            " apt-get line (CI installs it through .ci/ and fails instead of skipping)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def eventually(predicate: Callable[[], T], timeout: float = 10, what: str = "the condition") -> T:
    """Poll ``predicate`` until it returns something truthy, and return that; fail the test
    naming ``what`` if it never does within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.01)


def _state_of(server: scq.CodeQueueServer, uid: str) -> bool:
    try:
        return server.get_job(uid).state is not None
    except scq.JobNotFoundError:
        return False  # job.json not readable until the server has recorded a verdict


def accepted(server: scq.CodeQueueServer, uid: str, timeout: float = 10) -> str:
    """Wait until the server has accepted a submission (it has a state); returns the uid."""
    eventually(lambda: _state_of(server, uid), timeout, "the server accepting the submission")
    return uid


def wait_accepted(client: scq.CodeQueueClient, uid: str, timeout: float = 10) -> None:
    eventually(lambda: client.get_job(uid).state is not None, timeout, f"job {uid} being accepted")


def wait_status(client: scq.CodeQueueClient, uid: str, status: scq.JobStatus, timeout: float = 10) -> None:
    eventually(lambda: client.get_job(uid).status == status, timeout, f"job {uid} reaching {status}")


def wait_for(server: scq.CodeQueueServer, uid: str, timeout: float = 30) -> scq.Job:
    """Wait until the owner's server has settled a job; returns it."""
    return eventually(lambda: (job := server.get_job(uid)).is_terminal and job, timeout, f"job {uid} finishing")
