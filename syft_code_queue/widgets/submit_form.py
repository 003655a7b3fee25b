"""``SubmitForm``: the requester fills in a form instead of calling ``submit_code``.

The form's fields are validated by the API's own ``SubmitRequest`` model, so the form
accepts exactly what ``client.submit_code`` accepts; errors come back per field. Its
release notes (the context and disclosure controls applied) go to the owner with the
outputs, for the output review.

While the owner's email is typed (the synced ``target``), the form shows whether that
owner's queue server is there (``target_presence``, kept current by the client's shared
source), and before it sends a job to a datasite with no queue it asks to confirm.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Optional

import traitlets
from pydantic import Field, TypeAdapter, ValidationError

from ..client import CodeQueueClient
from ..models import EMAIL_PATTERN, Job, SubmitRequest
from .assets import esm
from .base import Action, QueueWidget, iso
from .sources import source_for


class SubmitAction(Action):
    """The form as typed; tags are one comma-separated string."""

    kind: Literal["submit"]
    target_email: str = Field(max_length=320)
    code_folder: str = Field(max_length=4096)
    name: str = Field(max_length=1000)
    description: str = Field(default="", max_length=20_000)
    tags: str = Field(default="", max_length=4000)
    release_notes: str = Field(default="", max_length=20_000)
    auto_approval: bool = False
    confirmed: bool = False  # the requester saw that the datasite has no queue and sends anyway


MAX_TAG = 64  # what a job's request accepts (models.JobRequest)
FORM_FIELDS = ("target_email", "code_folder", "name", "description", "tags", "release_notes", "auto_approval")


def _sentence(err: Any) -> str:
    """One pydantic error as a sentence that says what to do, worded alike for every field."""
    kind, ctx = err.get("type"), err.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "This is required; please fill it in."
    if kind == "string_too_long":
        return f"This is longer than {ctx.get('max_length')} characters; please shorten it."
    if kind == "too_long":
        return f"At most {ctx.get('max_length')} are allowed; please remove some."
    return sentence(str(err["msg"]).removeprefix("Value error, "))


def sentence(text: str, remedy: str = "") -> str:
    """``text`` capitalised and ended with a full stop, the ``remedy`` after a semicolon."""
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + (f"; {remedy}" if remedy else "") + "."


def field_errors(exc: ValidationError) -> dict[str, str]:
    """``{field: sentence}`` for inline display, the first problem per field; a problem with
    no field of the form is keyed ``form``."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = next((str(part) for part in err["loc"] if str(part) in FORM_FIELDS), "form")
        errors.setdefault(field, _sentence(err))
    return errors


def tag_error(tags: list[str]) -> Optional[str]:
    """Why a list of tags cannot be sent, if it cannot."""
    seen: set[str] = set()
    for tag in tags:
        if len(tag) > MAX_TAG:
            return f"Tag {tag[:20]!r}… is longer than {MAX_TAG} characters; please shorten it."
        if tag in seen:
            return f"Tag {tag!r} is listed twice; please list each tag once."
        seen.add(tag)
    return None


class SubmitForm(QueueWidget):
    """Submit a code folder (with ``run.sh``) to a data owner; shows the new job's uid."""

    _esm = esm("submit_form.js")
    _actions = TypeAdapter(SubmitAction)

    requester = traitlets.Unicode("").tag(sync=True)
    defaults = traitlets.Dict().tag(sync=True)
    submitted = traitlets.List().tag(sync=True)  # jobs submitted from this form, newest first
    target = traitlets.Unicode("").tag(sync=True)  # the owner's email as typed (set by the front end)
    target_presence = traitlets.Dict().tag(sync=True)  # {owner, state, last_seen} of ``target``

    def __init__(
        self,
        client: CodeQueueClient,
        target_email: str = "",
        code_folder: Optional[os.PathLike[str] | str] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            requester=client.email,
            defaults={"target_email": target_email, "code_folder": str(code_folder or "")},
            **kwargs,
        )
        self.client = client
        self.job: Optional[Job] = None
        self._tracked = ""
        self.source = source_for(client)
        self.source.attach(self)
        self.observe(self._follow_target, names="target")
        self.target = target_email

    def source_changed(self, changed: set[str]) -> None:
        self._show_presence()

    def _follow_target(self, change: Any) -> None:
        owner = str(change["new"]).strip()
        if self._tracked:
            self.source.untrack(self._tracked)
            self._tracked = ""
        if EMAIL_PATTERN.match(owner):
            self.source.track(owner)
            self._tracked = owner
        self._show_presence()

    def _show_presence(self) -> None:
        status = self.source.presence().get(self._tracked) if self._tracked else None
        with self._lock:
            self.target_presence = (
                {"owner": status.owner, "state": status.state, "last_seen": iso(status.last_seen)} if status else {}
            )

    def close(self) -> None:
        if self.__dict__.get("_tracked"):
            self.source.untrack(self._tracked)
            self._tracked = ""
        super().close()

    def handle(self, action: Any) -> dict[str, Any]:
        errors: dict[str, str] = {}
        if not action.code_folder.strip():
            errors["code_folder"] = "The path of a folder holding run.sh is required; please fill it in."
        try:
            params = SubmitRequest(
                target_email=action.target_email,
                code_folder=action.code_folder.strip(),
                name=action.name,
                description=action.description,
                tags=action.tags,
                auto_approval=action.auto_approval,
                release_notes=action.release_notes,
            )
        except ValidationError as exc:
            errors = {**field_errors(exc), **errors}
        else:
            problem = tag_error(params.tags)
            if problem:
                errors["tags"] = problem
        if errors:
            return {"ok": False, "error": "Please fix the highlighted fields.", "errors": errors}
        folder_ok = (params.code_folder.expanduser() / "run.sh").is_file()  # else the folder's error comes first
        if folder_ok and not action.confirmed and self.client.queue_status(params.target_email).state == "no_queue":
            warning = (
                f"There is no queue at {params.target_email}'s datasite (or it has not synced yet): a job "
                "sent there waits until its owner starts a queue server. Check the email, or submit anyway."
            )
            return {"ok": False, "needs_confirmation": True, "warning": warning, "error": warning}
        try:
            job = self.client.submit_code(
                params.target_email,
                params.code_folder,
                params.name,
                description=params.description,
                tags=params.tags,
                auto_approval=params.auto_approval,
                release_notes=params.release_notes,
            )
        except (FileNotFoundError, NotADirectoryError) as exc:
            return {
                "ok": False,
                "error": "Please fix the highlighted fields.",
                "errors": {"code_folder": sentence(str(exc), "please check the path")},
            }
        except ValidationError as exc:
            return {"ok": False, "error": "Please fix the highlighted fields.", "errors": field_errors(exc)}
        self.job = job
        entry = {"uid": job.uid, "short_uid": job.short_uid, "name": job.name, "target": job.target_email}
        with self._lock:
            self.submitted = [entry, *self.submitted][:10]
        self.source.poll_now()  # a JobTable of this client shows the new job at once
        return {"message": f"Submitted {job.name!r} to {job.target_email}", "job": entry}
