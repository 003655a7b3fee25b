"""The notebooks in notebooks/ run top to bottom in a real kernel (nbclient)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from helpers import OWNER
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(name: str, cwd: Path, **env: str) -> Any:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    kernel_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **env}
    NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute(
        env=kernel_env
    )
    return notebook


def outputs(notebook: Any, kind: str) -> list[Any]:
    found = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if kind in out.get("data", {}):
                found.append(out["data"][kind])
            if kind == "text/plain" and out.get("output_type") == "stream":
                found.append(out["text"])
    return found


@pytest.mark.slow
def test_demo_notebook_runs_both_roles(tmp_path: Path) -> None:
    notebook = execute("demo.ipynb", tmp_path)
    views = outputs(notebook, WIDGET_VIEW)
    assert len(views) == 4, "form, panel, owner's table and requester's table"
    assert any("-> 5050" in text for text in outputs(notebook, "text/plain"))
    assert any("Nightly report" in html for html in outputs(notebook, "text/html"))


@pytest.mark.slow
def test_requester_then_owner_notebooks_on_one_root(tmp_path: Path) -> None:
    root = tmp_path / "syftbox"
    requester = execute("requester.ipynb", tmp_path, SYFTBOX_EMAIL="alice@example.com", SYFTBOX_DATA_DIR=str(root))
    assert len(outputs(requester, WIDGET_VIEW)) == 2
    owner = execute("owner.ipynb", tmp_path, SYFTBOX_EMAIL=OWNER, SYFTBOX_DATA_DIR=str(root))
    assert len(outputs(owner, WIDGET_VIEW)) == 2
    final = outputs(owner, "text/html")[-1]
    assert "Line count" in final and "scq-status-completed" in final
