"""Drive widgets without a browser: a comm that records what Python sends, and ways to
play the front end's part (custom messages in, acknowledgements out; view state set)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Optional

from comm.base_comm import BaseComm

from syft_code_queue.widgets.pump import get_pump


class RecordingComm(BaseComm):
    """What would go to the browser: every comm message, as sent."""

    log: list[dict[str, Any]] = []

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        RecordingComm.log.append({"msg_type": msg_type, "comm_id": self.comm_id, "data": data})


def sent_to(widget: Any) -> list[dict[str, Any]]:
    return [m["data"] for m in RecordingComm.log if m["comm_id"] == widget.comm.comm_id]


def state_updates(widget: Any) -> list[dict[str, Any]]:
    return [d["state"] for d in sent_to(widget) if d.get("method") == "update"]


def update_bytes(widget: Any) -> list[int]:
    """Size of each state update as the browser receives it (JSON)."""
    return [len(json.dumps(d)) for d in sent_to(widget) if d.get("method") == "update"]


def act(widget: Any, kind: str, **payload: Any) -> dict[str, Any]:
    """Send one front-end action and return its acknowledgement."""
    msg_id = f"test-{time.monotonic_ns()}"
    widget._receive(widget, {"kind": kind, "id": msg_id, **payload}, [])
    acks = [d["content"] for d in sent_to(widget) if d.get("method") == "custom" and d["content"].get("id") == msg_id]
    assert len(acks) == 1, f"expected exactly one acknowledgement, got {acks}"
    return acks[0]


class _Caught(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def front_end_sets(widget: Any, **state: Any) -> None:
    """Play the front end's ``model.set(key, value); model.save_changes()``: the comm message
    ipywidgets receives, handled as it is in a kernel. ipywidgets catches and only logs what
    raises while it applies the state; here that fails the test."""
    caught = _Caught()
    widget.log.addHandler(caught)
    try:
        update = {"method": "update", "state": state, "buffer_paths": []}
        widget.comm.handle_msg({"content": {"data": update}, "buffers": []})
    finally:
        widget.log.removeHandler(caught)
    assert not caught.records, f"setting {sorted(state)} raised into ipywidgets: {caught.records[0].getMessage()}"


def wait_for(condition: Callable[[], Any], timeout: float = 30, message: Optional[str] = None) -> Any:
    """Poll ``condition`` (letting the UI pump run) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        get_pump().flush(timeout)
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met in time")
        time.sleep(0.05)
