"""Datasets: the owner's private data, shown read-only inside the jobs that name it, and
its mock, published to the dataset's users to develop against.

``registry`` is the owner's side (the private pointers and the public part), ``catalog``
reads what is published (ours, syft-dataset's and syft-rds's), ``mock`` runs a job on the
mocks, ``views`` is what the API returns.
"""

from .catalog import DatasetCatalog
from .mock import MockRunResult, run_on_mocks
from .registry import DatasetRegistry
from .views import Dataset, DatasetList

__all__ = ["Dataset", "DatasetCatalog", "DatasetList", "DatasetRegistry", "MockRunResult", "run_on_mocks"]
