"""The server's heartbeat: ``heartbeat.json`` at the queue's root, rewritten every
``heartbeat_interval`` seconds by the serve thread, and once more with ``stopped_at`` on a
clean stop. Requesters read it to tell "online, last seen 20 s ago" from "offline since ...".

Cheap over sync: one small file, replaced atomically, not forced to disk (a lost beat is
replaced by the next one).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Optional

from ..models import Heartbeat, utcnow
from ..protocol.layout import QueueLayout
from ..syftbox import atomic_write_json

log = logging.getLogger(__name__)


class Pulse:
    def __init__(self, layout: QueueLayout, interval: float) -> None:
        self.layout = layout
        self.interval = interval
        self._started_at: Optional[datetime] = None
        self._next = 0.0  # time.monotonic() of the next beat

    def start(self) -> None:
        self._started_at = utcnow()
        self._next = 0.0
        self.beat_if_due()

    def due(self) -> float:
        """When the next beat is due (monotonic)."""
        return self._next

    def beat_if_due(self) -> None:
        if time.monotonic() < self._next or self._started_at is None:
            return
        self._next = time.monotonic() + self.interval
        self._write(None)

    def stop(self) -> None:
        if self._started_at is not None:
            self._write(utcnow())
            self._started_at = None

    def _write(self, stopped_at: Optional[datetime]) -> None:
        assert self._started_at is not None
        beat = Heartbeat(started_at=self._started_at, last_seen=utcnow(), interval=self.interval, stopped_at=stopped_at)
        try:
            atomic_write_json(self.layout.heartbeat, beat.model_dump_json(indent=2), durable=False)
        except OSError as exc:  # a full disk must not stop the queue; the next beat tries again
            log.warning("could not write the heartbeat: %s", exc)
