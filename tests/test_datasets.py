"""The owner's datasets on an embedded root: publish, find, read inside the job (read-only,
nothing copied), mock runs on both sides, and what happens when a dataset goes away.

Holding results for the owner's release is test_release.py's subject: the servers here
release at once (``release_policy="auto"``), so each story reads its result directly."""

from __future__ import annotations

import json
import os

import pytest
from helpers import ALICE, CENSUS_CSV, EVE, MOCK_CSV, OWNER, accepted, data_folder, need, publish_census, wait_for

import syft_code_queue as scq

MEAN_AGE = """
python3 - <<'PY' > "$SYFT_OUTPUT_DIR/mean.txt"
import csv, os, statistics
rows = csv.DictReader(open(os.path.join(os.environ["SYFT_DATASET_DIR"], "census.csv")))
print(statistics.mean(int(row["age"]) for row in rows))
PY
"""

ENV_AND_WRITE = """
env | grep -E '^(SYFT_DATA|SYFT_DATASET|DATA_DIR|OUTPUT_DIR)' | sort > "$SYFT_OUTPUT_DIR/env.txt"
ls "$SYFT_DATA_DIR" > "$SYFT_OUTPUT_DIR/names.txt"
if echo x > "$SYFT_DATASET_DIR/new.txt" 2>/dev/null; then echo wrote > "$SYFT_OUTPUT_DIR/write.txt"; fi
if echo x >> "$SYFT_DATASET_DIR/census.csv" 2>/dev/null; then echo appended >> "$SYFT_OUTPUT_DIR/write.txt"; fi
true
"""


def _env(folder) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (folder / "env.txt").read_text().splitlines())


def test_requester_finds_the_published_dataset_and_its_mock(client, server, owner_data):
    publish_census(server, owner_data, readme="# Census\nOne row per person.\n", tags=["census", "people"])

    [dataset] = client.list_datasets(OWNER)
    assert dataset == client.get_dataset(OWNER, "census")
    assert (dataset.name, dataset.owner, dataset.summary) == ("census", OWNER, "Census extract, one row per person")
    assert dataset.tags == ("census", "people")
    assert dataset.readme == "# Census\nOne row per person.\n"
    assert dataset.mock_note == "4 synthetic rows, same columns"
    assert [f.path for f in dataset.files] == ["census.csv"]
    assert (dataset.mock_path / "census.csv").read_text() == MOCK_CSV
    assert dataset.private_path is None and dataset.private_size is None  # the owner's to know
    assert "census" in client.list_datasets(OWNER)._repr_html_()
    assert list(client.list_datasets(OWNER).df["name"]) == ["census"]

    mine = server.get_dataset("census")
    assert mine.private_path == (owner_data / "census").resolve()
    assert mine.private_size == len(CENSUS_CSV)
    assert mine.users == ("*",)


def test_the_job_reads_the_private_data_read_only_at_job_data(client, server_factory, owner_data, make_code):
    need("bwrap")
    server = server_factory(release_policy="auto", auto_approval_enabled=True).start()
    publish_census(server, owner_data)
    os.chmod(owner_data / "census", 0o777)  # writable by anyone: only the read-only mount stops the job
    os.chmod(owner_data / "census" / "census.csv", 0o666)
    job = client.submit_code(
        OWNER, make_code(MEAN_AGE + ENV_AND_WRITE), "mean", auto_approval=True, datasets=["census"]
    )
    job = client.wait_for_job(job.uid, timeout=60)

    assert job.status == scq.JobStatus.completed, job.error
    out = client.get_job_output(job.uid)
    assert (out / "mean.txt").read_text() == "37.5\n"  # the private rows, not the mock's 45
    assert _env(out) == {
        "SYFT_DATA_DIR": "/job/data",
        "SYFT_DATASET_DIR": "/job/data/census",
        "SYFT_DATA_KIND": "private",
        "DATA_DIR": "/job/data",
        "OUTPUT_DIR": "/job/outputs",
    }
    assert (out / "names.txt").read_text() == "census\n"
    assert not (out / "write.txt").exists()  # neither a new file nor an append got through
    assert sorted(os.listdir(owner_data / "census")) == ["census.csv"]
    assert (owner_data / "census" / "census.csv").read_text() == CENSUS_CSV


def test_without_the_sandbox_the_data_is_reached_through_a_folder_of_the_job(
    client, server_factory, owner_data, make_code
):
    server = server_factory(
        release_policy="auto", auto_approval_enabled=True, runner=scq.SafeCodeRunner(sandbox="none")
    ).start()
    publish_census(server, owner_data)
    job = client.submit_code(
        OWNER, make_code(MEAN_AGE + ENV_AND_WRITE), "mean", auto_approval=True, datasets=["census"]
    )
    job = client.wait_for_job(job.uid, timeout=60)

    assert job.status == scq.JobStatus.completed, job.error
    out = client.get_job_output(job.uid)
    assert (out / "mean.txt").read_text() == "37.5\n"
    env = _env(out)
    assert env["SYFT_DATA_KIND"] == "private" and env["SYFT_DATASET_DIR"] == f"{env['SYFT_DATA_DIR']}/census"
    assert env["DATA_DIR"] == env["SYFT_DATA_DIR"] and (out / "names.txt").read_text() == "census\n"
    if os.geteuid() == 0:  # the job runs as a uid of its own, which cannot write the data
        assert not (out / "write.txt").exists()
        assert sorted(os.listdir(owner_data / "census")) == ["census.csv"]


def test_a_job_that_asked_for_no_dataset_sees_none(client, server_factory, owner_data, make_code):
    need("bwrap")
    server = server_factory(release_policy="auto", auto_approval_enabled=True).start()
    publish_census(server, owner_data)
    code = make_code('env > "$SYFT_OUTPUT_DIR/env.txt"; ls /job > "$SYFT_OUTPUT_DIR/job.txt"')
    job = client.wait_for_job(client.submit_code(OWNER, code, "no data", auto_approval=True).uid, timeout=60)

    out = client.get_job_output(job.uid)
    assert "SYFT_DATA_DIR" not in (out / "env.txt").read_text()
    assert "DATA_DIR" not in (out / "env.txt").read_text()
    assert "data" not in (out / "job.txt").read_text().split()


def test_submissions_naming_an_unknown_or_unshared_dataset_are_refused(client, server, owner_data, make_code):
    publish_census(server, owner_data, users=[EVE])
    unknown = client.submit_code(OWNER, make_code("true"), "unknown", datasets=["salaries"])
    unshared = client.submit_code(OWNER, make_code("true"), "unshared", datasets=["census"])

    for uid, reason in (
        (unknown.uid, "dataset 'salaries' does not exist at owner@example.com"),
        (unshared.uid, f"dataset 'census' is not shared with {ALICE}"),
    ):
        job = client.wait_for_job(uid, timeout=30)
        assert job.status == scq.JobStatus.rejected
        assert job.error.startswith(reason)


def test_the_approval_pins_each_dataset_and_the_callback_sees_them(client, server_factory, owner_data, make_code):
    seen: list[list[str]] = []
    server = server_factory(
        release_policy="auto", auto_approval_callback=lambda job: seen.append(job.datasets) or False
    ).start()
    publish_census(server, owner_data)
    job = client.submit_code(OWNER, make_code("true"), "pinned", auto_approval=True, datasets=["census"])
    accepted(server, job.uid)

    state = server.get_job(job.uid).state
    assert seen == [["census"]]
    assert [(pin.name, pin.registration) for pin in state.datasets] == [
        ("census", server.get_dataset("census").registration)
    ]
    assert server.get_job(job.uid).datasets == ["census"]
    job_file = server.store.layout.job(scq.JobRef(ALICE, job.uid)).job_file
    assert json.loads(job_file.read_text())["datasets"] == ["census"]


@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_a_dataset_gone_between_approval_and_run_fails_the_job(change, client, server_factory, owner_data, make_code):
    server = server_factory(release_policy="auto")
    server.store.ensure_queue()
    publish_census(server, owner_data)
    job = client.submit_code(OWNER, make_code(MEAN_AGE), "mean", datasets=["census"])
    server.process_once()  # accepted, pinned
    server.approve_job(job.uid)
    server.remove_dataset("census")
    if change == "replaced":
        server.add_dataset("census", private_path=data_folder(owner_data / "other", {"census.csv": "name,age\nz,99\n"}))
    server.start()

    failed = wait_for(server, job.uid)
    assert failed.status == scq.JobStatus.failed
    assert failed.error == f"dataset 'census' was {change} after the job was approved" + (
        "; submit the job again" if change == "replaced" else ""
    )
    assert client.get_job_output(job.uid) is None  # it never ran
    # the server carries on: a job submitted now runs
    if change == "replaced":
        again = client.submit_code(OWNER, make_code(MEAN_AGE), "again", datasets=["census"])
        server.approve_job(accepted(server, again.uid))
        assert (client.get_job_output(client.wait_for_job(again.uid, timeout=60).uid) / "mean.txt").read_text() == (
            "99\n"
        )


def test_changing_metadata_keeps_the_registration_and_new_data_does_not(server, owner_data):
    first = publish_census(server, owner_data)
    edited = server.update_dataset("census", summary="People, one row each", users=[ALICE])
    assert edited.registration == first.registration and edited.summary == "People, one row each"
    assert edited.users == (ALICE,) and [f.path for f in edited.files] == ["census.csv"]
    moved = server.update_dataset("census", private_path=data_folder(owner_data / "v2", {"census.csv": CENSUS_CSV}))
    assert moved.registration != first.registration
    assert moved.summary == "People, one row each"


def test_requester_runs_on_the_mock_as_the_server_would(client, server, owner_data, make_code):
    publish_census(server, owner_data)
    result = scq.run_local(
        make_code(MEAN_AGE + ENV_AND_WRITE), OWNER, ["census"], email=ALICE, data_dir=client.workspace.data_dir
    )

    assert result.status == "completed" and result.exit_code == 0, result.logs
    assert (result.output_dir / "mean.txt").read_text() == "45\n"  # the mock's rows
    env = _env(result.output_dir)
    assert env["SYFT_DATA_KIND"] == "mock" and env["SYFT_DATASET_DIR"] == f"{env['SYFT_DATA_DIR']}/census"
    assert "mean.txt" in result.outputs
    assert client.workspace.datasites not in result.output_dir.parents  # never synced
    assert (client.get_dataset(OWNER, "census").mock_path / "census.csv").read_text() == MOCK_CSV  # untouched


def test_owner_runs_a_pending_job_on_the_mocks_and_nothing_is_published(client, server, owner_data, make_code):
    publish_census(server, owner_data)
    job = client.submit_code(OWNER, make_code(MEAN_AGE + "echo on the mock"), "mean", datasets=["census"])
    accepted(server, job.uid)

    result = server.run_on_mock(job.uid)
    assert result.status == "completed", result.logs
    assert (result.output_dir / "mean.txt").read_text() == "45\n"
    assert result.log_tail == "on the mock"
    assert server.workspace.datasites not in result.output_dir.parents
    assert server.get_job(job.uid).status == scq.JobStatus.pending
    review = server.store.layout.job(scq.JobRef(ALICE, job.uid)).review
    assert sorted(p.name for p in review.iterdir()) == ["state.json"]


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_1_gib_private_file_is_visible_to_the_job_without_being_copied(
    sandbox, client, server_factory, owner_data, make_code
):
    if sandbox == "bwrap":
        need("bwrap")
    server = server_factory(
        release_policy="auto", auto_approval_enabled=True, runner=scq.SafeCodeRunner(sandbox=sandbox)
    ).start()
    big = data_folder(owner_data / "big", {})
    with open(big / "big.bin", "wb") as fh:  # sparse: 1 GiB that a copy would have to write
        fh.seek((1 << 30) - 8)
        fh.write(b"THE-END!")
    os.chmod(big / "big.bin", 0o644)
    server.add_dataset("big", private_path=big)
    code = make_code(
        'stat -L -c "%s %i %d" "$SYFT_DATASET_DIR/big.bin" > "$SYFT_OUTPUT_DIR/stat.txt"\n'
        'tail -c 8 "$SYFT_DATASET_DIR/big.bin" > "$SYFT_OUTPUT_DIR/tail.txt"'
    )
    job = client.wait_for_job(client.submit_code(OWNER, code, "big", auto_approval=True, datasets=["big"]).uid, 60)

    assert job.status == scq.JobStatus.completed, job.error
    out = client.get_job_output(job.uid)
    size, inode, _ = (out / "stat.txt").read_text().split()
    assert int(size) == 1 << 30 and (out / "tail.txt").read_bytes() == b"THE-END!"
    assert int(inode) == os.stat(big / "big.bin").st_ino  # the owner's own file, not a copy of it


def test_a_dataset_yaml_caught_mid_sync_is_not_listed(client, server, owner_data):
    from syft_code_queue.datasets.catalog import read_metadata

    publish_census(server, owner_data, tags=["census"])
    path = server.datasets.layout.metadata("census")
    whole = path.read_bytes()
    complete = read_metadata(path)
    for cut in range(1, len(whole)):
        path.write_bytes(whole[:cut])  # what a reader sees while SyftBox writes the file in place
        prefix = read_metadata(path)
        assert prefix is None or prefix == complete, f"a prefix of {cut} bytes parsed as another document"
        if cut < whole.index(b"mock_manifest_sha256"):
            assert prefix is None
    path.write_bytes(whole)
    assert [d.name for d in client.list_datasets(OWNER)] == ["census"]
