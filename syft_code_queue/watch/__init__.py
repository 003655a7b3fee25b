"""Change feeds: which paths under some watched folders changed, pushed to listeners
(``feed``), from inotify where the kernel has it (``inotify_feed``, exact) or from watchdog
elsewhere (``watchdog_feed``, a wake-up only)."""

from __future__ import annotations

import logging

from . import inotify
from .feed import ChangeFeed, Changes, Listener
from .inotify_feed import InotifyFeed
from .watchdog_feed import WatchdogFeed

log = logging.getLogger(__name__)


def open_feed() -> ChangeFeed:
    """The best feed this system offers."""
    if inotify.available():
        try:
            return InotifyFeed()
        except OSError as exc:  # e.g. the per-user limit of inotify instances
            log.warning("inotify unavailable (%s); using watchdog", exc)
    return WatchdogFeed()


__all__ = ["ChangeFeed", "Changes", "InotifyFeed", "Listener", "WatchdogFeed", "open_feed"]
