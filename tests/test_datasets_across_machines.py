"""Datasets across machines (the sync simulator between separate roots): the owner
publishes, the mock syncs to the requester, who tests on it and submits; the owner approves,
the job reads the private data, and only the result comes back. Nothing of the private data
ever reaches any root's ``datasites/``."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path
from typing import Optional

import pytest
from helpers import CENSUS_CSV, MOCK_CSV, data_folder
from syncsim import Hazards
from syncworld import ALICE, BOB, OWNER, World

import syft_code_queue as scq
from syft_code_queue.protocol.manifest import files_present

MEAN_AGE = """\
#!/bin/bash
python3 - <<'PY' > "$SYFT_OUTPUT_DIR/mean.txt"
import csv, os, statistics
rows = csv.DictReader(open(os.path.join(os.environ["SYFT_DATASET_DIR"], "census.csv")))
print(statistics.mean(int(row["age"]) for row in rows))
PY
echo "read the $SYFT_DATA_KIND census"
"""


@pytest.fixture
def world(tmp_path: Path):
    world = World(tmp_path / "world", hazards=Hazards.all(), seed=13)
    yield world
    world.close()


def synced_mock(client: scq.CodeQueueClient, name: str) -> Optional[scq.Dataset]:
    """The dataset once its metadata and every mock file have arrived on the client's root."""
    try:
        dataset = client.get_dataset(OWNER, name)
    except scq.DatasetNotFoundError:
        return None
    return dataset if files_present(dataset.mock_path, dataset.files) else None


def code_folder(base: Path) -> Path:
    folder = base / "mean_age"
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text(textwrap.dedent(MEAN_AGE))
    return folder


def every_file_under_datasites(world: World) -> list[Path]:
    roots = [*world.roots.values()]
    return [p for root in roots for p in (root / "datasites").rglob("*")]


def test_publish_sync_test_on_mock_submit_approve_read_private_result(world, owner_data, tmp_path):
    token = f"PRIVATE{uuid.uuid4().hex}"
    private = data_folder(
        owner_data / "census",
        {"census.csv": CENSUS_CSV + f"{token},50\n", f"{token}.txt": f"secret {token}\n"},
    )
    mock = data_folder(owner_data / "census-mock", {"census.csv": MOCK_CSV})
    server = world.server(runner=scq.SafeCodeRunner())
    server.add_dataset("census", private_path=private, mock_path=mock, summary="Census", mock_note="synthetic")
    alice = world.client(ALICE)

    # the mock syncs; alice develops against it with the owner's runner, paths and variables
    dataset = world.until("the mock syncing to alice", lambda: synced_mock(alice, "census"))
    assert (dataset.summary, dataset.mock_note) == ("Census", "synthetic")
    code = code_folder(tmp_path)
    on_mock = alice.run_local(code, OWNER, ["census"])
    assert on_mock.status == "completed", on_mock.logs
    assert (on_mock.output_dir / "mean.txt").read_text() == "45\n"
    assert on_mock.logs == "read the mock census\n"

    # she submits; the owner approves; the job reads the private data
    job = alice.submit_code(OWNER, code, "mean age", datasets=["census"])
    world.until("the owner accepting the job", lambda: world.owner_view(server, job.uid))
    assert server.get_job(job.uid).datasets == ["census"]
    server.approve_job(job.uid)
    # it read private data, so its results wait for the owner, who looks and releases them
    world.until("the run ending", lambda: server.get_job(job.uid).status == scq.JobStatus.awaiting_release)
    assert alice.get_job_logs(job.uid) is None and alice.get_job_output(job.uid) is None
    held = server.get_held_outputs(job.uid)
    assert held.read("mean.txt") == b"40\n"
    server.release_job(job.uid, reason="one mean of five rows")
    output = world.until(
        "the result reaching alice", lambda: alice.get_job_logs(job.uid) and alice.get_job_output(job.uid)
    )
    assert (output / "mean.txt").read_text() == "40\n"  # the four private rows and the token's
    assert alice.get_job_logs(job.uid) == "read the private census\n"
    world.sim.settle()

    # the leak test: no file under any root's datasites/ holds the token, in name or content
    files = every_file_under_datasites(world)
    assert any(p.name == "census.csv" for p in files) and any(p.name == "mean.txt" for p in files)
    leaks = [p for p in files if token in p.name or (p.is_file() and token.encode() in p.read_bytes())]
    assert leaks == []
    assert not any(token in path for path in world.sim.hub_paths())


def test_a_mock_shared_with_alice_only_never_reaches_bob(world, owner_data, tmp_path):
    private = data_folder(owner_data / "census", {"census.csv": CENSUS_CSV})
    mock = data_folder(owner_data / "census-mock", {"census.csv": MOCK_CSV})
    server = world.server()
    server.add_dataset("census", private_path=private, mock_path=mock, users=[ALICE])
    alice, bob = world.client(ALICE), world.client(BOB)

    world.until("the mock syncing to alice", lambda: synced_mock(alice, "census"))
    world.sim.settle()
    assert list(bob.list_datasets(OWNER)) == []
    assert not any("census" in p.as_posix() for p in (world.roots[BOB] / "datasites").rglob("*"))

    job = bob.submit_code(OWNER, code_folder(tmp_path), "mean", datasets=["census"])
    refused = world.until("bob's job being refused", lambda: (j := bob.get_job(job.uid)).is_terminal and j)
    assert refused.status == scq.JobStatus.rejected
    assert refused.error == f"dataset 'census' is not shared with {BOB}; ask {OWNER} for access"


def test_the_owner_removing_a_dataset_unpublishes_it_everywhere(world, owner_data):
    private = data_folder(owner_data / "census", {"census.csv": CENSUS_CSV})
    mock = data_folder(owner_data / "census-mock", {"census.csv": MOCK_CSV})
    server = world.server()
    server.add_dataset("census", private_path=private, mock_path=mock)
    alice = world.client(ALICE)
    world.until("the mock syncing to alice", lambda: synced_mock(alice, "census"))

    server.remove_dataset("census")
    world.until("the dataset leaving alice's root", lambda: list(alice.list_datasets(OWNER)) == [])
    assert os.listdir(private) == ["census.csv"]  # the private folder is the owner's: left as it was
