"""File-system events that wake the queue; the periodic rescan stays as the safety net."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Callable, Optional

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .syftbox import TEMP_SUFFIX

log = logging.getLogger(__name__)

# watchdog's recursive inotify re-adds watches for new sub-folders and warns each time;
# the watches are correct, the warning is noise in a notebook.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = str(getattr(event, "dest_path", "") or event.src_path)
        if event.event_type in ("opened", "closed_no_write") or path.endswith(TEMP_SUFFIX):
            return
        self._wake()


class QueueWatcher:
    """Calls ``wake`` on any change under the queue root (inotify on Linux)."""

    def __init__(self, root: Path, wake: Callable[[], None]) -> None:
        self.root = root
        self._wake = wake
        self._observer: Optional[Observer] = None

    def start(self) -> None:
        try:
            observer = Observer()
            observer.schedule(_Wake(self._wake), str(self.root), recursive=True)
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached: the rescan still works
            log.warning("file-system events unavailable (%s); relying on periodic rescans", exc)
            return
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
