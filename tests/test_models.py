"""The documents on their own: what a valid request is, and a job's one identity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syft_code_queue.errors import describe
from syft_code_queue.models import FileEntry, JobRef, JobRequest, manifest_digest, utcnow

UID = "c" * 32


def request(**changes: object) -> JobRequest:
    fields: dict[str, object] = dict(
        uid=UID,
        name="analysis",
        requester_email="alice@example.com",
        target_email="owner@example.com",
        created_at=utcnow(),
        files=[FileEntry(path="run.sh", size=3, sha256="0" * 64)],
    )
    return JobRequest(**{**fields, **changes})


def test_a_job_ref_is_its_folder_and_sorts_like_one() -> None:
    ref = JobRef("alice@example.com", UID)
    assert str(ref) == f"alice@example.com/{UID}"
    assert sorted([JobRef("bob@example.com", UID), ref])[0] == ref
    assert {ref: 1}[JobRef("alice@example.com", UID)] == 1


@pytest.mark.parametrize("path", ["../escape.sh", "/abs.sh", "a//b", "a/./b", ""])
def test_a_manifest_never_names_a_path_outside_the_code_folder(path: str) -> None:
    with pytest.raises(ValidationError):
        FileEntry(path=path, size=0, sha256="0" * 64)


def test_a_request_is_pinned_by_its_manifest() -> None:
    one = request()
    assert one.manifest_sha256 == manifest_digest(list(one.files))
    other = request(files=[FileEntry(path="run.sh", size=3, sha256="1" * 64)])
    assert other.manifest_sha256 != one.manifest_sha256


def test_validation_errors_read_as_one_sentence_per_field() -> None:
    with pytest.raises(ValidationError) as caught:
        request(uid="nope", requester_email="not an email")
    text = describe(caught.value)
    assert text.startswith("uid: ") and "requester_email: " in text and "Value error," not in text
