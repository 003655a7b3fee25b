"""Shared fixtures: an embedded SyftBox root with an owner and requesters side by side."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

import syft_code_queue as scq

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


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "syftbox"


@pytest.fixture
def make_code(tmp_path: Path) -> Callable[..., Path]:
    """Write a code folder: ``make_code('echo hi', extra={'a.py': '...'})``."""
    counter = iter(range(10_000))

    def make(run_sh: str, extra: dict[str, str] | None = None, name: str | None = None) -> Path:
        folder = tmp_path / (name or f"code{next(counter)}")
        folder.mkdir(parents=True)
        (folder / "run.sh").write_text("#!/bin/bash\n" + textwrap.dedent(run_sh).lstrip("\n"))
        for rel, content in (extra or {}).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(content)
        return folder

    return make


@pytest.fixture
def client(root: Path) -> scq.CodeQueueClient:
    return scq.create_client(email=ALICE, data_dir=root)


@pytest.fixture
def server_factory(root: Path) -> Iterator[Callable[..., scq.CodeQueueServer]]:
    servers: list[scq.CodeQueueServer] = []

    def make(**kwargs: object) -> scq.CodeQueueServer:
        kwargs.setdefault("email", OWNER)
        kwargs.setdefault("data_dir", root)
        server = scq.create_server(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., scq.CodeQueueServer]) -> scq.CodeQueueServer:
    return server_factory().start()


def accepted(server: scq.CodeQueueServer, uid: str, timeout: float = 10) -> str:
    """Wait until the server has accepted a submission (it has a state); returns the uid."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if server.get_job(uid).state is not None:
                return uid
        except scq.JobNotFoundError:
            pass  # job.json not readable until the server has recorded a verdict
        assert time.monotonic() < deadline, "the server never accepted the submission"
        time.sleep(0.01)


def wait_accepted(client: scq.CodeQueueClient, uid: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while client.get_job(uid).state is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def wait_status(client: scq.CodeQueueClient, uid: str, status: scq.JobStatus, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while client.get_job(uid).status != status:
        assert time.monotonic() < deadline, f"never reached {status}"
        time.sleep(0.01)


def wait_for(server: scq.CodeQueueServer, uid: str, timeout: float = 30) -> scq.Job:
    """Wait until the owner's server has settled a job; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = server.get_job(uid)
        if job.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {uid} still {server.get_job(uid).status} after {timeout} s")
