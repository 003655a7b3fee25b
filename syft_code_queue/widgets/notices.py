"""In-notebook notifications: one non-modal message per widget that says what happened since
the user last dismissed it, so a burst of events reads "3 new jobs", never three toasts.

``Notices`` is a part of a widget (it inherits it): the synced ``notification`` trait and the
``dismiss`` action. What counts as news is the widget's: the ApprovalPanel tells the owner of
jobs that arrived (``arrivals``), a requester's JobTable of their jobs whose status changed
(``status_changes``). Both read the jobs the widget's source already has, on the existing
update flow (the source and the UI pump); nothing here polls.
"""

from __future__ import annotations

from typing import Literal, Optional

import traitlets

from ..models import Job, utcnow
from .base import Action, iso

SHOWN_ITEMS = 3  # items named in the message; the rest are counted


class DismissAction(Action):
    """The user closed the notification: what it said is not said again."""

    kind: Literal["dismiss"]


class Notices(traitlets.HasTraits):
    """A widget's notification: ``{id, text, count, at}``, or ``{}`` when there is none."""

    notification = traitlets.Dict().tag(sync=True)

    def notify(self, items: dict[str, str], one: str, many: str) -> None:
        """Add ``items`` (what happened to each job, by uid; a job's newest item wins) to the
        shown notification. ``one`` words a single item (``{item}``), ``many`` the headline
        of several (``{count}``)."""
        if not items:
            return
        pending: dict[str, str] = {**getattr(self, "_notice_items", {}), **items}
        self._notice_items = pending
        self._notice_seq = getattr(self, "_notice_seq", 0) + 1
        texts = list(pending.values())[::-1]  # newest first
        if len(texts) == 1:
            text = one.format(item=texts[0])
        else:
            named = "; ".join(texts[:SHOWN_ITEMS])
            more = len(texts) - SHOWN_ITEMS
            text = many.format(count=len(texts)) + ": " + named + (f"; and {more} more" if more > 0 else "")
        self.notification = {"id": self._notice_seq, "text": text, "count": len(texts), "at": iso(utcnow())}

    def dismiss(self) -> dict[str, str]:
        self._notice_items = {}
        self.notification = {}
        return {}


def arrivals(known: Optional[set[str]], jobs: list[Job]) -> tuple[set[str], dict[str, str]]:
    """The accepted jobs not seen before (none on the first look, which only learns them):
    the uids known now, and a line per new job."""
    accepted = [job for job in jobs if job.state is not None]
    uids = {job.uid for job in accepted}
    if known is None:
        return uids, {}
    new = sorted((job for job in accepted if job.uid not in known), key=lambda job: job.created_at)
    return known | uids, {job.uid: f"{job.name!r} from {job.requester_email}" + _how(job) for job in new}


def _how(job: Job) -> str:
    approver = job.history[1] if len(job.history) > 1 else None
    return f" ({approver.status.value} by {approver.by})" if approver is not None else ""


def status_changes(seen: Optional[dict[str, str]], jobs: list[Job]) -> tuple[dict[str, str], dict[str, str]]:
    """The jobs whose status differs from the one seen last (none on the first look; a job
    seen for the first time is learnt, not told): the statuses now, and a line per change."""
    now = {job.uid: job.status.value for job in jobs}
    if seen is None:
        return now, {}
    changed = {}
    for job in jobs:
        before = seen.get(job.uid)
        if before is not None and before != job.status.value:
            changed[job.uid] = f"{job.name!r} [{job.short_uid}] is now {job.status.value}"
    return {**seen, **now}, changed
