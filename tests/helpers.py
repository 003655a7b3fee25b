"""What the tests share besides fixtures: the identities on the embedded root, the system
tools a test needs, waiting for something to become true (``eventually``), and running a
step as an ordinary user (``as_ordinary_user``) when the tests run as root, as CI does."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

import pytest

import syft_code_queue as scq
from syft_code_queue.models import JobRef, utcnow
from syft_code_queue.protocol.layout import QueueLayout

T = TypeVar("T")

NOBODY = 65534  # the ordinary user a root test drops to

OWNER = "owner@example.com"
ALICE = "alice@example.com"
EVE = "eve@example.com"


CENSUS_CSV = "name,age\nada,36\nalan,41\ngrace,45\nlinus,28\n"
MOCK_CSV = "name,age\np1,30\np2,40\np3,50\np4,60\n"


def data_folder(folder: Path, files: dict[str, Union[str, bytes]]) -> Path:
    """A folder of data files, readable by every user (as a job running as its own uid reads it)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(path, 0o644)
    return folder


def publish_census(server: "scq.CodeQueueServer", owner_data: Path, **details: object) -> "scq.Dataset":
    """The owner publishes ``census``: a private CSV and its mock, both outside the SyftBox root."""
    details.setdefault("summary", "Census extract, one row per person")
    details.setdefault("mock_note", "4 synthetic rows, same columns")
    return server.add_dataset(
        "census",
        private_path=data_folder(owner_data / "census", {"census.csv": CENSUS_CSV}),
        mock_path=data_folder(owner_data / "census-mock", {"census.csv": MOCK_CSV}),
        **details,  # type: ignore[arg-type]
    )


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


def queue_layout(root: Path) -> QueueLayout:
    """The owner's queue on the embedded root, as the owner's machine sees it."""
    return QueueLayout(root / "datasites", OWNER, "code-queue")


def write_submission(
    root: Path,
    requester: str,
    code: dict[str, bytes],
    prepare: Optional[Callable[[Path], Any]] = None,
    folder_uid: Optional[str] = None,
    **overrides: Any,
) -> str:
    """Write a submission straight into the owner's inbox, the way a modified or hostile
    client might; returns its uid. ``prepare`` tampers with the code folder before job.json
    (which the server waits for) is written; ``folder_uid`` names the job's folder (a new uid by
    default); ``overrides`` replace fields of job.json."""
    uid = folder_uid or uuid.uuid4().hex
    paths = queue_layout(root).job(JobRef(requester, uid))
    for rel, data in code.items():
        (paths.code_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (paths.code_dir / rel).write_bytes(data)
    document = {
        "schema_version": 1,
        "uid": uid,
        "name": "manual",
        "description": "",
        "tags": [],
        "requester_email": requester,
        "target_email": OWNER,
        "auto_approval": False,
        "created_at": utcnow().isoformat(),
        "files": [
            {"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for rel, data in code.items()
        ],
    }
    document.update(overrides)
    if prepare is not None:
        prepare(paths.code_dir)
    paths.submission.mkdir(parents=True, exist_ok=True)
    paths.job_file.write_text(json.dumps(document))
    return uid


def as_ordinary_user(call: Callable[[], T]) -> T:
    """``call()`` with an ordinary user's permissions: as it is when the tests run as such a
    user; run as root (CI), in a fork of this process that dropped to ``NOBODY`` first, with
    no groups, so that what only root may do fails as it would for anyone else. Its result,
    or what it raised, comes back pickled. What it needs must be imported already: the
    interpreter may live where that user cannot read."""
    if os.geteuid() != 0:
        return call()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test session
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            try:
                outcome: tuple[bool, Any] = (True, call())
            except BaseException as exc:
                outcome = (False, RuntimeError("".join(traceback.format_exception(exc))))
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(outcome))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        data = answer.read()
    os.waitpid(pid, 0)
    assert data, "the step run as an ordinary user died before it answered"
    ok, value = pickle.loads(data)
    if not ok:
        raise value
    return value


def ordinary_user_folder() -> Path:
    """A fresh folder that the user of ``as_ordinary_user`` owns (remove it when done)."""
    folder = Path(tempfile.mkdtemp(prefix="scq-ordinary-", dir="/tmp"))
    if os.geteuid() == 0:
        os.chown(folder, NOBODY, NOBODY)
    return folder
