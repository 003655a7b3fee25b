"""Every bad dataset input gets an error that says what is wrong and what to do, and loses
nothing: what was published before is still published, unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import ALICE, MOCK_CSV, OWNER, data_folder, publish_census

import syft_code_queue as scq


def published(server: scq.CodeQueueServer) -> list[str]:
    """Every file of the owner's public datasets folder, and the registry's records."""
    roots = [server.datasets.layout.public, server.datasets.layout.registry]
    return sorted(str(p) for root in roots if root.exists() for p in root.rglob("*") if p.name != ".lock")


@pytest.fixture
def owner(server_factory, owner_data) -> scq.CodeQueueServer:
    server = server_factory(max_mock_size=1024)
    publish_census(server, owner_data)
    return server


def refused(owner: scq.CodeQueueServer, match: str, **add: object) -> None:
    before = published(owner)
    add.setdefault("name", "salaries")
    with pytest.raises(scq.DatasetError, match=match):
        owner.add_dataset(**add)  # type: ignore[arg-type]
    assert published(owner) == before
    assert [d.name for d in owner.list_datasets()] == ["census"]


def test_a_private_path_that_does_not_exist(owner, owner_data):
    refused(owner, r"private_path .*/nowhere does not exist; give the folder", private_path=owner_data / "nowhere")


def test_a_mock_path_that_does_not_exist(owner, owner_data):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    refused(owner, r"mock_path .*/nowhere does not exist", private_path=private, mock_path=owner_data / "nowhere")


def test_a_file_where_a_folder_is_expected(owner, owner_data):
    data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    refused(owner, r"private_path .*/s\.csv is a file; give the folder", private_path=owner_data / "salaries" / "s.csv")


def test_a_private_path_inside_the_syftbox_folder(owner, root):
    inside = data_folder(root / "my-data", {"s.csv": "x\n"})
    refused(owner, r"inside the SyftBox folder .* SyftBox uploads everything there", private_path=inside)
    refused(owner, r"inside the SyftBox folder", private_path=data_folder(root / "datasites" / OWNER / "x", {}))


def test_a_private_path_that_holds_the_syftbox_folder(owner, root):
    refused(owner, r"\(or holds it\)", private_path=root.parent)


def test_a_mock_that_is_the_private_data(owner, owner_data):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    refused(
        owner, r"overlaps the private folder .* must be a folder of its own", private_path=private, mock_path=private
    )


def test_symlinks_and_special_files_in_a_mock(owner, owner_data):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    linked = data_folder(owner_data / "linked-mock", {"s.csv": "x\n"})
    os.symlink(private / "s.csv", linked / "leak.csv")
    refused(
        owner,
        r"symlinks are not allowed .*leak\.csv; a mock, like a code folder",
        private_path=private,
        mock_path=linked,
    )
    special = data_folder(owner_data / "fifo-mock", {"s.csv": "x\n"})
    os.mkfifo(special / "pipe")
    refused(owner, r"only regular files are allowed .*pipe", private_path=private, mock_path=special)


def test_a_duplicate_dataset_name(owner, owner_data):
    other = data_folder(owner_data / "other", {"census.csv": "name,age\nz,1\n"})
    refused(
        owner,
        r"a dataset named 'census' already exists; change it with update_dataset",
        name="census",
        private_path=other,
    )
    assert (owner.get_dataset("census").mock_path / "census.csv").read_text() == MOCK_CSV


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 65, "with space"])
def test_an_invalid_name(owner, owner_data, name):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    refused(owner, r"a dataset name is 1-64 letters, digits", name=name, private_path=private)


def test_a_mock_over_the_limit(owner, owner_data):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    big = data_folder(owner_data / "big-mock", {"big.csv": "x" * 2048})
    refused(
        owner,
        r"the mock is 0\.0 MiB, over the limit of 0\.0 MiB \(max_mock_size\)",
        private_path=private,
        mock_path=big,
    )


def test_a_mock_over_the_default_limit_of_100_mib(server_factory, owner_data):
    server = server_factory()
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    mock = data_folder(owner_data / "sparse-mock", {})
    with open(mock / "big.bin", "wb") as fh:
        fh.truncate(100 * 1024 * 1024 + 1)  # sparse: the size is what counts
    with pytest.raises(scq.DatasetError, match=r"the mock is 100\.0 MiB, over the limit of 100\.0 MiB"):
        server.add_dataset("salaries", private_path=private, mock_path=mock)
    assert not server.datasets.layout.folder("salaries").exists()


def test_a_mock_holding_a_name_the_metadata_uses(owner, owner_data):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    mock = data_folder(owner_data / "mock", {"dataset.yaml": "name: fake\n"})
    refused(
        owner,
        r"the mock holds dataset\.yaml, a name the dataset's own metadata uses",
        private_path=private,
        mock_path=mock,
    )


def test_a_dataset_named_twice_in_one_submission(client, owner, make_code):
    code = make_code("true")
    with pytest.raises(ValueError, match=r"dataset 'census' is named twice; name each dataset once"):
        client.submit_code(OWNER, code, "twice", datasets=["census", "census"])
    with pytest.raises(ValueError, match=r"named twice"):
        client.run_local(code, OWNER, ["census", "census"])
    assert client.list_jobs() == []


def test_an_invalid_dataset_name_in_a_submission(client, owner, make_code):
    with pytest.raises(ValueError, match=r"a dataset name is 1-64 letters"):
        client.submit_code(OWNER, make_code("true"), "bad", datasets=["../census"])
    assert client.list_jobs() == []


def test_run_local_before_the_mock_has_synced(client, owner, make_code):
    mock = client.get_dataset(OWNER, "census").mock_path
    (mock / "census.csv").write_text(MOCK_CSV[:10])  # a prefix: SyftBox is still writing it
    with pytest.raises(scq.MockNotSynced, match=r"the mock of dataset 'census' is not synced yet \(1 of 1 files"):
        client.run_local(make_code("true"), OWNER, ["census"])


def test_run_local_on_a_dataset_that_has_not_synced_at_all(client, owner, make_code):
    with pytest.raises(scq.DatasetNotFoundError, match=r"publishes no dataset 'salaries' that has synced here"):
        client.run_local(make_code("true"), OWNER, ["salaries"])


def test_removing_or_updating_a_dataset_that_does_not_exist(owner):
    with pytest.raises(scq.DatasetNotFoundError, match=r"you have no dataset 'salaries'"):
        owner.remove_dataset("salaries")
    with pytest.raises(scq.DatasetNotFoundError, match=r"you have no dataset 'salaries'; add it with add_dataset"):
        owner.update_dataset("salaries", summary="x")


def test_a_bad_user_list(owner, owner_data):
    private = data_folder(owner_data / "salaries", {"s.csv": "x\n"})
    refused(owner, r"users: .*not a valid email address: 'nobody'", private_path=private, users=["nobody"])
    refused(owner, r"either '\*' \(everyone\) or a list of emails", private_path=private, users=["*", ALICE])


def test_the_cli_says_what_is_wrong(owner, owner_data, root: Path, capsys):
    from syft_code_queue.cli import main

    args = [
        "dataset",
        "add",
        "census",
        "--private",
        str(owner_data / "census"),
        "--email",
        OWNER,
        "--data-dir",
        str(root),
    ]
    assert main(args) == 2
    assert "a dataset named 'census' already exists" in capsys.readouterr().err
