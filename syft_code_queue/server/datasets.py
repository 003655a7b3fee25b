"""The owner's dataset actions on the server: publish, change, list and remove datasets,
and run a pending job on the mocks before deciding.

``DatasetActions`` is a part of ``CodeQueueServer`` (it inherits it), so the server's own
module keeps to the queue; every method delegates to ``datasets.registry`` or
``datasets.mock``. A mock run's logs and outputs stay in the owner's private folder and are
never published.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence, Union

from ..datasets import Dataset, DatasetList, DatasetRegistry, MockRunResult, run_on_mocks
from ..errors import InvalidTransitionError
from ..models import Job, JobRef, QueueConfig
from ..protocol.owner import OwnerStore
from ..runner import CodeRunner

PathLike = Union[str, os.PathLike[str]]


class DatasetActions:
    """What ``CodeQueueServer`` does with datasets (see the README's "Datasets")."""

    config: QueueConfig
    runner: CodeRunner
    store: OwnerStore
    datasets: DatasetRegistry
    _ref: Callable[[str], JobRef]  # CodeQueueServer's: the job of a uid
    _load: Callable[[JobRef], Job]  # CodeQueueServer's: its current view

    def add_dataset(
        self,
        name: str,
        private_path: PathLike,
        mock_path: Optional[PathLike] = None,
        summary: str = "",
        readme: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        users: Union[str, Sequence[str]] = "*",
        mock_note: str = "",
    ) -> Dataset:
        """Publish dataset ``name``: its metadata and mock go to ``users`` (``"*"``: everyone);
        ``private_path`` stays where it is (outside the SyftBox folder) and only jobs that
        name the dataset, once approved, see it, read-only at ``/job/data/<name>``.
        ``readme``: a path to a Markdown file, or the text itself."""
        return self.datasets.add(
            name,
            private_path,
            mock_path,
            summary=summary,
            readme=readme,
            tags=list(tags or []),
            users=users,
            mock_note=mock_note,
        )

    def list_datasets(self) -> DatasetList:
        """Your datasets (and those syft-dataset or syft-rds made here), with their private
        folders and sizes: the owner's view."""
        return self.datasets.list()

    def get_dataset(self, name: str) -> Dataset:
        return self.datasets.get(name)

    def update_dataset(
        self,
        name: str,
        *,
        private_path: Optional[PathLike] = None,
        mock_path: Optional[PathLike] = None,
        summary: Optional[str] = None,
        readme: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        users: Optional[Union[str, Sequence[str]]] = None,
        mock_note: Optional[str] = None,
    ) -> Dataset:
        """Change what is given; the rest stays. A new ``private_path`` is a new registration:
        jobs approved for the old data then fail instead of reading the new."""
        return self.datasets.update(
            name,
            private_path=private_path,
            mock_path=mock_path,
            summary=summary,
            readme=readme,
            tags=list(tags) if tags is not None else None,
            users=users,
            mock_note=mock_note,
        )

    def remove_dataset(self, name: str) -> None:
        """Unpublish a dataset and forget its private folder (which is left as it is); jobs
        approved for it fail saying so."""
        self.datasets.remove(name)

    def run_on_mock(self, uid: str) -> MockRunResult:
        """Run a pending job on the mocks of the datasets it names, as it would run on the
        private data; the logs and outputs are yours only, never published."""
        ref = self._ref(uid)
        job = self._load(ref)
        if job.is_terminal:
            raise InvalidTransitionError(f"job {uid} is {job.status.value}; only a job not run yet runs on the mocks")
        request = job.request  # the owner's accepted copy
        mocks = self.datasets.mocks(request.datasets)
        code = self.store.accepted.code_dir(ref) or self.store.layout.job(ref).code_dir
        paths = self.datasets.layout.mock_run(uid)  # run_on_mocks copies exactly the pinned bytes
        return run_on_mocks(self.runner, job, code, request.files, mocks, paths, self.config.job_timeout)
