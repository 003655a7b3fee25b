"""Change feeds: which paths under some watched folders changed, pushed to listeners.

- ``InotifyFeed`` (Linux) is *exact*: ``sync()`` drains the kernel's queue, and the kernel
  queues an event in the system call that makes the change, so when ``sync()`` returns every
  change completed before the call has been published. The job index relies on that.
- ``WatchdogFeed`` (elsewhere, or without inotify) only wakes things up: its events arrive
  later on watchdog's threads, so whoever reads must still check the files themselves.

A published path means "this path, or anything under it, may have changed"; ``None`` means
anything may have changed (the kernel queue overflowed, or a watch could not be added).
Pick-up stays correct without any feed: the server's periodic rescan is the safety net.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import threading
import weakref
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, ContextManager, Optional

log = logging.getLogger(__name__)


Changes = Optional[frozenset[str]]
Listener = Callable[[Changes], None]


class ChangeFeed(ABC):
    """Listener bookkeeping shared by both kinds of feed.

    Bound methods are held weakly, so an index that subscribed does not keep itself (and
    its feed's inotify instance) alive through the feed."""

    exact = False

    def __init__(self) -> None:
        self._listeners: dict[int, Callable[[], Optional[Listener]]] = {}
        self._listeners_lock = threading.Lock()
        self._tokens = itertools.count()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        ref: Callable[[], Optional[Listener]]
        if inspect.ismethod(listener):
            ref = weakref.WeakMethod(listener)
        else:
            ref = lambda: listener  # noqa: E731
        token = next(self._tokens)
        with self._listeners_lock:
            self._listeners[token] = ref

        def unsubscribe() -> None:
            with self._listeners_lock:
                self._listeners.pop(token, None)

        return unsubscribe

    def _publish(self, changes: Changes) -> None:
        with self._listeners_lock:
            refs = list(self._listeners.items())
        for token, ref in refs:
            listener = ref()
            if listener is None:
                with self._listeners_lock:
                    self._listeners.pop(token, None)
                continue
            try:
                listener(changes)
            except Exception:
                log.exception("change listener failed")

    @abstractmethod
    def watch(self, root: Path, max_depth: Optional[int] = None) -> None:
        """Report changes under ``root`` (sub-folders down to ``max_depth`` levels below it)."""

    def sync(self) -> None:  # noqa: B027 (a no-op unless the feed is exact)
        """Publish every change made before this call (exact feeds only; others: no-op)."""

    def fileno(self) -> Optional[int]:
        """A descriptor that is readable when ``sync()`` has changes to publish, for a thread
        that waits on it itself instead of having ``running()`` push from another thread;
        None when changes can only be pushed."""
        return None

    @abstractmethod
    def running(self) -> ContextManager[None]:
        """Push changes to listeners from a background thread while the block runs."""

    @abstractmethod
    def close(self) -> None:
        """Stop pushing and release the watches."""


def within_depth(max_depth: Optional[int], depth: int) -> bool:
    return max_depth is None or depth <= max_depth


def nearest_existing(path: str) -> str:
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path
