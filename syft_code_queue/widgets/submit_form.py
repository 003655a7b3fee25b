"""``SubmitForm``: the requester fills in a form instead of calling ``submit_code``.

The form's fields are validated by the API's own ``SubmitRequest`` model, so the form
accepts exactly what ``client.submit_code`` accepts; errors come back per field.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Optional

import traitlets
from pydantic import Field, ValidationError, TypeAdapter

from ..client import CodeQueueClient
from ..models import Job, SubmitRequest
from .assets import esm
from .base import Action, QueueWidget
from .sources import existing_source


class SubmitAction(Action):
    """The form as typed; tags are one comma-separated string."""

    kind: Literal["submit"]
    target_email: str = Field(max_length=320)
    code_folder: str = Field(max_length=4096)
    name: str = Field(max_length=1000)
    description: str = Field(default="", max_length=20_000)
    tags: str = Field(default="", max_length=4000)
    auto_approval: bool = False


def field_errors(exc: ValidationError) -> dict[str, str]:
    """``{field: message}`` for inline display, first message per field."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "form"
        errors.setdefault(field, str(err["msg"]).replace("Value error, ", ""))
    return errors


class SubmitForm(QueueWidget):
    """Submit a code folder (with ``run.sh``) to a data owner; shows the new job's uid."""

    _esm = esm("submit_form.js")
    _actions = TypeAdapter(SubmitAction)

    requester = traitlets.Unicode("").tag(sync=True)
    defaults = traitlets.Dict().tag(sync=True)
    submitted = traitlets.List().tag(sync=True)  # jobs submitted from this form, newest first

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

    def handle(self, action: Any) -> dict[str, Any]:
        errors: dict[str, str] = {}
        if not action.code_folder.strip():
            errors["code_folder"] = "the path of a folder holding run.sh is required"
        try:
            params = SubmitRequest(
                target_email=action.target_email,
                code_folder=action.code_folder.strip(),
                name=action.name,
                description=action.description,
                tags=action.tags,
                auto_approval=action.auto_approval,
            )
        except ValidationError as exc:
            errors = {**field_errors(exc), **errors}
        if errors:
            return {"ok": False, "error": "Please fix the highlighted fields.", "errors": errors}
        try:
            job = self.client.submit_code(
                params.target_email, params.code_folder, params.name,
                description=params.description, tags=params.tags, auto_approval=params.auto_approval,
            )
        except (FileNotFoundError, NotADirectoryError) as exc:
            return {"ok": False, "error": "Please fix the highlighted fields.", "errors": {"code_folder": str(exc)}}
        self.job = job
        entry = {"uid": job.uid, "short_uid": job.short_uid, "name": job.name, "target": job.target_email}
        with self._lock:
            self.submitted = [entry, *self.submitted][:10]
        source = existing_source(self.client)
        if source is not None:
            source.poll_now()  # a JobTable of this client shows the new job at once
        return {"message": f"Submitted {job.name!r} to {job.target_email}", "job": entry}
