"""What a SubmitForm shows of the owner it is about to send a job to: the datasets they
share with this requester (and whether each one's mock has synced here) and the runtimes
their queue offers, as plain dicts for the front end.

Both come from what SyftBox synced (``client.list_datasets``, ``client.list_runtimes``);
nothing here writes. Whether a mock has arrived is its manifest compared with the files
here, each file hashed once per version of it (``VerifiedFiles``), so the form can look
again every few seconds while a mock syncs.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

from ..client import CodeQueueClient
from ..datasets import Dataset
from ..models import EMAIL_PATTERN
from ..protocol.manifest import VerifiedFiles, compare_to_manifest
from ..runtimes.documents import PublishedRuntime

# "": no owner typed yet; "not_synced": nothing of their datasite is here; "none": they
# share no dataset with this requester; "ready": ``items`` lists them; "error": ``message``.
OffersState = Literal["", "not_synced", "none", "ready", "error"]
VERIFIED_FILES = 4096
README_CHARS = 4000  # of a dataset's README shown in the picker


def _view(owner: str, state: OffersState, message: str = "", items: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"owner": owner, "state": state, "message": message, "items": list(items)}


def mock_pending(dataset: Dataset, verified: VerifiedFiles) -> int:
    """How many of the mock's files have not (or not wholly) synced here yet."""
    pending, broken = compare_to_manifest(dataset.mock_path, dataset.files, verified)
    return len(pending) + len(broken)


def dataset_item(dataset: Dataset, verified: VerifiedFiles) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "summary": dataset.summary,
        "tags": list(dataset.tags),
        "mock_note": dataset.mock_note,
        "readme": (dataset.readme or "")[:README_CHARS],
        "readme_cut": len(dataset.readme or "") > README_CHARS,
        "files": len(dataset.files),
        "size": dataset.mock_size,
        "pending": mock_pending(dataset, verified),
        "source": dataset.source,
    }


def datasets_view(client: CodeQueueClient, owner: str, verified: VerifiedFiles) -> dict[str, Any]:
    """``owner``'s datasets as the form's picker lists them, with the state of the list."""
    if not EMAIL_PATTERN.match(owner):
        return _view(owner, "")
    try:
        listed = client.list_datasets(owner)
        items = [dataset_item(dataset, verified) for dataset in listed]
    except (OSError, ValueError) as exc:
        return _view(owner, "error", f"Could not read {owner}'s datasets ({exc}); check the email and try again.")
    if items:
        return _view(owner, "ready", items=items)
    if not (client.workspace.datasites / owner).is_dir():
        return _view(
            owner,
            "not_synced",
            f"Nothing of {owner}'s datasite has synced here yet; their datasets appear here once SyftBox syncs it.",
        )
    return _view(owner, "none", f"{owner} has published no datasets that you may use (or none has synced here yet).")


def runtime_item(runtime: PublishedRuntime) -> dict[str, Any]:
    return {
        "name": runtime.name,
        "python": runtime.python,
        "packages": list(runtime.packages),
        "lock_sha256": runtime.lock_sha256,
        "allow_requirements": runtime.allow_requirements,
        "default": runtime.default,
    }


def runtimes_view(client: CodeQueueClient, owner: str) -> dict[str, Any]:
    """The runtimes ``owner``'s queue offers, the default first, as the form's picker lists them."""
    if not EMAIL_PATTERN.match(owner):
        return _view(owner, "")
    try:
        runtimes = client.list_runtimes(owner)
    except (OSError, ValueError) as exc:
        return _view(owner, "error", f"Could not read {owner}'s runtimes ({exc}); try again.")
    if not runtimes:
        return _view(
            owner,
            "none",
            f"{owner}'s queue lists no runtimes here (not synced yet, or a server that predates runtimes); "
            "the job runs in the owner's default environment.",
        )
    ordered = sorted(runtimes, key=lambda r: not r.default)  # stable: the owner's order otherwise
    return _view(owner, "ready", items=[runtime_item(r) for r in ordered])
