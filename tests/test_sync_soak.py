"""A thousand jobs through random mixes of sync hazards: every job ends where it should, with
its results, on the requester's own root; none is lost, none rejected by mistake, none run
twice, and the protocol itself never makes two writers collide."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest
from syncsim import Hazards
from syncworld import ALICE, BOB, EVE, OWNER, World, code_digest

from syft_code_queue import CodeQueueClient, Job, JobStatus

SCENARIOS = 8
JOBS_PER_SCENARIO = 125

# kind -> (weight, expected final status)
KINDS: dict[str, tuple[int, JobStatus]] = {
    "auto": (50, JobStatus.completed),
    "approve": (15, JobStatus.completed),
    "reject": (8, JobStatus.rejected),
    "fail": (8, JobStatus.failed),
    "cancel_pending": (7, JobStatus.cancelled),
    "cancel_running": (3, JobStatus.cancelled),
    "tamper": (4, JobStatus.completed),  # the owner's accepted copy runs, never the change
    "forge": (5, JobStatus.completed),
}


@dataclass
class Tracked:
    kind: str
    client: CodeQueueClient
    folder: Path
    job: Job
    step: int = 0  # how far the driver got with this job's script
    final: Optional[Job] = None
    notes: list[str] = field(default_factory=list)

    @property
    def expected(self) -> JobStatus:
        return KINDS[self.kind][1]


def make_folder(base: Path, n: int, kind: str, rng: random.Random) -> Path:
    folder = base / f"job{n}"
    (folder / "pkg").mkdir(parents=True)
    body = {"fail": "#fail\n", "cancel_running": "#wait\n"}.get(kind, "")
    (folder / "run.sh").write_text(f"#!/bin/bash\n{body}python3 main.py {n}\n")
    (folder / "main.py").write_text(f"print({n})\n" + "# padding\n" * rng.randint(0, 400))
    (folder / "pkg" / "__init__.py").write_text("")  # empty: never synced, still part of the job
    if rng.random() < 0.3:
        (folder / "data.csv").write_text("a,b\n" * rng.randint(1, 3000))
    return folder


class Driver:
    """Plays the owner's reviewer, the requesters and two troublemakers: alice's second device
    (which edits code after submission) and eve (who writes where she may not)."""

    def __init__(self, world: World, seed: int, base: Path) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.base = base
        self.server = world.server()
        self.clients = {ALICE: world.client(ALICE), BOB: world.client(BOB)}
        self.jobs: list[Tracked] = []
        self.forbidden_writes = 0

    def submit(self, n: int) -> None:
        kinds = list(KINDS)
        kind = self.rng.choices(kinds, weights=[KINDS[k][0] for k in kinds])[0]
        who = ALICE if kind in ("tamper", "forge") else self.rng.choice([ALICE, BOB])
        client = self.clients[who]
        folder = make_folder(self.base, n, kind, self.rng)
        job = client.submit_code(
            OWNER, folder, name=f"job {n}", auto_approval=kind in ("auto", "fail", "cancel_running", "forge")
        )
        self.jobs.append(Tracked(kind, client, folder, job))
        if kind == "cancel_pending":
            client.cancel_job(job.uid, reason=f"never mind {n}")

    def act(self, t: Tracked) -> None:
        """One step of this job's script, once what it waits for has happened."""
        owner = self.world.owner_view(self.server, t.job.uid)
        if t.kind in ("approve", "reject") and t.step == 0 and owner and owner.status == JobStatus.pending:
            if t.kind == "approve":
                self.server.approve_job(t.job.uid, manifest_sha256=t.job.request.manifest_sha256)
            else:
                self.server.reject_job(t.job.uid, reason=f"not this one ({t.job.name})")
            t.step = 1
        elif t.kind == "cancel_running" and t.step == 0 and t.client.get_job(t.job.uid).status == JobStatus.running:
            t.client.cancel_job(t.job.uid, reason="too slow")
            t.step = 1
        elif t.kind == "tamper":
            self._tamper(t, owner)
        elif t.kind == "forge" and t.step == 0:
            self._forbidden_writes(t)
            t.step = 1

    def _tamper(self, t: Tracked, owner: Optional[Job]) -> None:
        rel = Path("inbox") / ALICE / t.job.uid / "code" / "main.py"
        desktop = self.world.queue_dir("alice-desktop") / rel
        if t.step == 0 and owner and desktop.exists() and desktop.read_bytes() == (t.folder / "main.py").read_bytes():
            desktop.write_text("print('not what was reviewed')\n")
            t.step = 1
        elif t.step == 1 and (self.world.queue_dir(OWNER) / rel).read_text() == "print('not what was reviewed')\n":
            self.server.approve_job(t.job.uid)
            t.step = 2

    def _forbidden_writes(self, t: Tracked) -> None:
        """eve plants a job in alice's inbox folder; alice writes into her review folder."""
        planted = self.world.queue_dir(EVE) / "inbox" / ALICE / t.job.uid[::-1] / "job.json"
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text('{"uid": "%s"}' % t.job.uid[::-1])
        forged = self.world.queue_dir(ALICE) / "review" / ALICE / t.job.uid / "outputs" / "digest.txt"
        forged.parent.mkdir(parents=True, exist_ok=True)
        forged.write_text("forged\n")
        self.forbidden_writes += 2

    def settled(self, t: Tracked) -> bool:
        if t.final is not None:
            return True
        job = t.client.get_job(t.job.uid)
        if not job.is_terminal:
            return False
        if job.status in (JobStatus.completed, JobStatus.failed) and job.state and job.state.result:
            if t.client.get_job_logs(t.job.uid) is None:
                return False
            if job.status == JobStatus.completed and t.client.get_job_output(t.job.uid) is None:
                return False
        t.final = job
        return True


def check(t: Tracked) -> list[str]:
    """What is wrong with how this job ended (nothing, if it ended as it should)."""
    job = t.final
    assert job is not None
    problems: list[str] = []
    if job.status != t.expected:
        problems.append(f"{t.kind}: ended {job.status.value}, expected {t.expected.value}: {job.error}")
    runs = [h for h in job.history if h.status == JobStatus.running]
    if len(runs) > 1:
        problems.append(f"{t.kind}: ran {len(runs)} times")
    if job.status == JobStatus.completed:
        output = t.client.get_job_output(job.uid)
        digest = (output / "digest.txt").read_text().strip() if output else None
        if digest != code_digest(t.folder):
            problems.append(f"{t.kind}: completed with the wrong bytes or results ({digest})")
        if t.client.get_job_logs(job.uid) != f"ran {job.name}\n":
            problems.append(f"{t.kind}: logs {t.client.get_job_logs(job.uid)!r}")
    expected_reason: dict[str, Callable[[str], bool]] = {
        "reject": lambda e: e == f"not this one ({job.name})",
        "fail": lambda e: e == "run.sh exited with code 3",
        "cancel_pending": lambda e: e.startswith("never mind "),
        "cancel_running": lambda e: e == "too slow",
    }
    if t.kind in expected_reason and not expected_reason[t.kind](job.error or ""):
        problems.append(f"{t.kind}: reason {job.error!r}")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(SCENARIOS))
def test_a_thousand_jobs_through_random_hazard_mixes(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    hazards = Hazards.random_mix(rng)
    world = World(tmp_path / "net", hazards=hazards, seed=seed, devices={"alice-desktop": ALICE})
    try:
        driver = Driver(world, seed, tmp_path / "work")
        submitted = 0
        open_jobs: list[Tracked] = []
        rounds = 0

        def progress() -> bool:
            nonlocal submitted, rounds
            rounds += 1
            for _ in range(rng.randint(5, 30)):
                if submitted < JOBS_PER_SCENARIO:
                    driver.submit(submitted)
                    open_jobs.append(driver.jobs[-1])
                    submitted += 1
            world.sim.step()
            if rounds % 3 == 0:
                for t in list(open_jobs):
                    driver.act(t)
                    if driver.settled(t):
                        open_jobs.remove(t)
            return submitted == JOBS_PER_SCENARIO and not open_jobs

        try:
            world.until("every job to settle on its requester's root", progress, timeout=150)
        finally:
            stuck = [(t.kind, t.job.uid, t.client.get_job(t.job.uid).status.value) for t in open_jobs]
        problems = [p for t in driver.jobs if t.final for p in check(t)]
        rejected_by_mistake = [
            t for t in driver.jobs if t.final and t.final.status == JobStatus.rejected and t.kind != "reject"
        ]
        stats = world.sim.stats
        print(
            f"\nseed {seed}: {hazards} -> {len(driver.jobs)} jobs in {rounds} rounds, "
            f"lost {len(stuck)}, falsely rejected {len(rejected_by_mistake)}; {stats.summary()}"
        )
        assert stuck == []
        assert rejected_by_mistake == []
        assert problems == []
        assert len(stats.rejected) == driver.forbidden_writes  # every forbidden write was refused
        assert not [rel for _, rel in stats.rejected if driver.server.store.layout.root.name not in rel]
        assert stats.conflicts == []  # single writer per file: the protocol never collides
        assert not [p for p in world.files_of(EVE) if (ALICE in p or BOB in p) and ".rejected." not in p]
    finally:
        world.close()
