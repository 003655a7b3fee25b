"""The whole story across machines: requester, owner and an outsider on separate SyftBox
roots, with the sync simulator (and its hazards) as the only link between them."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

from syft_code_queue import JobStatus

from syncsim import Hazards
from syncworld import ALICE, EVE, OWNER, World, code_digest


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "net", hazards=Hazards.all(), seed=7)
    yield w
    w.close()


@pytest.fixture
def code(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(100_000))

    def make(body: str = "echo hi", extra: dict[str, str] | None = None) -> Path:
        folder = tmp_path / "work" / f"code{next(counter)}"
        folder.mkdir(parents=True)
        (folder / "run.sh").write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip("\n"))
        (folder / "run.sh").chmod(0o755)
        for rel, text in (extra or {}).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        return folder

    return make


def test_submit_approve_run_and_results_cross_the_network(world: World, code: Callable[..., Path]) -> None:
    server = world.server()
    alice = world.client(ALICE)
    folder = code("python3 analysis.py\n", {"analysis.py": "print(42)\n" * 500, "data/in.csv": "a,b\n1,2\n"})
    job = alice.submit_code(OWNER, folder, name="analysis")

    pending = world.until("the owner to accept it", lambda: world.owner_view(server, job.uid))
    assert pending.status == JobStatus.pending
    owner_copy = world.roots[OWNER] / "datasites" / OWNER / "app_data" / "code-queue" / "inbox" / ALICE / job.uid / "code" / "run.sh"
    assert not os.access(owner_copy, os.X_OK)  # the exec bit did not travel; the job still runs
    assert alice.get_job(job.uid).status == JobStatus.pending or world.until(
        "alice to see pending", lambda: alice.get_job(job.uid).status == JobStatus.pending)

    server.approve_job(job.uid, reason="fine")
    done = world.until("alice to have the results", lambda: alice.get_job_output(job.uid))
    finished = alice.get_job(job.uid)
    assert finished.status == JobStatus.completed
    assert (done / "digest.txt").read_text().strip() == code_digest(folder)
    assert alice.get_job_logs(job.uid) == "ran analysis\n"
    assert [t.status for t in finished.history] == [
        JobStatus.pending, JobStatus.approved, JobStatus.running, JobStatus.completed]
    assert not any("review" in path or "inbox" in path for path in world.files_of(EVE))
    assert world.sim.stats.conflicts == []
