"""Paths: one place joins them, synced and owner-private alike."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

import syft_code_queue
from syft_code_queue import errors
from syft_code_queue.models import JobRef
from syft_code_queue.protocol.layout import ALL_JOBS, DatasetLayout, PrivateLayout, QueueLayout, Scope

REF = JobRef("alice@example.com", "b" * 32)


def test_a_job_lives_in_its_requesters_inbox_and_review_folders(tmp_path: Path) -> None:
    layout = QueueLayout(tmp_path / "datasites", "owner@example.com", "code-queue")
    paths = layout.job(REF)
    queue = tmp_path / "datasites" / "owner@example.com" / "app_data" / "code-queue"
    assert paths.job_file == queue / "inbox" / REF.requester / REF.uid / "job.json"
    assert paths.code_dir == queue / "inbox" / REF.requester / REF.uid / "code"
    assert paths.state_file == queue / "review" / REF.requester / REF.uid / "state.json"
    assert paths.outputs_dir == queue / "review" / REF.requester / REF.uid / "outputs"
    assert layout.job(REF) is paths  # joined once


def test_a_change_is_located_to_the_jobs_it_can_concern(tmp_path: Path) -> None:
    layout = QueueLayout(tmp_path, "owner@example.com", "code-queue")
    job = layout.job(REF)
    assert layout.locate(str(job.code_dir / "run.sh")) == Scope.of(REF)
    assert layout.locate(str(layout.inbox / REF.requester)) == Scope(REF.requester)
    assert layout.locate(str(layout.root)) == ALL_JOBS
    assert layout.locate(str(layout.inbox / "not-an-email")) is None
    assert layout.locate(str(tmp_path / "elsewhere")) is None
    assert layout.is_published_result(str(job.stdout_file))
    assert not layout.is_published_result(str(job.state_file))


def test_owner_private_files_live_outside_the_synced_tree(tmp_path: Path) -> None:
    private = PrivateLayout(tmp_path / ".syft_code_queue" / "owner@example.com", "code-queue")
    for path in (private.serve_lock, private.state_lock(3), private.start_journal, private.scratch):
        assert "datasites" not in path.parts


def test_a_datasets_public_part_is_published_and_its_pointer_is_not(tmp_path: Path) -> None:
    layout = DatasetLayout(
        tmp_path / "datasites", "owner@example.com", tmp_path / ".syft_code_queue" / "owner@example.com"
    )
    public = tmp_path / "datasites" / "owner@example.com" / "public" / "syft_datasets" / "v1" / "census"
    assert layout.metadata("census") == public / "dataset.yaml"
    assert layout.permission_files("census") == (public / "syft.pub.yaml", public / "syftperm.yaml")
    assert layout.url("census") == "syft://owner@example.com/public/syft_datasets/v1/census"
    for path in (layout.record("census"), layout.mock_run("b" * 32).outputs):
        assert "datasites" not in path.parts
    for name in ("../census", "a/b", ""):
        with pytest.raises(ValueError, match="a dataset name is 1-64 letters"):
            layout.folder(name)


def test_only_the_layout_joins_owner_private_paths() -> None:
    """Every other module asks the layout: a second place joining them is how paths drift."""
    package = Path(os.path.dirname(syft_code_queue.__file__))
    offenders = []
    for source in package.rglob("*.py"):
        if source.name == "layout.py" or source.parent.name == "widgets":
            continue
        text = source.read_text()
        if re.search(r"private_dir\s*/", text) or re.search(r"\.serve\.lock|\.started\"|\"runs\"", text):
            offenders.append(str(source.relative_to(package)))
    assert offenders == []


def test_every_exported_exception_is_a_queue_error() -> None:
    exported = [getattr(syft_code_queue, name) for name in syft_code_queue.__all__]
    classes = [obj for obj in exported if inspect.isclass(obj) and issubclass(obj, BaseException)]
    assert classes and all(issubclass(cls, errors.QueueError) for cls in classes)
    defined = [
        obj
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    ]
    assert all(issubclass(cls, errors.QueueError) for cls in defined)
