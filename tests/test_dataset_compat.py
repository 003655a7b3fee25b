"""Datasets other tools made: the real syft-dataset 0.1.21 (in a venv of its own, from
``.ci/install-syft-dataset.sh``: ``$SCQ_SYFT_DATASET_VENV``, by default
``.syft-dataset-venv`` in the repository) and syft-rds 0.5's layout. The owner's server
finds them and runs jobs on them; syft-dataset reads the datasets we publish.

In CI a missing venv is a failure; on a developer machine the syft-dataset tests skip."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers import ALICE, CENSUS_CSV, MOCK_CSV, OWNER, accepted, data_folder, publish_census

import syft_code_queue as scq

REPO = Path(__file__).parents[1]

MEAN_AGE = """
python3 - <<'PY' > "$SYFT_OUTPUT_DIR/mean.txt"
import csv, os, statistics
rows = csv.DictReader(open(os.path.join(os.environ["SYFT_DATASET_DIR"], "census.csv")))
print(statistics.mean(int(row["age"]) for row in rows))
PY
"""

CREATE = """
import sys
from syft_datasets.dataset_manager import SyftDatasetManager
datasites, owner, private, mock, readme = sys.argv[1:]
manager = SyftDatasetManager(datasites, owner)
manager.create("census", mock_path=mock, private_path=private, summary="Census, by syft-dataset",
               readme_path=readme, tags=["census"], users="any")
manager.create("census_v1", mock_path=mock, private_path=private, summary="Census, v1 layout",
               tags=["census"], users="any", protocol_versions=["1"])
"""

READ = """
import json, sys
from syft_datasets.dataset_manager import SyftDatasetManager
datasites, me, owner = sys.argv[1:]
manager = SyftDatasetManager(datasites, me)
found = manager.get("census", datasite=owner)
print(json.dumps({"name": found.name, "summary": found.summary, "tags": found.tags,
                  "mock_dir": str(found.mock_dir), "readme": found.get_readme(),
                  "files": [str(url) for url in found.mock_files_urls]}))
"""


def syft_dataset_python() -> Path:
    venv = Path(os.environ.get("SCQ_SYFT_DATASET_VENV") or REPO / ".syft-dataset-venv")
    python = venv / "bin" / "python"
    if not python.exists():
        message = f"no syft-dataset 0.1.21 venv at {venv}: run .ci/install-syft-dataset.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python


@pytest.fixture
def root(owner_data: Path) -> Path:
    """The SyftBox root inside a folder other users can pass: syft-dataset keeps the private
    part under the datasite, and a job running as its own uid must read it there."""
    return owner_data / "syftbox"


def test_the_server_finds_and_serves_a_dataset_the_real_syft_dataset_made(
    root, owner_data, client, server_factory, make_code
):
    python = syft_dataset_python()
    private = data_folder(owner_data / "private", {"census.csv": CENSUS_CSV})
    mock = data_folder(owner_data / "mock", {"census.csv": MOCK_CSV})
    readme = data_folder(owner_data / "docs", {"README.md": "# Census\n"}) / "README.md"
    datasites = root / "datasites"
    subprocess.run(
        [str(python), "-c", CREATE, str(datasites), OWNER, str(private), str(mock), str(readme)],
        check=True,
        capture_output=True,
    )
    for folder, _, _ in os.walk(root):  # as its users' SyftBox clients would hand it out
        os.chmod(folder, 0o755)

    server = server_factory(release_policy="auto", auto_approval_enabled=True).start()
    owned = {d.name: d for d in server.list_datasets()}
    assert set(owned) == {"census", "census_v1"}
    assert owned["census"].source == "syft-dataset" and owned["census"].summary == "Census, by syft-dataset"
    assert owned["census"].users == ("*",)
    assert (owned["census"].private_path / "census.csv").read_text() == CENSUS_CSV
    assert owned["census_v1"].private_path.parent.name == "v1"

    found = client.get_dataset(OWNER, "census")
    assert found.readme == "# Census\n" and [f.path for f in found.files] == ["census.csv"]
    assert client.run_local(make_code(MEAN_AGE), OWNER, ["census"]).status == "completed"
    job = client.submit_code(OWNER, make_code(MEAN_AGE), "mean", auto_approval=True, datasets=["census_v1"])
    job = client.wait_for_job(job.uid, timeout=60)
    assert job.status == scq.JobStatus.completed, job.error
    assert (client.get_job_output(job.uid) / "mean.txt").read_text() == "37.5\n"


def test_the_real_syft_dataset_reads_a_dataset_we_publish(root, owner_data, server):
    python = syft_dataset_python()
    publish_census(server, owner_data, readme="# Census\n", tags=["census"])
    done = subprocess.run(
        [str(python), "-c", READ, str(root / "datasites"), ALICE, OWNER], check=True, capture_output=True, text=True
    )
    read = json.loads(done.stdout)
    assert read["name"] == "census" and read["summary"] == "Census extract, one row per person"
    assert read["tags"] == ["census"] and read["readme"] == "# Census\n"
    assert Path(read["mock_dir"]) == server.get_dataset("census").mock_path
    assert read["files"] == [f"syft://{OWNER}/public/syft_datasets/v1/census/census.csv"]


def test_a_syft_rds_dataset_is_found_with_its_private_part_outside_the_synced_tree(
    root, owner_data, client, server_factory, make_code
):
    # syft-rds 0.5: the mock's files in public/datasets/<name>/, the private part in
    # ~/.syftbox/private_datasets/<owner>/<name>/ beside the SyftBox folder
    data_folder(root / "datasites" / OWNER / "public" / "datasets" / "census", {"census.csv": MOCK_CSV})
    data_folder(root.parent / ".syftbox" / "private_datasets" / OWNER / "census", {"census.csv": CENSUS_CSV})
    server = server_factory(release_policy="auto", auto_approval_enabled=True).start()

    [owned] = server.list_datasets()
    assert (owned.name, owned.source) == ("census", "syft-rds")
    assert owned.private_path == root.parent / ".syftbox" / "private_datasets" / OWNER / "census"
    job = client.submit_code(OWNER, make_code(MEAN_AGE), "mean", auto_approval=True, datasets=["census"])
    job = client.wait_for_job(job.uid, timeout=60)
    assert job.status == scq.JobStatus.rejected  # no syft.pub.yaml grants anyone the dataset
    assert "is not shared with" in job.error

    (owned.mock_path / "syft.pub.yaml").write_text(
        textwrap.dedent("""\
            rules:
              - pattern: '**'
                access:
                  read: ['*']
        """)
    )
    job = client.submit_code(OWNER, make_code(MEAN_AGE), "mean", auto_approval=True, datasets=["census"])
    accepted(server, job.uid)
    job = client.wait_for_job(job.uid, timeout=60)
    assert job.status == scq.JobStatus.completed, job.error
    assert (client.get_job_output(job.uid) / "mean.txt").read_text() == "37.5\n"


def test_a_requester_listing_a_syft_rds_mock_again_and_again_hashes_each_file_once(root, client, monkeypatch):
    """A SubmitForm asks for the owner's datasets every few seconds; a mock whose tool lists
    no file hashes is hashed once per version of each file, and a changed file is seen."""
    from syft_code_queue.protocol import manifest

    mock = data_folder(root / "datasites" / OWNER / "public" / "datasets" / "census", {"census.csv": MOCK_CSV})
    (mock / "notes.txt").write_text("synthetic\n")
    hashed: list[str] = []
    hash_regular = manifest.hash_regular

    def counted(path):  # type: ignore[no-untyped-def]
        hashed.append(Path(path).name)
        return hash_regular(path)

    monkeypatch.setattr(manifest, "hash_regular", counted)
    first = client.get_dataset(OWNER, "census")
    for _ in range(5):
        assert client.get_dataset(OWNER, "census").files == first.files
    assert sorted(hashed) == ["census.csv", "notes.txt"]

    (mock / "notes.txt").write_text("synthetic, 1,000 rows\n")
    changed = {f.path: f for f in client.get_dataset(OWNER, "census").files}
    assert sorted(hashed) == ["census.csv", "notes.txt", "notes.txt"]
    assert changed["notes.txt"].size == len("synthetic, 1,000 rows\n")
