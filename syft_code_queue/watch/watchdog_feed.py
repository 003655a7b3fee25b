"""``WatchdogFeed``: the change feed where inotify is not available. Its events arrive
later on watchdog's threads, so it only wakes things up: whoever reads must still check the
files themselves."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..syftbox import is_sync_artifact
from .feed import ChangeFeed, Changes

log = logging.getLogger(__name__)

# watchdog's recursive inotify re-adds watches for new sub-folders and warns each time;
# the watches are correct, the warning is noise in a notebook.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)


class _WatchdogHandler(FileSystemEventHandler):
    def __init__(self, publish: Callable[[Changes], None]) -> None:
        self._publish = publish

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = os.fsdecode(getattr(event, "dest_path", "") or event.src_path)
        if event.event_type in ("opened", "closed_no_write") or is_sync_artifact(os.path.basename(path)):
            return
        self._publish(frozenset({path}))


class WatchdogFeed(ChangeFeed):
    """Wake-ups from watchdog (FSEvents on macOS, ...) where inotify is not usable."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._roots: list[str] = []
        self._users = 0
        self._observer: Optional[Observer] = None

    def watch(self, root: Path, max_depth: Optional[int] = None) -> None:
        path = os.path.abspath(root)
        with self._lock:
            if path not in self._roots:
                self._roots.append(path)
                if self._observer is not None:
                    self._schedule(self._observer, path)

    def _schedule(self, observer: Observer, path: str) -> None:
        if not os.path.isdir(path):
            return  # readers check the files anyway; the rescan finds what appears later
        try:
            observer.schedule(_WatchdogHandler(self._publish), path, recursive=True)
        except OSError as exc:
            log.warning("file-system events unavailable for %s (%s); relying on rescans", path, exc)

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._users += 1
            if self._users == 1:
                observer = Observer()
                for path in self._roots:
                    self._schedule(observer, path)
                observer.start()
                self._observer = observer
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._stop_observer()

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def close(self) -> None:
        with self._lock:
            self._users = 0
            self._stop_observer()
