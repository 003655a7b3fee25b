"""The legacy ACL names every requester's review folder, whichever owner process writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from helpers import ALICE, EVE, OWNER

import syft_code_queue as scq
from syft_code_queue.protocol.permissions import LEGACY_PERMISSION_FILE


def test_an_approval_from_another_owner_process_keeps_every_requesters_rule(
    root: Path, make_code: Callable[..., Path]
) -> None:
    uids = [
        scq.create_client(email=who, data_dir=root).submit_code(OWNER, make_code("echo hi"), name="j").uid
        for who in (ALICE, EVE)
    ]
    served = scq.CodeQueueServer(email=OWNER, data_dir=root)
    served.store.ensure_queue()
    served.process_once()  # both accepted, both pending
    cli = scq.CodeQueueServer(email=OWNER, data_dir=root)  # what `scq approve` builds: never started
    cli.approve_job(uids[1])
    acl = (cli.store.layout.root / LEGACY_PERMISSION_FILE).read_text()
    assert f"review/{ALICE}/**" in acl and f"review/{EVE}/**" in acl
