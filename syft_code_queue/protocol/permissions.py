"""The queue's SyftBox permission files, in both formats: ``syft.pub.yaml`` (current
servers) and the legacy ``syftperm.yaml`` (SyftBox 0.4 servers).

Each requester may write only ``inbox/<their email>/`` and read only ``review/<their
email>/``; anyone may read the server's ``heartbeat.json`` and the runtimes it offers
(``runtimes.json``); nothing else under the queue is shared. A dataset's public folder is readable by
its users only.
"""

from __future__ import annotations

from typing import Iterable

from ..models import validate_email
from .layout import HEARTBEAT_FILE, RUNTIMES_FILE

PERMISSION_FILE = "syft.pub.yaml"
LEGACY_PERMISSION_FILE = "syftperm.yaml"


def _yaml_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def queue_permissions_yaml() -> str:
    """``syft.pub.yaml`` for a queue root: each user writes only their own inbox folder and
    reads only their own review folder; ``terminal`` stops any nested file widening it."""
    return (
        "# Written by syft-code-queue. Requesters may write only inbox/<their email>/ and\n"
        "# read only review/<their email>/; everyone may read the server's heartbeat and the\n"
        "# runtimes it offers.\n"
        "terminal: true\n"
        "rules:\n"
        "  - pattern: 'inbox/{{.UserEmail}}/**'\n"
        "    access:\n"
        "      read: ['USER']\n"
        "      write: ['USER']\n"
        "  - pattern: 'review/{{.UserEmail}}/**'\n"
        "    access:\n"
        "      read: ['USER']\n"
        f"  - pattern: '{HEARTBEAT_FILE}'\n"
        "    access:\n"
        "      read: ['*']\n"
        f"  - pattern: '{RUNTIMES_FILE}'\n"
        "    access:\n"
        "      read: ['*']\n"
    )


def legacy_permissions_yaml(requesters: Iterable[str]) -> str:
    """The legacy ``syftperm.yaml`` format (SyftBox 0.4 servers). Rules apply in order, later
    ones winning; the datasite's owner may always do anything.

    That server grants create or write only together with read, so the inbox rule gives all
    three. It lists a file to every user that a ``user: '*'`` rule with a ``{useremail}``
    template matches for *someone* (downloads are still refused), so other users can list the
    paths, sizes and hashes in the inboxes (never their content): an open inbox for requesters
    not known in advance needs that template. Results are different: each known requester's
    review folder is named explicitly, so nobody else can even list them."""
    lines = [
        "# Written by syft-code-queue (legacy SyftBox permission format).",
        "- path: 'inbox/{useremail}/**'",
        "  user: '*'",
        "  permissions: [create, write, read]",
        "  type: allow",
        f"- path: {_yaml_str(HEARTBEAT_FILE)}",
        "  user: '*'",
        "  permissions: [read]",
        "  type: allow",
        f"- path: {_yaml_str(RUNTIMES_FILE)}",
        "  user: '*'",
        "  permissions: [read]",
        "  type: allow",
    ]
    for email in sorted(set(requesters)):
        validate_email(email)
        lines += [
            f"- path: {_yaml_str(f'review/{email}/**')}",
            f"  user: {_yaml_str(email)}",
            "  permissions: [read]",
            "  type: allow",
        ]
    return "\n".join(lines) + "\n"


def dataset_permissions_yaml(users: Iterable[str]) -> str:
    """``syft.pub.yaml`` for a dataset's public folder: ``users`` (``'*'``: everyone) may
    read its metadata and mock; nobody but the owner writes; ``terminal`` stops any nested
    file widening it."""
    readers = ", ".join(_yaml_str(user) for user in users)
    return (
        "# Written by syft-code-queue: the dataset's metadata and mock, readable by its users.\n"
        "terminal: true\n"
        "rules:\n"
        "  - pattern: '**'\n"
        "    access:\n"
        f"      read: [{readers}]\n"
    )


def legacy_dataset_permissions_yaml(users: Iterable[str]) -> str:
    """The same grant in the legacy ``syftperm.yaml`` format (SyftBox 0.4 servers). Rules
    there add up from the datasite down, later ones winning, and a datasite's ``public/``
    grants everyone read: a dataset for some users first takes that back."""
    users = list(users)
    lines = ["# Written by syft-code-queue (legacy SyftBox permission format)."]
    if "*" not in users:
        lines += ["- path: '**'", "  user: '*'", "  permissions: [read]", "  type: disallow"]
    for user in users:
        lines += ["- path: '**'", f"  user: {_yaml_str(user)}", "  permissions: [read]", "  type: allow"]
    return "\n".join(lines) + "\n"
