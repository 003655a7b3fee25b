"""Runtimes: the Python environments a data owner offers jobs, pinned with uv and built once.

``owner.Runtimes`` declares them, resolves a submission's ``requirements.txt`` at acceptance
and builds and holds a job's environment for its run (``cache``, ``uv``, ``interpreters``,
``requirements``); ``documents`` holds what is written (declarations, locks, the published
list that requesters read). Importing this package loads only the documents.
"""

from .documents import PublishedRuntime, PublishedRuntimes

__all__ = ["PublishedRuntime", "PublishedRuntimes"]
