"""What the API returns about datasets: ``Dataset`` (one dataset as this identity sees it)
and ``DatasetList`` (a list that is a table in a notebook and has ``.df``). Nothing here
reads a file: the catalog and the registry build them."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict

from ..models import FileEntry

Source = Literal["syft-code-queue", "syft-dataset", "syft-rds"]


class Dataset(BaseModel):
    """One dataset. Everyone who may see it sees the public part (metadata and the synced
    mock); the owner's own view adds where the private part is and how big it is."""

    model_config = ConfigDict(frozen=True)

    name: str
    owner: str
    summary: str = ""
    tags: tuple[str, ...] = ()
    readme: Optional[str] = None
    mock_note: str = ""
    mock_path: Path  # the mock's folder on this root (synced from the owner)
    files: tuple[FileEntry, ...] = ()  # the mock's files; their bytes pin what a mock run reads
    registration: str
    source: Source = "syft-code-queue"
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    # the owner's view only
    private_path: Optional[Path] = None
    private_size: Optional[int] = None
    users: Optional[tuple[str, ...]] = None

    @property
    def mock_size(self) -> int:
        return sum(entry.size for entry in self.files)

    def summary_row(self) -> dict[str, Any]:
        """A flat row for tables, DataFrames and the CLI."""
        row: dict[str, Any] = {
            "name": self.name,
            "owner": self.owner,
            "summary": self.summary,
            "tags": list(self.tags),
            "mock_files": len(self.files),
            "mock_size": self.mock_size,
            "mock_note": self.mock_note,
            "source": self.source,
        }
        if self.private_path is not None:
            row |= {"private_size": self.private_size, "users": list(self.users or ())}
        return row

    def _repr_html_(self) -> str:
        return datasets_to_html([self])

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}: {self.summary}"


class DatasetList(list[Dataset]):
    """Datasets, a table in a notebook; ``.df`` is a pandas DataFrame of the same rows."""

    @property
    def df(self) -> Any:
        import pandas as pd

        return pd.DataFrame([d.summary_row() for d in self])

    def _repr_html_(self) -> str:
        return datasets_to_html(self)


def datasets_to_html(datasets: list[Dataset]) -> str:
    """A static table; every value is escaped, so names and summaries cannot inject markup."""
    if not datasets:
        return "<p>no datasets</p>"
    columns = list(datasets[0].summary_row())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for dataset in datasets:
        row = dataset.summary_row()
        cells = "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns)
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="scq-datasets"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
