"""``SubmitForm``: the requester fills in a form instead of calling ``submit_code``.

The form's fields are validated by the API's own ``SubmitRequest`` model, so the form
accepts exactly what ``client.submit_code`` accepts; errors come back per field. Its
release notes (the context and disclosure controls applied) go to the owner with the
outputs, for the output review.

While the owner's email is typed (the synced ``target``), the form shows whether that
owner's queue server is there (``target_presence``, kept current by the client's shared
source), and before it sends a job to a datasite with no queue it asks to confirm.

Under it the form lists that owner's datasets (with their summaries and whether each mock
has synced here) and the runtimes their queue offers (``owner_offers.py``), looked at again
every few seconds while a mock syncs. "Test on mock" runs the code folder here on the picked
datasets' mocks before anything is sent (``mock_run.py``), in the background: the latest
run's state and result are the synced ``mock_run``.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import traitlets
from pydantic import Field, TypeAdapter, ValidationError

from ..client import CodeQueueClient
from ..models import DEFAULT_RUNTIME, EMAIL_PATTERN, Job, SubmitRequest, validate_dataset_names, validate_email
from ..protocol.manifest import VerifiedFiles
from .assets import esm
from .base import Action, QueueWidget, iso, sentence
from .mock_run import MockRunAction, run_in_background
from .owner_offers import VERIFIED_FILES, datasets_view, mock_pending, runtimes_view
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
    datasets: list[str] = Field(default_factory=list, max_length=32)
    runtime: Optional[str] = Field(default=None, max_length=64)  # None or "default": the owner's own environment
    confirmed: bool = False  # the requester saw that the datasite has no queue and sends anyway


FormAction = Annotated[Union[SubmitAction, MockRunAction], Field(discriminator="kind")]

MAX_TAG = 64  # what a job's request accepts (models.JobRequest)
FORM_FIELDS = (
    "target_email",
    "code_folder",
    "name",
    "description",
    "tags",
    "release_notes",
    "auto_approval",
    "datasets",
    "runtime",
)
OFFERS_SECONDS = 3.0  # how often the owner's datasets and runtimes are looked at again
MOCK_TIMEOUT = 300.0  # seconds a test on the mock may run


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
    _actions = TypeAdapter(FormAction)

    requester = traitlets.Unicode("").tag(sync=True)
    defaults = traitlets.Dict().tag(sync=True)
    submitted = traitlets.List().tag(sync=True)  # jobs submitted from this form, newest first
    target = traitlets.Unicode("").tag(sync=True)  # the owner's email as typed (set by the front end)
    target_presence = traitlets.Dict().tag(sync=True)  # {owner, state, last_seen} of ``target``
    datasets = traitlets.Dict().tag(sync=True)  # ``target``'s datasets: owner_offers.datasets_view
    runtimes = traitlets.Dict().tag(sync=True)  # ``target``'s runtimes: owner_offers.runtimes_view
    mock_run = traitlets.Dict().tag(sync=True)  # the latest test on the mock: {id, state, ...}
    mock_timeout = traitlets.Float(MOCK_TIMEOUT).tag(sync=True)

    def __init__(
        self,
        client: CodeQueueClient,
        target_email: str = "",
        code_folder: Optional[os.PathLike[str] | str] = None,
        mock_timeout: float = MOCK_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            requester=client.email,
            defaults={"target_email": target_email, "code_folder": str(code_folder or "")},
            mock_timeout=mock_timeout,
            **kwargs,
        )
        self.client = client
        self.job: Optional[Job] = None
        self._tracked = ""
        self._verified = VerifiedFiles(VERIFIED_FILES)
        self._offers_at = 0.0
        self.source = source_for(client)
        self.source.attach(self)
        self.observe(self._follow_target, names="target")
        self.target = target_email

    def source_changed(self, changed: set[str]) -> None:
        self._show_presence()
        if time.monotonic() - self._offers_at >= OFFERS_SECONDS:
            self._show_offers()

    def _follow_target(self, change: Any) -> None:
        owner = str(change["new"]).strip()
        if self._tracked:
            self.source.untrack(self._tracked)
            self._tracked = ""
        if EMAIL_PATTERN.match(owner):
            self.source.track(owner)
            self._tracked = owner
        self._show_presence()
        self._show_offers()

    def _show_presence(self) -> None:
        status = self.source.presence().get(self._tracked) if self._tracked else None
        with self._lock:
            self.target_presence = (
                {"owner": status.owner, "state": status.state, "last_seen": iso(status.last_seen)} if status else {}
            )

    def _show_offers(self) -> None:
        """The tracked owner's datasets and runtimes, read afresh (unchanged ones are not sent again)."""
        owner = self._tracked
        datasets = datasets_view(self.client, owner, self._verified)
        runtimes = runtimes_view(self.client, owner)
        with self._lock:
            self._offers_at = time.monotonic()
            if owner == self._tracked:  # not a slower read of the owner typed before
                self.datasets, self.runtimes = datasets, runtimes

    def _dataset_error(self, owner: str, names: list[str], mock: bool) -> Optional[str]:
        """Why the picked datasets cannot be sent (``mock``: tested on their mocks), if they cannot."""
        try:
            validate_dataset_names(names)
        except ValueError as exc:
            return sentence(str(exc))
        listed = {dataset.name: dataset for dataset in self.client.list_datasets(owner)}
        if not names:
            if not mock:
                return None
            if listed:
                return "Pick the datasets your code reads; the test runs on their mocks."
            return f"{owner} has published no dataset you may use, so there is no mock to test on; submit as it is."
        unknown = [name for name in names if name not in listed]
        if unknown:
            return f"{owner} publishes no dataset {unknown[0]!r} that has synced here; pick one from the list."
        for name in names if mock else ():
            pending = mock_pending(listed[name], self._verified)
            if pending:
                return (
                    f"The mock of {name!r} has not synced here yet ({pending} of {len(listed[name].files)} files "
                    "still arriving); wait for SyftBox and test again."
                )
        return None

    def _runtime_error(self, owner: str, runtime: Optional[str]) -> Optional[str]:
        offered = [r.name for r in self.client.list_runtimes(owner)]
        if runtime is None or not offered or runtime in offered:
            return None
        return f"{owner} no longer offers the runtime {runtime!r}; pick one of: {', '.join(offered)}."

    def _test_on_mock(self, action: MockRunAction) -> dict[str, Any]:
        """Check what the test needs, then start it; its result arrives in ``mock_run``."""
        errors: dict[str, str] = {}
        owner = ""
        try:
            owner = validate_email(action.target_email)
        except ValueError as exc:
            errors["target_email"] = sentence(str(exc))
        if not action.code_folder.strip():
            errors["code_folder"] = "The path of a folder holding run.sh is required; please fill it in."
        problem = self._dataset_error(owner, action.datasets, mock=True) if owner else None
        if problem:
            errors["datasets"] = problem
        if errors:
            return {"ok": False, "error": "Please fix the highlighted fields.", "errors": errors}
        run_id = uuid.uuid4().hex[:12]
        with self._lock:
            if self.mock_run.get("state") == "running":
                return {"ok": False, "error": "A test on the mock is still running; wait for its result."}
            self.mock_run = {
                "id": run_id,
                "state": "running",
                "target_email": owner,
                "code_folder": action.code_folder.strip(),
                "datasets": action.datasets,
            }
        run_in_background(self.client, action, self.mock_timeout, lambda view: self._mock_done(run_id, view))
        return {"message": f"Testing on the mock of {', '.join(action.datasets)}…", "run": run_id}

    def _mock_done(self, run_id: str, view: dict[str, Any]) -> None:
        with self._lock:
            if self.comm is not None and self.mock_run.get("id") == run_id:
                self.mock_run = {**self.mock_run, **view}

    def close(self) -> None:
        if self.__dict__.get("_tracked"):
            self.source.untrack(self._tracked)
            self._tracked = ""
        super().close()

    def handle(self, action: Any) -> dict[str, Any]:
        if isinstance(action, MockRunAction):
            return self._test_on_mock(action)
        errors: dict[str, str] = {}
        runtime = None if action.runtime in (None, "", DEFAULT_RUNTIME) else action.runtime
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
                datasets=action.datasets,
                runtime=runtime,
            )
        except ValidationError as exc:
            errors = {**field_errors(exc), **errors}
        else:
            problem = tag_error(params.tags)
            if problem:
                errors["tags"] = problem
            for field, problem in (
                ("datasets", self._dataset_error(params.target_email, params.datasets, mock=False)),
                ("runtime", self._runtime_error(params.target_email, params.runtime)),
            ):
                if problem:
                    errors[field] = problem
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
                datasets=params.datasets,
                runtime=params.runtime,
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
        entry = {
            "uid": job.uid,
            "short_uid": job.short_uid,
            "name": job.name,
            "target": job.target_email,
            "datasets": job.datasets,
        }
        with self._lock:
            self.submitted = [entry, *self.submitted][:10]
        self.source.poll_now()  # a JobTable of this client shows the new job at once
        return {"message": f"Submitted {job.name!r} to {job.target_email}", "job": entry}
