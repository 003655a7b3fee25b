"""The one coalescing UI pump of a kernel.

Job events arrive in bursts and from any thread (the server thread, job workers, pollers).
They only *request* a refresh here; one daemon thread performs the refreshes, at most
once per ``min_interval`` for everything requested meanwhile, so a burst of events costs
one update per widget and a busy notebook cell never blocks the widgets.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional, Protocol

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 0.25  # at most four refreshes a second


class Refreshable(Protocol):
    def refresh(self) -> None: ...


class UpdatePump:
    """Runs ``target.refresh()`` on its own thread for each requested target, coalesced."""

    def __init__(self, min_interval: float = DEFAULT_INTERVAL) -> None:
        self.min_interval = min_interval
        self.batches = 0  # how many refresh rounds ran (tests and benchmarks read it)
        self._pending: dict[int, Refreshable] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._thread: Optional[threading.Thread] = None

    def request(self, target: Refreshable) -> None:
        """Ask for ``target.refresh()`` soon; repeated requests before it runs merge."""
        with self._cond:
            self._pending[id(target)] = target
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="scq-ui-pump", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def discard(self, target: Refreshable) -> None:
        with self._cond:
            self._pending.pop(id(target), None)

    def flush(self, timeout: float = 10) -> None:
        """Block until every requested refresh has run (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"UI pump still busy after {timeout:g} s")
                self._cond.wait(remaining)

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            # Let events that arrive within the interval join this round.
            delay = last + self.min_interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._cond:
                batch = list(self._pending.values())
                self._pending.clear()
                self._busy = True
            try:
                for target in batch:
                    try:
                        target.refresh()
                    except Exception:  # one broken widget must not stop the others
                        log.exception("widget refresh failed")
            finally:
                last = time.monotonic()
                with self._cond:
                    self._busy = False
                    self.batches += 1
                    self._cond.notify_all()


_pump: Optional[UpdatePump] = None
_pump_lock = threading.Lock()


def get_pump() -> UpdatePump:
    """The kernel-wide pump all widgets share."""
    global _pump
    with _pump_lock:
        if _pump is None:
            _pump = UpdatePump()
        return _pump
