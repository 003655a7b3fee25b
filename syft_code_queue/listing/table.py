"""Tabular views of jobs: pandas DataFrames and escaped HTML for places without a kernel."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # at run time models imports this module (Job's HTML), not the reverse
    from ..models import Job

COLUMNS = [
    "uid",
    "name",
    "status",
    "requester_email",
    "target_email",
    "tags",
    "created_at",
    "started_at",
    "finished_at",
    "duration",
    "exit_code",
    "error",
]


def jobs_to_dataframe(jobs: Iterable[Job]) -> Any:
    import pandas as pd

    return pd.DataFrame([job.summary() for job in jobs], columns=COLUMNS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, float):
        value = f"{value:.1f}s"
    elif hasattr(value, "isoformat"):
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    return html.escape(str(value), quote=True)


def jobs_to_html(jobs: Iterable[Job]) -> str:
    """A static table; every value is escaped, so submitted names cannot inject markup."""
    shown = ["name", "uid", "status", "requester_email", "target_email", "created_at", "duration", "tags", "error"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown)
    rows = []
    for job in jobs:
        row = job.summary()
        row["uid"] = job.short_uid
        cells = "".join(
            f'<td class="scq-status-{_cell(row[c])}">{_cell(job.status.label)}</td>'
            if c == "status"
            else f"<td>{_cell(row[c])}</td>"
            for c in shown
        )
        rows.append(f"<tr>{cells}</tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(shown)}" class="scq-jobs-empty">No jobs</td></tr>')
    return f'<table class="scq-jobs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class JobList(list):
    """A list of jobs that renders as an escaped table in notebooks."""

    def _repr_html_(self) -> str:
        return jobs_to_html(self)

    @property
    def df(self) -> Any:
        return jobs_to_dataframe(self)
