"""The SubmitForm's "Test on mock": the code folder run here on the synced mocks of the
picked datasets (``client.run_local``, the owner's runner, sandbox, paths and variables) in
a thread of its own, so the notebook stays usable while it runs, and its result as the form
shows it: status, exit code, the log's tail, and each output file with a small preview.

The outputs stay in the requester's private folder, which SyftBox never syncs; the form
shows where. A run that outlasts the form's ``mock_timeout`` is stopped by the runner and
shown as failed with the reason.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field

from ..client import CodeQueueClient
from ..datasets import MockRunResult
from ..errors import DatasetNotFoundError, MockNotSynced, QueueError
from ..runner import SafeCodeRunner
from .base import Action, sentence
from .outputs import file_preview

log = logging.getLogger(__name__)

FILES_SHOWN = 20  # output files listed
PREVIEWS = 6  # of which the first are previewed
TEXT_BYTES = 4096
CSV_ROWS = 10
IMAGE_BYTES = 512 * 1024


class MockRunAction(Action):
    """Test the form's code folder on the mocks of the picked datasets."""

    kind: Literal["test_mock"]
    target_email: str = Field(max_length=320)
    code_folder: str = Field(max_length=4096)
    datasets: list[str] = Field(default_factory=list, max_length=32)


def output_view(output_dir: Path, path: str, preview: bool) -> dict[str, Any]:
    """One output file: its name and size, and (``preview``) a small preview. The job wrote
    the folder, so only regular files inside it are opened."""
    file = output_dir / path
    try:
        info = os.lstat(file)
    except OSError:
        return {"path": path, "size": 0, "type": "binary", "note": "Gone from the outputs folder."}
    if not stat.S_ISREG(info.st_mode) or not file.resolve().is_relative_to(output_dir.resolve()):
        return {"path": path, "size": 0, "type": "binary", "note": "Not a regular file; not shown."}
    if not preview:
        return {"path": path, "size": info.st_size, "type": "none"}
    shown = file_preview(path, info.st_size, file, text_bytes=TEXT_BYTES, rows=CSV_ROWS, image_bytes=IMAGE_BYTES)
    if shown["type"] == "binary":
        shown["note"] = "Not previewed; open it in the outputs folder."
    return shown


def result_view(result: MockRunResult, seconds: float) -> dict[str, Any]:
    """A mock run's result as the form shows it, and the panel its owner's run on the mocks."""
    listed = result.outputs[:FILES_SHOWN]
    return {
        "status": result.status,
        "exit_code": result.exit_code,
        "error": result.error,
        "log_tail": result.log_tail,
        "log_lines": len(result.logs.splitlines()),
        "output_dir": str(result.output_dir),
        "outputs": [output_view(result.output_dir, path, i < PREVIEWS) for i, path in enumerate(listed)],
        "more_outputs": len(result.outputs) - len(listed),
        "datasets": list(result.datasets),
        "seconds": round(seconds, 2),
    }


def run_in_background(
    client: CodeQueueClient, action: MockRunAction, timeout: float, done: Callable[[dict[str, Any]], None]
) -> None:
    """Start the mock run; ``done(view)`` gets ``{"state": "done", ...result_view}`` or
    ``{"state": "error", "error": ..., "errors": {field: sentence}}``."""

    def run() -> None:
        started = time.monotonic()
        view: dict[str, Any]
        try:
            result = client.run_local(
                action.code_folder.strip(),
                target_email=action.target_email.strip(),
                datasets=action.datasets,
                name="test on mock",
                runner=SafeCodeRunner(timeout=timeout),
            )
        except (FileNotFoundError, NotADirectoryError) as exc:
            view = {"state": "error", "errors": {"code_folder": sentence(str(exc), "please check the path")}}
        except (MockNotSynced, DatasetNotFoundError) as exc:
            view = {"state": "error", "errors": {"datasets": sentence(str(exc))}}
        except (QueueError, ValueError, OSError) as exc:
            view = {"state": "error", "error": sentence(str(exc))}
        except Exception as exc:
            log.exception("a mock run from the form failed")
            view = {"state": "error", "error": f"Unexpected error: {exc!r}."}
        else:
            view = {"state": "done", **result_view(result, time.monotonic() - started)}
        if view["state"] == "error":
            view.setdefault("error", "Please fix the highlighted fields.")
        done(view)

    threading.Thread(target=run, name="scq-mock-run", daemon=True).start()
