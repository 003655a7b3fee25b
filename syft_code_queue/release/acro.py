"""Verdicts from ACRO (the SACRO toolkit, PyPI ``acro``): a ``results.json`` that ACRO's
``finalise`` wrote lists each output it checked, the files that hold it, its status and its
disclosure-control evidence. Each becomes a finding on those files.

ACRO says ``pass``, ``fail`` or ``review``. A failed output for which the researcher asked for
an exception needs a person (``review``); without one it fails.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from .policy import Finding

RESULTS_FILE = "results.json"
ACRO_STATUSES = {"pass": "pass", "review": "review", "fail": "fail"}


def acro_findings(path: str, file: Path) -> Optional[dict[str, list[Finding]]]:
    """Findings per output path (relative to the results) from ACRO's ``results.json`` at
    ``path``; None when the file is not ACRO's."""
    if PurePosixPath(path).name != RESULTS_FILE:
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    results = document.get("results") if isinstance(document, dict) else None
    tool = document.get("tool") if isinstance(document, dict) else None
    if not isinstance(results, dict) or not (isinstance(tool, dict) and tool.get("name") == "ACRO"):
        return None
    folder = PurePosixPath(path).parent
    found: dict[str, list[Finding]] = {}
    for uid, output in results.items():
        if not isinstance(output, dict):
            continue
        finding = _finding(str(uid), output)
        for item in output.get("files") or ():
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name:
                found.setdefault(str(folder / name) if str(folder) != "." else name, []).append(finding)
    return found


def _finding(uid: str, output: dict[str, Any]) -> Finding:
    status = str(output.get("status", "")).lower()
    summary = "; ".join(line.strip() for line in str(output.get("summary", "")).splitlines() if line.strip())
    exception = str(output.get("exception") or "").strip()
    comments = "; ".join(str(c) for c in output.get("comments") or ())
    message = f"ACRO {uid}: {status or 'no status'}"
    if summary and summary != status:
        message += f" ({summary})"
    if comments:
        message += f"; comments: {comments}"
    if exception:
        message += f"; exception requested: {exception}"
    if status == "fail" and exception:
        return Finding("review", message)
    return Finding(ACRO_STATUSES.get(status, "review"), message)  # type: ignore[arg-type]
