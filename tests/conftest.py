"""Shared fixtures: an embedded SyftBox root with an owner and requesters side by side."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest
from helpers import ALICE, OWNER

import syft_code_queue as scq


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


@pytest.fixture
def owner_data() -> Iterator[Path]:
    """Where the owner keeps private data: outside the SyftBox root, and readable by a job
    running as a uid of its own (a server running as root runs each job so)."""
    folder = Path(tempfile.mkdtemp(prefix="scq-owner-data-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
