"""Notifications: call an owner's or a requester's callbacks when something happens to a job.

The events are ``"submitted"`` (a job is seen for the first time), the name of every status
a job enters (``"pending"``, ``"running"``, ``"awaiting_release"``, ``"completed"``, ...),
``"finished"`` (it entered a final status) and ``"transition"`` (every step). Each step of
a job's history is told once, even when several happened between two looks.

Callbacks run on one notification thread, in the order things happened, never on a thread
of the queue: a slow one (sending mail, calling a webhook) holds nothing up, and one that
raises is logged and the next one runs.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
import weakref
from functools import partial
from typing import Callable, Optional

from pydantic import BaseModel, ConfigDict

from ..listing.snapshot import Snapshot
from ..models import Job, JobRef, JobStatus, Transition

log = logging.getLogger(__name__)

SUBMITTED = "submitted"
FINISHED = "finished"
TRANSITION = "transition"
# Every status's name is an event; awaiting_release is named too, for the output release.
EVENTS = frozenset({SUBMITTED, FINISHED, TRANSITION, "awaiting_release", *(s.value for s in JobStatus)})


class Notification(BaseModel):
    """What a callback is given: the event, the job as it was then, and the step (None for
    ``submitted``)."""

    model_config = ConfigDict(frozen=True)

    event: str
    job: Job
    transition: Optional[Transition] = None

    @property
    def uid(self) -> str:
        return self.job.uid


Callback = Callable[[Notification], None]
IDLE_SECONDS = 5.0  # how long the notification thread waits for work once nobody listens
Listener = Callable[[str], None]  # told a job's uid whenever it changed, on the thread that changed it


class Notifier:
    """The callbacks of one server or client, and which steps of each job it has told."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._callbacks: dict[str, list[Callback]] = {}
        self._told: dict[JobRef, int] = {}  # job -> how many steps of its history were told
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(uid)`` at once whenever a job changes (the widgets' update pump:
        it must return at once); returns an unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def changed(self, ref: JobRef) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(ref.uid)
            except Exception:
                log.exception("job listener failed")

    @property
    def active(self) -> bool:
        """Whether anyone listens: when nobody does, nothing is tracked."""
        return bool(self._callbacks)

    def on(self, event: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(notification)`` on ``event``; returns a function that stops it."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}: use one of {', '.join(sorted(EVENTS))}")
        if not callable(callback):
            raise TypeError(f"the callback for {event!r} must be callable, not {type(callback).__name__}")
        with self._lock:
            self._callbacks.setdefault(event, []).append(callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver, name=f"scq-notify-{self._name}", daemon=True)
                self._thread.start()

        def off() -> None:
            with self._lock:
                callbacks = self._callbacks.get(event, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._callbacks.pop(event, None)

        return off

    def later(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the notification thread (e.g. reading a job, then ``observe``)."""
        self._queue.put(work)

    def observe(self, job: Job, known: int) -> None:
        """Tell the steps of ``job``'s history not told yet. ``known``: how many steps were
        already seen when the job is new to this notifier (0: it has just been submitted)."""
        ref = JobRef(job.requester_email, job.uid)
        history = job.history
        with self._lock:
            told = self._told.get(ref)
            self._told[ref] = len(history)
        if told is None:
            if known == 0:
                self._emit(SUBMITTED, job, None)
            told = known
        for step in history[told:]:
            self._emit(step.status.value, job, step)
            if step.status.is_terminal:
                self._emit(FINISHED, job, step)
            self._emit(TRANSITION, job, step)

    def _emit(self, event: str, job: Job, step: Optional[Transition]) -> None:
        with self._lock:
            callbacks = list(self._callbacks.get(event, ()))
        if callbacks:
            notification = Notification(event=event, job=job, transition=step)
            for callback in callbacks:
                self._call(callback, notification)

    def _call(self, callback: Callback, notification: Notification) -> None:
        try:
            callback(notification)
        except Exception:
            log.exception("notification callback for %r failed on job %s", notification.event, notification.uid)

    def _deliver(self) -> None:
        """The notification thread; it ends once nobody listens and nothing is left to tell."""
        while True:
            try:
                work = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if not self._callbacks:
                        self._thread = None
                        return
                continue
            try:
                work()
            except Exception:
                log.exception("reading a job for its notifications failed")


POLL_SECONDS = 1.0  # how often a requester's watcher looks at its jobs' snapshot


class Watcher:
    """Tells a notifier what changed in a snapshot of jobs, for a side that has no server
    writing the states (a requester): it looks at the snapshot every ``interval``, and only
    at the jobs whose revision moved. It holds its source weakly and stops once the source
    is gone or nobody listens any more."""

    def __init__(self, snapshot: Callable[[], Snapshot], notifier: Notifier, interval: float = POLL_SECONDS) -> None:
        self._snapshot = weakref.WeakMethod(snapshot) if inspect.ismethod(snapshot) else lambda: snapshot
        self._notifier = notifier
        self._interval = interval
        self._version: Optional[int] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Take the first look now (what is there is known, not news), then watch."""
        self._look(first=True)
        self._thread = threading.Thread(target=self._watch, name="scq-notify-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while self._notifier.active:
            time.sleep(self._interval)
            try:
                if not self._look(first=False):
                    return
            except Exception:
                log.exception("looking for job changes to notify failed; retrying")

    def _look(self, first: bool) -> bool:
        snapshot = self._snapshot()
        if snapshot is None:
            return False
        current = snapshot()
        for entry in current.entries:
            if self._version is None or entry.revision > self._version:
                known = len(entry.job.history) if first else 0
                self._notifier.later(partial(self._notifier.observe, entry.job, known))
        self._version = current.version
        return True
