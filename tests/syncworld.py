"""A data owner, requesters and an outsider on separate SyftBox roots, joined by the sync
simulator: the setting of every cross-machine test."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, TypeVar

from syncsim import Hazards, Peer, SyncSim

from syft_code_queue import (
    CodeQueueClient,
    CodeQueueServer,
    CodeRunner,
    Job,
    JobNotFoundError,
    JobRun,
    QueueConfig,
    RunResult,
    Workspace,
)

OWNER = "owner@example.com"
ALICE = "alice@example.com"
BOB = "bob@example.com"
EVE = "eve@example.com"

T = TypeVar("T")


def code_digest(folder: Path) -> str:
    """What the fast runner reports for a code folder: a hash of run.sh and every .py file
    in it, so a result proves which bytes ran."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (path.name == "run.sh" or path.suffix == ".py"):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class FastRunner(CodeRunner):
    """Runs a job in-process, so a thousand jobs take seconds: it writes the digest of the
    code it was given to ``outputs/digest.txt`` and a line to stdout. A ``run.sh`` containing
    ``#wait`` runs until cancelled (or ``hold`` is released); ``#fail`` exits 3."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.started: list[str] = []
        self._lock = threading.Lock()

    def run_job(self, job: JobRun) -> RunResult:
        with self._lock:
            self.started.append(job.uid)
        job.output_dir.mkdir(parents=True, exist_ok=True)
        script = (job.code_dir / "run.sh").read_text()
        if "#wait" in script:
            while not job.cancel_event.is_set() and not self.hold.is_set():
                job.cancel_event.wait(0.01)
            if job.cancel_event.is_set():
                return RunResult(exit_code=-9, error="cancelled while running")
        job.stdout_path.write_text(f"ran {job.name}\n")
        (job.output_dir / "digest.txt").write_text(code_digest(job.code_dir) + "\n")
        return RunResult(exit_code=3 if "#fail" in script else 0)


@dataclass
class World:
    """Roots for the owner, alice, bob and eve under ``base``; ``sim`` syncs them."""

    base: Path
    hazards: Hazards = field(default_factory=Hazards)
    seed: int = 0
    devices: dict[str, str] = field(default_factory=dict)  # more roots: name -> email
    config: QueueConfig = field(
        default_factory=lambda: QueueConfig(
            auto_approval_enabled=True,
            max_concurrent_jobs=4,
            rescan_interval=0.05,
            arrival_timeout=600,
        )
    )

    def __post_init__(self) -> None:
        self.roots = {email: self.base / email.split("@")[0] for email in (OWNER, ALICE, BOB, EVE)}
        peers = [Peer(email, email, root) for email, root in self.roots.items()]
        peers += [Peer(name, email, self.base / name) for name, email in self.devices.items()]
        self.sim = SyncSim(peers, self.hazards, self.seed)
        self.runner = FastRunner()
        self.servers: list[CodeQueueServer] = []

    def workspace(self, email: str) -> Workspace:
        return Workspace(email=email, data_dir=self.roots[email])

    def client(self, email: str) -> CodeQueueClient:
        return CodeQueueClient(config=self.config, workspace=self.workspace(email))

    def server(self, runner: Optional[CodeRunner] = None, start: bool = True) -> CodeQueueServer:
        """The owner's server with its permission files synced out: started, or (``start=False``)
        left for the test to drive pass by pass with ``process_once``."""
        server = CodeQueueServer(config=self.config, runner=runner or self.runner, workspace=self.workspace(OWNER))
        self.servers.append(server)
        if start:
            server.start()
        else:
            server.store.ensure_queue()
        self.sim.settle()
        return server

    def until(self, what: str, check: Callable[[], Optional[T]], timeout: float = 60) -> T:
        """Step the network until ``check`` returns something truthy; fail clearly if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what} ({self.sim.stats.summary()})")
            if not self.sim.step():
                time.sleep(0.002)

    def owner_view(self, server: CodeQueueServer, uid: str) -> Optional[Job]:
        """The owner's view of a job once it has been accepted or refused, else None."""
        try:
            job = server.get_job(uid)
        except JobNotFoundError:
            return None
        return job if job.state is not None else None

    def close(self) -> None:
        self.sim.stop()
        for server in self.servers:
            server.stop()

    def queue_dir(self, email: str) -> Path:
        """The owner's queue folder as it appears on ``email``'s root (or device name's)."""
        root = self.roots.get(email) or self.base / email
        return root / "datasites" / OWNER / "app_data" / self.config.queue_name

    def files_of(self, email: str) -> list[str]:
        datasites = (self.roots.get(email) or self.base / email) / "datasites"
        return sorted(p.relative_to(datasites).as_posix() for p in datasites.rglob("*") if p.is_file())
