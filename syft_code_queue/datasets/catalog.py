"""The published side of datasets, read from any SyftBox root: what an owner offers (ours,
and the datasets syft-dataset 0.1.21 and syft-rds 0.5 made), with its synced mock.

Reading never writes and never follows a link out of a dataset's folder; a document that
does not parse (still syncing, or another tool's newer format) leaves that dataset out of
the listing rather than failing it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Iterator, Optional

import yaml
from pydantic import ValidationError

from ..errors import DatasetNotFoundError
from ..models import DATASET_NAME_PATTERN, DatasetMetadata, FileEntry, validate_dataset_name, validate_email
from ..protocol.layout import DATASET_FILE, DATASET_METADATA_FILES, README_FILE, DatasetLayout
from ..protocol.manifest import VerifiedFiles, folder_entries
from ..syftbox import Workspace, never_synced
from .views import Dataset, DatasetList, Source

log = logging.getLogger(__name__)
MOCK_FILES_KEPT = 10_000  # mock files whose hash a catalog remembers (by identity)


def read_metadata(path: Path) -> Optional[DatasetMetadata]:
    """A ``dataset.yaml``, or None while it is absent or not a whole document."""
    try:
        meta = DatasetMetadata.model_validate(yaml.safe_load(path.read_text()))
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError, yaml.YAMLError, ValidationError, ValueError):
        return None
    return meta if meta.whole else None


def mock_listing(folder: Path, hashes: VerifiedFiles) -> tuple[FileEntry, ...]:
    """The mock files of a folder another tool made: every regular file but the metadata
    (``hashes``: each file is hashed once per version, however often the list is asked for)."""
    return tuple(
        hashes.entry(item.path, rel)
        for rel, item in folder_entries(folder)
        if item.is_file(follow_symlinks=False) and rel not in DATASET_METADATA_FILES and not never_synced(rel)
    )


def folder_registration(folder: Path) -> str:
    """A registration for a dataset whose tool records none: the folder's identity (its
    device and inode), so a folder removed and made again under the name is, as a rule,
    another registration, while files added to it are not."""
    info = os.stat(folder)
    return hashlib.sha256(f"{info.st_dev}:{info.st_ino}".encode()).hexdigest()[:32]


class DatasetCatalog:
    """The datasets published on one SyftBox root, for whoever reads them."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._hashes = VerifiedFiles(MOCK_FILES_KEPT)

    def layout(self, owner: str) -> DatasetLayout:
        return DatasetLayout(self.workspace.datasites, validate_email(owner), self.workspace.private_dir)

    def owners(self) -> list[str]:
        try:
            return sorted(p.name for p in self.workspace.datasites.iterdir() if p.is_dir() and "@" in p.name)
        except FileNotFoundError:
            return []

    def list(self, owner: str) -> DatasetList:
        """Every dataset ``owner`` publishes that has synced here, by name; a name published
        by more than one tool is shown once: ours first, then syft-dataset's, then syft-rds's."""
        found: dict[str, Dataset] = {}
        for dataset in self._all(owner):
            found.setdefault(dataset.name, dataset)
        return DatasetList(found[name] for name in sorted(found))

    def get(self, owner: str, name: str) -> Dataset:
        validate_dataset_name(name)
        for dataset in self._all(owner, only=name):
            return dataset
        raise DatasetNotFoundError(
            f"{owner} publishes no dataset {name!r} that has synced here; list their datasets with "
            f"list_datasets({owner!r}), or wait for SyftBox to sync"
        )

    def _all(self, owner: str, only: Optional[str] = None) -> Iterator[Dataset]:
        layout = self.layout(owner)
        v0, v1 = layout.syft_dataset_public
        for folder in _folders(v1, only):
            meta = read_metadata(folder / DATASET_FILE)
            if meta is not None:
                yield self._view(owner, folder, meta, "syft-code-queue" if meta.ours else "syft-dataset")
        for folder in _folders(v0, only):
            if folder.name != "v1" and (meta := read_metadata(folder / DATASET_FILE)) is not None:
                yield self._view(owner, folder, meta, "syft-dataset")
        for folder in _folders(layout.syft_rds_public, only):
            meta = read_metadata(folder / DATASET_FILE)
            if meta is None:  # syft-rds keeps its metadata elsewhere: the folder is the dataset
                yield Dataset(
                    name=folder.name,
                    owner=owner,
                    mock_path=folder,
                    files=mock_listing(folder, self._hashes),
                    registration=folder_registration(folder),
                    source="syft-rds",
                )
            else:
                yield self._view(owner, folder, meta, "syft-rds")

    def _view(self, owner: str, folder: Path, meta: DatasetMetadata, source: Source) -> Dataset:
        readme = folder / README_FILE
        try:
            readme_text: Optional[str] = readme.read_text(errors="replace") if readme.is_file() else None
        except OSError:
            readme_text = None
        return Dataset(
            name=folder.name,
            owner=owner,
            summary=meta.summary or "",
            tags=tuple(meta.tags),
            readme=readme_text,
            mock_note=meta.mock_note or "",
            mock_path=folder,
            files=tuple(meta.mock_files) if meta.mock_files is not None else mock_listing(folder, self._hashes),
            registration=meta.uid,
            source=source,
            created_at=meta.created_at,
            updated_at=meta.updated_at,
        )


def _folders(parent: Path, only: Optional[str]) -> list[Path]:
    """Dataset folders under ``parent`` (real folders with a valid name; no links)."""
    if only is not None:
        folder = parent / only
        return [folder] if folder.is_dir() and not folder.is_symlink() else []
    try:
        entries = sorted(os.scandir(parent), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        Path(entry.path)
        for entry in entries
        if entry.is_dir(follow_symlinks=False) and DATASET_NAME_PATTERN.match(entry.name)
    ]
