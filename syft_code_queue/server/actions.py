"""The owner's actions beyond approve, reject and cancel, one mixin per feature, so that
``CodeQueueServer`` keeps its own duties (the serve loop, the core actions, reads) and each
feature's surface lives beside the others of its kind. Each method resolves the job and
hands the work to the feature's own object (``ReleaseDesk``, ``Oversight``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable, Optional

from .. import lifecycle
from ..governance.diff import CodeDiff, JobDiffs
from ..governance.notify import Callback
from ..models import Job, TrustRule
from ..release import HeldOutputs
from ..release.held import PREVIEW_BYTES

if TYPE_CHECKING:
    from .server import CodeQueueServer


class ReleaseActions:
    """Output release: release/desk.py, and the README's "Output release"."""

    def release_job(
        self: CodeQueueServer, uid: str, files: Optional[list[str]] = None, logs: bool = True, reason: str = ""
    ) -> Job:
        """Release held results: the outputs named (None: every one) and, with ``logs``, the logs."""
        return self._after_action(self._desk.release(self._ref(uid), files, logs, reason, by=self.email).ref)

    def withhold_job(self: CodeQueueServer, uid: str, reason: str) -> Job:
        """Release nothing of a held job; the reason (required) is shown to the requester."""
        return self._after_action(self._desk.withhold(self._ref(uid), reason, by=self.email).ref)

    def get_held_outputs(self: CodeQueueServer, uid: str) -> HeldOutputs:
        """Owner only: every held file (logs included) with its check's verdict, for review."""
        return self._desk.outputs(self._ref(uid))

    def read_held_file(
        self: CodeQueueServer, uid: str, path: str, max_bytes: int = PREVIEW_BYTES, log: bool = False
    ) -> bytes:
        """The start of one held output (with ``log``: ``stdout.txt`` or ``stderr.txt``), for
        review (the approval panel's release section); the view is audited."""
        ref = self._ref(uid)
        head = self._desk.outputs(ref).read(path, max_bytes, log=log)
        self.store.audit.record("file_view", by=self.email, job=ref, path=path, bytes=len(head), held=True, log=log)
        return head


class ReviewActions:
    """The review loop: changes requested, diffs, trust rules, notifications (governance/)."""

    def request_changes(self: CodeQueueServer, uid: str, comments: str) -> Job:
        """Send a pending job back with comments (in its history); the requester resubmits."""
        ref = self._ref(uid)
        state = self.store.update(ref, partial(lifecycle.request_changes, by=self.email, comments=comments))
        self._settled.add(ref, state)
        return self._after_action(ref)

    def diff_job(self: CodeQueueServer, uid: str, against: Optional[str] = None) -> CodeDiff:
        """The job's code against ``against`` (by default the job it supersedes); audited."""
        return self._oversight.diff(self.get_job(uid), self.get_job(against) if against else None, self.list_jobs)

    def job_diffs(self: CodeQueueServer, uid: str) -> JobDiffs:
        """Against the superseded job and the last approved one of its name, with the chip text."""
        return self._oversight.diffs(self.get_job(uid), self.list_jobs)

    def list_trust_rules(self: CodeQueueServer) -> list[TrustRule]:
        return self._oversight.trust.rules()

    def revoke_trust(self: CodeQueueServer, rule_id: str) -> TrustRule:
        return self._oversight.revoke(rule_id)

    def on(self: CodeQueueServer, event: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(notification)`` on ``event`` (``scq.EVENTS``); returns an unsubscribe."""
        return self._oversight.notifier.on(event, callback)
