"""A round trip through a real SyftBox: the PyPI ``syftbox`` 0.4.0 server and three of its
clients (owner, requester, outsider) on 127.0.0.1, each with its own data folder.

The venv comes from ``.ci/install-syftbox.sh`` (``$SCQ_SYFTBOX_VENV``, by default
``.syftbox-venv`` in the repository). In CI a missing venv is a failure; on a developer
machine the test is skipped without it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional, TypeVar

import pytest
from realprocs import REPO, stop

from syft_code_queue import CodeQueueClient, CodeQueueServer, CodeRunner, JobStatus, QueueConfig, Workspace
from syft_code_queue.protocol.permissions import legacy_dataset_permissions_yaml, legacy_permissions_yaml

pytestmark = pytest.mark.slow

OWNER = "owner@example.com"
ALICE = "alice@example.com"
EVE = "eve@example.com"
T = TypeVar("T")


def syftbox_venv() -> Path:
    venv = Path(os.environ.get("SCQ_SYFTBOX_VENV") or REPO / ".syftbox-venv")
    if not (venv / "bin" / "syftbox").exists():
        message = f"no SyftBox 0.4.0 venv at {venv}: run .ci/install-syftbox.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what: str, check: Callable[[], Optional[T]], timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


class SyftBox:
    """A SyftBox server and its clients, every process started here and stopped by its PID."""

    def __init__(self, base: Path, venv: Path) -> None:
        self.base, self.venv = base, venv
        self.url = f"http://127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen] = []

    def _start(self, argv: list[str], name: str, cwd: Path, **env: str) -> subprocess.Popen:
        cwd.mkdir(parents=True, exist_ok=True)
        with open(self.base / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def start_server(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        home = self.base / "server"
        self._start(
            [
                str(self.venv / "bin" / "python"),
                "-m",
                "uvicorn",
                "syftbox.server.server:app",
                "--host",
                "127.0.0.1",
                "--port",
                port,
            ],
            "server",
            home,
            SYFTBOX_DATA_FOLDER=str(home / "data"),
        )
        poll("the SyftBox server", lambda: urllib.request.urlopen(f"{self.url}/info", timeout=2).status == 200)

    def start_client(self, email: str) -> Path:
        """Returns the client's config.json once it has registered and made its datasite."""
        home = self.base / email.split("@")[0]
        config = home / "config.json"
        self._start(
            [
                str(self.venv / "bin" / "syftbox"),
                "client",
                "-e",
                email,
                "-d",
                str(home / "data"),
                "-s",
                self.url,
                "-c",
                str(config),
                "-p",
                "0",
                "--no-open-dir",
            ],
            email,
            home,
            HOME=str(home),
        )
        return config

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop(proc, signal.SIGTERM, timeout=20)

    def listed_to(self, config: Path) -> list[str]:
        """Every path the server lists to this client's user (what it could try to download)."""
        token = json.loads(config.read_text())["access_token"]
        request = urllib.request.Request(
            f"{self.url}/sync/datasite_states", method="POST", data=b"", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            states = json.loads(response.read())
        return [entry["path"] for entries in states.values() for entry in entries]


@pytest.fixture
def syftbox(tmp_path: Path) -> Iterator[SyftBox]:
    box = SyftBox(tmp_path, syftbox_venv())
    try:
        yield box
    finally:
        box.stop()


def test_round_trip_through_a_real_syftbox_server(syftbox: SyftBox, tmp_path: Path) -> None:
    syftbox.start_server()
    configs = {email: syftbox.start_client(email) for email in (OWNER, ALICE, EVE)}
    workspaces = {
        email: poll(
            f"{email}'s client to register",
            lambda c=config, e=email: (
                c.exists() and (w := Workspace.discover(config_path=c)).datasite(e).is_dir() and w
            ),
        )
        for email, config in configs.items()
    }
    assert workspaces[ALICE].email == ALICE and workspaces[ALICE].data_dir == (tmp_path / "alice" / "data").resolve()

    config = QueueConfig(rescan_interval=0.5)
    server = CodeQueueServer(config=config, runner=CodeRunner(), workspace=workspaces[OWNER]).start()
    try:
        alice = CodeQueueClient(config=config, workspace=workspaces[ALICE])
        queue_acl = f"{OWNER}/app_data/{config.queue_name}/syftperm.yaml"
        poll("the queue's permissions to reach the server", lambda: queue_acl in syftbox.listed_to(configs[OWNER]))

        code = tmp_path / "analysis"
        code.mkdir()
        (code / "run.sh").write_text(
            'echo "mean age $(python3 stats.py)"\npython3 stats.py > "$SYFT_OUTPUT_DIR/result.txt"\n'
        )
        (code / "stats.py").write_text("print(sum([36, 41, 45, 28]) / 4)\n")
        job = alice.submit_code(OWNER, code, name="real round trip")

        poll("the owner to receive and accept it", lambda: _accepted(server, job.uid))
        assert server.get_job(job.uid).status == JobStatus.pending
        server.approve_job(job.uid, reason="looks fine")

        done = alice.wait_for_job(job.uid, timeout=120)
        assert done.status == JobStatus.completed, done.error
        assert [t.status for t in done.history] == [
            JobStatus.pending,
            JobStatus.approved,
            JobStatus.running,
            JobStatus.completed,
        ]
        assert (alice.get_job_output(job.uid) / "result.txt").read_text() == "37.5\n"
        assert alice.get_job_logs(job.uid) == "mean age 37.5\n"

        # eve's client syncs on: once it has a file the owner published after the results, it
        # has had its chance to receive them, and must not have
        marker = workspaces[OWNER].datasite() / "public" / "after-results.txt"
        marker.write_text(job.uid)
        eve_view = workspaces[EVE].datasite(OWNER)
        poll("eve's client to sync past the results", lambda: (eve_view / "public" / "after-results.txt").exists())
        eve_got = sorted(str(p.relative_to(eve_view)) for p in (eve_view / "app_data").rglob("*") if p.is_file())
        # the server's sign of life and the runtimes it offers, both public; nothing else
        assert set(eve_got) <= {"app_data/code-queue/heartbeat.json", "app_data/code-queue/runtimes.json"}, eve_got
        eve_listing = syftbox.listed_to(configs[EVE])
        assert not [p for p in eve_listing if "/review/" in p]  # results are not even listed to others

        alice_files = [p.name for p in workspaces[ALICE].datasites.rglob("*") if p.is_file()]
        assert not [name for name in alice_files if "syftrejected" in name]
        print(
            f"\nlisted to eve from the inboxes (paths only; the legacy server refuses their content): "
            f"{len([p for p in eve_listing if '/inbox/' in p])}"
        )
    finally:
        server.stop()


def _accepted(server: CodeQueueServer, uid: str) -> bool:
    try:
        return server.get_job(uid).state is not None
    except LookupError:
        return False


LEGACY_CHECK = """
import json, sys
from pathlib import Path
from syftbox.lib.permissions import ComputedPermission, PermissionType, SyftPermission
text, queue, cases = sys.stdin.read().split("\\0")
perm = SyftPermission.from_string(text, queue + "/syftperm.yaml")
out = []
for user, rel, kind in json.loads(cases):
    computed = ComputedPermission.from_user_rules_and_path(rules=perm.rules, user=user, path=Path(queue, rel))
    out.append(computed.has_permission(PermissionType[kind]))
print(json.dumps(out))
"""


def test_the_legacy_acl_means_what_the_queue_needs_to_the_real_syftbox_code() -> None:
    venv = syftbox_venv()
    queue = f"{OWNER}/app_data/code-queue"
    expect = {
        (ALICE, f"inbox/{ALICE}/u/job.json", "CREATE"): True,
        (ALICE, f"inbox/{ALICE}/u/code/run.sh", "WRITE"): True,
        (ALICE, f"inbox/{ALICE}/u/job.json", "READ"): True,
        (EVE, f"inbox/{ALICE}/u/job.json", "READ"): False,
        (EVE, f"inbox/{ALICE}/u/job.json", "CREATE"): False,
        (ALICE, f"review/{ALICE}/u/state.json", "READ"): True,
        (ALICE, f"review/{ALICE}/u/state.json", "WRITE"): False,
        (ALICE, f"review/{ALICE}/u/outputs/x.txt", "CREATE"): False,
        (EVE, f"review/{ALICE}/u/state.json", "READ"): False,
        (EVE, f"review/{EVE}/u/state.json", "READ"): False,  # not a requester yet
        (ALICE, "syft.pub.yaml", "READ"): False,
        (ALICE, "syftperm.yaml", "WRITE"): False,
        (OWNER, f"review/{ALICE}/u/state.json", "WRITE"): True,
    }
    cases = [list(key) for key in expect]
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", LEGACY_CHECK],
        input="\0".join([legacy_permissions_yaml([ALICE]), queue, json.dumps(cases)]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert dict(zip(expect, json.loads(result.stdout), strict=True)) == expect


DATASET_CHECK = """
import json, sys
from pathlib import Path
from syftbox.lib.permissions import ComputedPermission, PermissionType, SyftPermission
public, ours, folder, cases = sys.stdin.read().split("\\0")
owner = folder.split("/")[0]
rules = SyftPermission.from_string(public, owner + "/public/syftperm.yaml").rules
rules += SyftPermission.from_string(ours, folder + "/syftperm.yaml").rules
out = []
for user, rel, kind in json.loads(cases):
    computed = ComputedPermission.from_user_rules_and_path(rules=rules, user=user, path=Path(folder, rel))
    out.append(computed.has_permission(PermissionType[kind]))
print(json.dumps(out))
"""

# What a SyftBox 0.4 client writes in a datasite's public/ folder: everyone reads.
PUBLIC_ACL = f"""\
- path: '**'
  user: '{OWNER}'
  permissions: [admin]
  type: allow
- path: '**'
  user: '*'
  permissions: [read]
  type: allow
"""


def test_a_datasets_legacy_acl_lets_its_users_read_and_nobody_else_or_write() -> None:
    """The real SyftBox 0.4 code, with the datasite's public/ rules above the dataset's."""
    venv = syftbox_venv()
    folder = f"{OWNER}/public/syft_datasets/v1/census"
    for users, expect in (
        (
            [ALICE],
            {
                (ALICE, "census.csv", "READ"): True,
                (ALICE, "dataset.yaml", "READ"): True,
                (EVE, "census.csv", "READ"): False,
                (EVE, "dataset.yaml", "READ"): False,
                (ALICE, "census.csv", "WRITE"): False,
                (ALICE, "other.csv", "CREATE"): False,
                (OWNER, "census.csv", "WRITE"): True,
            },
        ),
        (["*"], {(EVE, "census.csv", "READ"): True, (EVE, "census.csv", "WRITE"): False}),
    ):
        cases = [list(key) for key in expect]
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-c", DATASET_CHECK],
            input="\0".join([PUBLIC_ACL, legacy_dataset_permissions_yaml(users), folder, json.dumps(cases)]),
            capture_output=True,
            text=True,
            check=True,
        )
        assert dict(zip(expect, json.loads(result.stdout), strict=True)) == expect


def test_a_dataset_through_a_real_syftbox_server(syftbox: SyftBox, tmp_path: Path, owner_data: Path) -> None:
    """The mock reaches its user through the real server, not another user; the job reads
    the private data, which no client receives."""
    from helpers import CENSUS_CSV, MOCK_CSV, data_folder

    syftbox.start_server()
    configs = {email: syftbox.start_client(email) for email in (OWNER, ALICE, EVE)}
    workspaces = {
        email: poll(
            f"{email}'s client to register",
            lambda c=config, e=email: (
                c.exists() and (w := Workspace.discover(config_path=c)).datasite(e).is_dir() and w
            ),
        )
        for email, config in configs.items()
    }
    config = QueueConfig(rescan_interval=0.5)
    server = CodeQueueServer(config=config, runner=CodeRunner(), workspace=workspaces[OWNER]).start()
    try:
        private = data_folder(owner_data / "census", {"census.csv": CENSUS_CSV})
        mock = data_folder(owner_data / "census-mock", {"census.csv": MOCK_CSV})
        server.add_dataset("census", private_path=private, mock_path=mock, summary="Census", users=[ALICE])
        alice = CodeQueueClient(config=config, workspace=workspaces[ALICE])
        dataset = poll(
            "the mock reaching alice",
            lambda: (d := next(iter(alice.list_datasets(OWNER)), None)) and (d.mock_path / "census.csv").exists() and d,
        )
        assert dataset.summary == "Census" and (dataset.mock_path / "census.csv").read_text() == MOCK_CSV

        code = tmp_path / "analysis"
        code.mkdir()
        (code / "run.sh").write_text(
            "python3 -c \"import csv, os; print(sum(int(r['age']) for r in csv.DictReader("
            "open(os.environ['SYFT_DATASET_DIR'] + '/census.csv'))))\"\n"
        )
        assert alice.run_local(code, OWNER, ["census"], runner=CodeRunner()).logs == "180\n"  # the mock's ages
        job = alice.submit_code(OWNER, code, name="sum of ages", datasets=["census"])
        poll("the owner to receive and accept it", lambda: _accepted(server, job.uid))
        server.approve_job(job.uid)
        poll("the run to end, held for release", lambda: server.get_job(job.uid).status == JobStatus.awaiting_release)
        assert server.get_held_outputs(job.uid).logs.startswith("150")
        server.release_job(job.uid, reason="a sum of ages")
        done = alice.wait_for_job(job.uid, timeout=120)
        assert done.status == JobStatus.completed, done.error
        assert alice.get_job_logs(job.uid) == "150\n"  # the private ages

        marker = workspaces[OWNER].datasite() / "public" / "after-dataset.txt"
        marker.write_text(job.uid)
        eve_view = workspaces[EVE].datasite(OWNER)
        poll("eve's client to sync past the dataset", lambda: (eve_view / "public" / "after-dataset.txt").exists())
        assert not list(eve_view.rglob("census*"))
        assert not [p for p in syftbox.listed_to(configs[EVE]) if "syft_datasets" in p and "census.csv" in p]
        for workspace in workspaces.values():
            files = [p for p in workspace.datasites.rglob("*") if p.is_file()]
            assert not [p for p in files if b"ada,36" in p.read_bytes()]
    finally:
        server.stop()
