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
import weakref
from functools import partial
from typing import Callable, ContextManager, Optional

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
        """Whether any callback listens: when none does, no history is tracked."""
        return bool(self._callbacks)

    @property
    def wanted(self) -> bool:
        """Whether anyone listens at all, a callback or a listener."""
        return bool(self._callbacks or self._listeners)

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


RESYNC_SECONDS = 5.0  # how often a requester's watcher looks even when no change was reported


class Watcher:
    """Tells a notifier what changed in a snapshot of jobs, for a side that has no server
    writing the states (a requester).

    It looks when ``wake`` is set (the jobs' indexes set it once a change they will see is
    recorded, so a look never runs ahead of what woke it) and at least every
    ``RESYNC_SECONDS`` (a datasite that appeared since, or a feed that only wakes things up), and
    tells only the jobs whose revision moved, or that left the snapshot. It holds its source
    weakly and stops once the source is gone or nobody listens any more."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        notifier: Notifier,
        wake: threading.Event,
        watching: Callable[[], ContextManager[None]],
        lock: threading.Lock,
    ) -> None:
        self._snapshot = weakref.WeakMethod(snapshot) if inspect.ismethod(snapshot) else lambda: snapshot
        self._notifier = notifier
        self._wake = wake
        self._watching = watching
        self._lock = lock  # held by whoever asks ``alive``, so a new listener never sees a watcher that is leaving
        self._last: Optional[Snapshot] = None
        self._done = False

    @property
    def alive(self) -> bool:
        """Whether it still watches (ask with ``lock`` held)."""
        return not self._done

    def start(self) -> None:
        """Take the first look now (what is there is known, not news), then watch."""
        self._look(first=True)
        threading.Thread(target=self._watch, name="scq-notify-watch", daemon=True).start()

    def _listened(self) -> bool:
        with self._lock:
            self._done = not self._notifier.wanted
            return not self._done

    def _watch(self) -> None:
        with self._watching():
            while self._listened():
                self._wake.wait(RESYNC_SECONDS)
                self._wake.clear()  # before looking: a change recorded after this wakes the next look
                try:
                    if not self._look(first=False):
                        with self._lock:
                            self._done = True
                        return
                except Exception:
                    log.exception("looking for job changes to notify failed; retrying")

    def _look(self, first: bool) -> bool:
        snapshot = self._snapshot()
        if snapshot is None:
            return False
        current = snapshot()
        last, self._last = self._last, current
        if last is not None and last.version == current.version:
            return True
        for entry in current.entries:
            if last is None or entry.revision > last.version:
                if not first:
                    self._notifier.changed(entry.key)
                if self._notifier.active:
                    known = len(entry.job.history) if first else 0
                    self._notifier.later(partial(self._notifier.observe, entry.job, known))
        if last is not None and last.positions is not current.positions:
            for key in last.positions:
                if key not in current.positions:
                    self._notifier.changed(key)
        return True
