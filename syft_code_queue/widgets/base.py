"""What every queue widget shares: validated view state and validated, acknowledged actions.

What the front end shows (a widget's query, a pause, the selected job) is view state: synced
traits (``ViewState``) that the front end sets itself (``model.set``; ``model.save_changes``)
and Python observes. Each is checked by a pydantic type as it arrives; an invalid value (a
buggy or hostile front end) is logged and replaced by the last valid one, which is sent back,
so the front end shows the truth and nothing raises into ipywidgets.

The front end sends each user action as a custom message ``{"kind": ..., "id": ...}``.
It is parsed by the widget's pydantic action models; whatever happens (invalid message,
refused transition, unexpected error) the front end gets exactly one
``{"kind": "ack", "id": ..., "ok": ...}`` back, so a button never stays "busy" forever and
every error is shown where the user clicked. An acknowledgement that does not come within
``ack_timeout`` seconds (a busy or restarted kernel) is shown as an error by the front end.

Every widget also sends the job statuses and how people read them (``statuses``, from
``models.JobStatus``): the front end has no list of its own.
"""

from __future__ import annotations

import copy
import logging
import reprlib
import threading
from datetime import datetime
from typing import Annotated, Any, Literal, Optional, Union

import anywidget
import traitlets
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import InvalidTransitionError, JobNotFoundError, StillArriving, SubmissionError, describe
from ..models import JobStatus, validate_uid
from .assets import css_path

log = logging.getLogger(__name__)

# Errors an action may raise on bad input or a refused transition: shown as they are.
EXPECTED_ERRORS = (
    InvalidTransitionError,
    JobNotFoundError,
    SubmissionError,
    StillArriving,
    ValueError,
    OSError,
)


Uid = Annotated[str, AfterValidator(validate_uid)]
Selection = Union[Literal[""], Uid]  # the job whose detail is open, or "" for none


class ViewState(traitlets.TraitType[Any, Any]):
    """A synced trait of view state, always valid for ``schema`` and held in its JSON form.

    An invalid value is logged and replaced by the trait's last valid value, which is sent to
    the front end again: within ipywidgets' ``set_state`` the trait then does not change, so
    nothing else would tell the front end that its value was refused."""

    def __init__(self, schema: Any, default: Any) -> None:
        self._schema = TypeAdapter(schema)
        super().__init__(default_value=self._schema.dump_python(self._schema.validate_python(default), mode="json"))
        self.tag(sync=True)

    def default(self, obj: Any = None) -> Any:
        return copy.deepcopy(self.default_value)  # never one mutable default shared by widgets

    def validate(self, obj: Any, value: Any) -> Any:
        try:
            return self._schema.dump_python(self._schema.validate_python(value), mode="json")
        except ValidationError as exc:
            last = self.get(obj, type(obj))
            problem = describe(exc, subject=self.name, limit=1)
            shown = reprlib.repr(value)
            log.warning("%s refused %s=%s (%s); it keeps %r", type(obj).__name__, self.name, shown, problem, last)
            obj.send_state(self.name)
            return last


class Action(BaseModel):
    """Base of every front-end → Python message."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=64)


def status_catalog() -> list[dict[str, str]]:
    """Every job status, in the enum's order, with its label ("ran, waiting for the owner's release")."""
    return [{"value": status.value, "label": status.label} for status in JobStatus]


def iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def sentence(text: str, remedy: str = "") -> str:
    """``text`` capitalised and ended with a full stop, the ``remedy`` after a semicolon."""
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + (f"; {remedy}" if remedy else "") + "."


class QueueWidget(anywidget.AnyWidget):
    """An anywidget whose actions are validated by ``_actions`` and always acknowledged
    (view state is not an action: see ``ViewState``)."""

    _css = css_path()
    _actions: TypeAdapter[Any]

    ack_timeout = traitlets.Float(30.0).tag(sync=True)  # seconds the front end waits for an answer
    statuses = traitlets.List(status_catalog()).tag(sync=True)  # [{value, label}] of models.JobStatus

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.RLock()
        self.on_msg(self._receive)

    def close(self) -> None:
        source = self.__dict__.get("source")
        if source is not None:  # absent when __init__ failed half-way, or for the form
            source.detach(self)
        super().close()

    def handle(self, action: Any) -> dict[str, Any]:
        """Carry out one validated action; return extra fields for the acknowledgement
        (``ok: False`` among them for a partly failed one)."""
        raise NotImplementedError

    def _receive(self, _widget: Any, content: Any, _buffers: Any) -> None:
        msg_id = content.get("id") if isinstance(content, dict) else None
        reply: dict[str, Any] = {"kind": "ack", "id": msg_id if isinstance(msg_id, str) else None}
        try:
            action = self._actions.validate_python(content)
        except ValidationError as exc:
            kind = content.get("kind") if isinstance(content, dict) else None
            self.send({**reply, "ok": False, "error": describe(exc, drop_first=kind, limit=1)})
            return
        try:
            result = self.handle(action)
        except EXPECTED_ERRORS as exc:
            self.send({**reply, "ok": False, "error": str(exc) or type(exc).__name__})
        except Exception as exc:
            log.exception("widget action %s failed", type(action).__name__)
            self.send({**reply, "ok": False, "error": f"unexpected error: {exc!r}"})
        else:
            self.send({"ok": True, **result, **reply})  # a result never renames the ack
