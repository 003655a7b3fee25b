"""The owner's datasets: the registry of pointers to private folders (owner-private, never
synced) and the public part each one publishes (``dataset.yaml``, README, the mock, both
permission files) under ``public/syft_datasets/v1/<name>/``.

The private part never moves and is never copied: it stays where the owner keeps it, which
must be outside the SyftBox folder (SyftBox uploads everything under ``datasites/``,
whatever the ACL says). What a job may read is decided here: ``pins`` at intake (the
dataset exists and the requester is one of its users), ``resolve`` right before the run
(still the registration that was approved).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import yaml
from pydantic import ValidationError

from ..errors import DatasetError, DatasetNotFoundError, UnsafeFolderError, describe
from ..models import (
    DATASET_GENERATOR,
    AddDataset,
    DatasetMetadata,
    DatasetPin,
    DatasetRecord,
    FileEntry,
    manifest_digest,
    utcnow,
    validate_dataset_name,
)
from ..protocol.layout import DATASET_METADATA_FILES, DatasetLayout
from ..protocol.manifest import build_manifest, folder_entries
from ..protocol.permissions import (
    PERMISSION_FILE,
    dataset_permissions_yaml,
    legacy_dataset_permissions_yaml,
)
from ..syftbox import Workspace, atomic_write, atomic_write_json, write_if_changed
from .catalog import DatasetCatalog, folder_registration, read_metadata
from .views import Dataset, DatasetList

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike[str]]


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


class DatasetRegistry:
    """The datasets of the workspace's identity, as their owner."""

    def __init__(self, workspace: Workspace, max_mock_size: int = 100 * 1024 * 1024) -> None:
        self.workspace = workspace
        self.max_mock_size = max_mock_size
        self.catalog = DatasetCatalog(workspace)
        self.layout: DatasetLayout = self.catalog.layout(workspace.email)

    @property
    def owner(self) -> str:
        return self.workspace.email

    # -- the owner's actions ----------------------------------------------------------
    def add(self, name: str, private_path: PathLike, mock_path: Optional[PathLike] = None, **fields: Any) -> Dataset:
        """Register ``private_path`` as dataset ``name`` and publish its metadata and mock."""
        spec = self._spec(name=name, private_path=private_path, mock_path=mock_path, **fields)
        with self._locked():
            if self._record(spec.name) is not None or self._other_tool(spec.name) is not None:
                raise DatasetError(
                    f"a dataset named {spec.name!r} already exists; change it with update_dataset, or remove it first"
                )
            return self._write(spec, registration=None)

    def update(self, name: str, **changes: Any) -> Dataset:
        """Change a dataset; a new private folder makes it a new registration, so a job
        approved for the old data fails rather than read the new."""
        with self._locked():
            record = self._record(name)
            if record is None:
                raise DatasetNotFoundError(f"you have no dataset {name!r}; add it with add_dataset")
            current = self.catalog.get(self.owner, name)
            base: dict[str, Any] = {
                "name": name,
                "private_path": record.private_path,
                "summary": current.summary,
                "readme": current.readme,
                "tags": list(current.tags),
                "users": record.users,
                "mock_note": current.mock_note,
            }
            spec = self._spec(**{**base, **{k: v for k, v in changes.items() if v is not None}})
            same_data = spec.private_path == record.private_path
            keep_mock = changes.get("mock_path") is None
            return self._write(spec, registration=record if same_data else None, keep_mock=keep_mock)

    def remove(self, name: str) -> None:
        """Unregister a dataset and unpublish its public part; the private folder is left alone."""
        validate_dataset_name(name)
        with self._locked():
            if self._record(name) is None:
                raise DatasetNotFoundError(f"you have no dataset {name!r} (datasets made by other tools are theirs)")
            shutil.rmtree(self.layout.folder(name), ignore_errors=True)
            self.layout.record(name).unlink()

    # -- reading ------------------------------------------------------------------------
    def list(self) -> DatasetList:
        """Every dataset of the owner, ours and other tools', with the owner's details."""
        return DatasetList(self._owned(d) for d in self.catalog.list(self.owner))

    def get(self, name: str) -> Dataset:
        return self._owned(self.catalog.get(self.owner, name))

    def _owned(self, dataset: Dataset) -> Dataset:
        found = self._private(dataset.name)
        if found is None:
            return dataset
        record, _ = found
        size = _tree_size(record.private_path)
        return dataset.model_copy(
            update={"private_path": record.private_path, "private_size": size, "users": record.users}
        )

    # -- what a job may read ------------------------------------------------------------
    def pins(self, requester: str, names: list[str]) -> tuple[DatasetPin, ...]:
        """The datasets a submission names, pinned; ``DatasetError`` naming the first one
        the requester may not use."""
        pins = []
        for name in names:
            found = self._private(name)
            if found is None:
                raise DatasetError(
                    f"dataset {name!r} does not exist at {self.owner}; list the datasets to see their names"
                )
            record, _ = found
            if not record.allows(requester):
                raise DatasetError(f"dataset {name!r} is not shared with {requester}; ask {self.owner} for access")
            pins.append(DatasetPin(name=name, registration=record.registration))
        return tuple(pins)

    def resolve(self, pins: tuple[DatasetPin, ...]) -> dict[str, Path]:
        """The private folders of approved datasets; ``DatasetError`` when one was removed or
        registered again since (its wording names the dataset, never its path)."""
        folders = {}
        for pin in pins:
            found = self._private(pin.name)
            if found is None:
                raise DatasetError(f"dataset {pin.name!r} was removed after the job was approved")
            record, folder = found
            if record.registration != pin.registration:
                raise DatasetError(
                    f"dataset {pin.name!r} was replaced after the job was approved; submit the job again"
                )
            if not folder.is_dir():
                log.warning("dataset %r: its private folder %s is gone", pin.name, folder)
                raise DatasetError(f"dataset {pin.name!r} is not available at {self.owner} right now")
            folders[pin.name] = folder
        return folders

    def mocks(self, names: list[str]) -> dict[str, Dataset]:
        return {name: self.catalog.get(self.owner, name) for name in names}

    def _private(self, name: str) -> Optional[tuple[DatasetRecord, Path]]:
        """The registry's record of a dataset (ours, or one another tool made) and its
        private folder."""
        record = self._record(name)
        if record is not None:
            return record, record.private_path
        return self._other_tool(name)

    def _record(self, name: str) -> Optional[DatasetRecord]:
        try:
            return DatasetRecord.model_validate_json(self.layout.record(name).read_bytes())
        except FileNotFoundError:
            return None

    def _other_tool(self, name: str) -> Optional[tuple[DatasetRecord, Path]]:
        """A dataset syft-dataset or syft-rds made, with its private folder, if this owner has it."""
        try:
            dataset = self.catalog.get(self.owner, name)
        except DatasetNotFoundError:
            return None
        if dataset.source == "syft-code-queue":
            return None
        if dataset.source == "syft-dataset":
            v1 = dataset.mock_path.parent == self.layout.syft_dataset_public[1]
            pointer = read_private_pointer(self.layout.syft_dataset_private(name, v1))
            if pointer is None:
                return None
            folder, registration = pointer, dataset.registration
        else:
            folder = self.layout.syft_rds_private(name)
            if not folder.is_dir():
                return None
            registration = folder_registration(folder)
        users = _readers(dataset.mock_path / PERMISSION_FILE)  # the ACL the other tool wrote
        record = DatasetRecord(
            name=name,
            registration=registration,
            private_path=folder,
            users=users,
            created_at=dataset.created_at or utcnow(),
            updated_at=dataset.updated_at or utcnow(),
        )
        return record, folder

    # -- writing ------------------------------------------------------------------------
    def _spec(self, **fields: Any) -> AddDataset:
        try:
            spec = AddDataset(**fields)
        except ValidationError as exc:
            raise DatasetError(describe(exc, limit=1)) from None
        private = _folder(spec.private_path, "private_path")
        syftbox = self.workspace.data_dir
        if private == syftbox or syftbox in private.parents or private in syftbox.parents:
            raise DatasetError(
                f"the private folder {private} is inside the SyftBox folder {syftbox} (or holds it), and "
                "SyftBox uploads everything there to its server, whatever the permissions say; keep the "
                "private data in a folder outside the SyftBox folder"
            )
        updates: dict[str, Any] = {"private_path": private}
        if spec.mock_path is not None:
            mock = _folder(spec.mock_path, "mock_path")
            if mock == private or private in mock.parents or mock in private.parents:
                raise DatasetError(
                    f"the mock folder {mock} overlaps the private folder {private}: the mock is published, "
                    "so it must be a folder of its own"
                )
            updates["mock_path"] = mock
        if spec.readme is not None:
            readme = Path(spec.readme).expanduser() if "\n" not in spec.readme and len(spec.readme) < 4096 else None
            if readme is not None and readme.is_file():
                updates["readme"] = readme.read_text(errors="replace")
        return spec.model_copy(update=updates)

    def _write(self, spec: AddDataset, registration: Optional[DatasetRecord], keep_mock: bool = False) -> Dataset:
        folder = self.layout.folder(spec.name)
        now = utcnow()
        if keep_mock:
            current = read_metadata(self.layout.metadata(spec.name))
            files = list(current.mock_files or []) if current is not None else []
        else:
            files = self._check_mock(spec.mock_path) if spec.mock_path is not None else []
        record = DatasetRecord(
            name=spec.name,
            registration=registration.registration if registration else uuid.uuid4().hex,
            private_path=spec.private_path,
            users=spec.users,
            created_at=registration.created_at if registration else now,
            updated_at=now,
        )
        folder.mkdir(parents=True, exist_ok=True)
        acl, legacy_acl = self.layout.permission_files(spec.name)
        write_if_changed(acl, dataset_permissions_yaml(spec.users))
        write_if_changed(legacy_acl, legacy_dataset_permissions_yaml(spec.users))
        if not keep_mock:
            _replace_mock(folder, spec.mock_path, files)
        readme = self.layout.readme(spec.name)
        if spec.readme:
            write_if_changed(readme, spec.readme)
        else:
            readme.unlink(missing_ok=True)
        url = self.layout.url(spec.name)
        meta = DatasetMetadata(
            generator=DATASET_GENERATOR,
            uid=record.registration,
            created_at=record.created_at,
            updated_at=now,
            name=spec.name,
            summary=spec.summary or None,
            tags=spec.tags,
            mock_url=url,
            private_url=self.layout.url(spec.name, private=True),
            readme_url=f"{url}/README.md" if spec.readme else None,
            mock_files_urls=[f"{url}/{entry.path}" for entry in files],
            mock_note=spec.mock_note or None,
            mock_files=files,
            mock_manifest_sha256=manifest_digest(files),
        )
        # The record first, the public document last: a dataset is published only once
        # its mock is in place, and never without the record that says who may use it.
        atomic_write_json(self.layout.record(spec.name), record.model_dump_json(indent=2))
        atomic_write(self.layout.metadata(spec.name), yaml.safe_dump(meta.model_dump(mode="json"), sort_keys=False))
        return self.get(spec.name)

    def _check_mock(self, mock: Path) -> list[FileEntry]:
        try:
            files = build_manifest(mock)
        except UnsafeFolderError as exc:
            raise DatasetError(f"{exc}; a mock, like a code folder, holds only regular files and folders") from None
        clash = sorted(entry.path for entry in files if entry.path in DATASET_METADATA_FILES)
        if clash:
            raise DatasetError(f"the mock holds {clash[0]}, a name the dataset's own metadata uses; rename that file")
        size = sum(entry.size for entry in files)
        if size > self.max_mock_size:
            raise DatasetError(
                f"the mock is {_size_text(size)}, over the limit of {_size_text(self.max_mock_size)} "
                "(max_mock_size): it syncs to every user of the dataset, so keep it small"
            )
        return files

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One change at a time, across the owner's processes (a server and ``scq dataset``)."""
        self.layout.registry.mkdir(parents=True, exist_ok=True)
        with open(self.layout.registry_lock, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def _folder(path: Path, what: str) -> Path:
    folder = path.expanduser()
    if not folder.exists():
        raise DatasetError(f"{what} {folder} does not exist; give the folder that holds the data")
    if not folder.is_dir():
        raise DatasetError(f"{what} {folder} is a file; give the folder that holds it")
    return folder.resolve()


def _replace_mock(folder: Path, mock: Optional[Path], files: list[FileEntry]) -> None:
    """Put exactly ``files`` of ``mock`` in the public folder, each atomically; what a
    previous mock left there goes."""
    keep = {entry.path for entry in files}
    for rel, item in list(folder_entries(folder)):
        if item.is_file(follow_symlinks=False) and rel not in keep and rel not in DATASET_METADATA_FILES:
            os.unlink(item.path)
    for entry in files:
        assert mock is not None
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        shutil.copyfile(mock / entry.path, tmp)
        os.replace(tmp, target)


def _tree_size(folder: Path) -> Optional[int]:
    """Bytes in the files of the private folder (as stored: a sparse file counts whole)."""
    try:
        return sum(item.stat(follow_symlinks=False).st_size for _, item in folder_entries(folder) if item.is_file())
    except OSError:
        return None


def read_private_pointer(path: Path) -> Optional[Path]:
    """syft-dataset's ``private_metadata.yaml``: where that dataset's private data is."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
        folder = Path(str(document["data_dir"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return folder if folder.is_dir() else None


def _readers(acl: Path) -> tuple[str, ...]:
    """Who a ``syft.pub.yaml`` lets read a folder: the users of a dataset another tool made."""
    try:
        document = yaml.safe_load(acl.read_text()) or {}
        rules = document.get("rules") or []
        readers = [user for rule in rules for user in (rule.get("access") or {}).get("read") or []]
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return ()
    if "*" in readers:
        return ("*",)
    return tuple(user for user in dict.fromkeys(readers) if "@" in user)
