"""The owner's runtime actions on ``CodeQueueServer``: thin delegations to its ``Runtimes``
(``runtimes/owner.py``), kept here so the server stays small."""

from __future__ import annotations

from typing import Optional, Sequence

from ..runtimes.documents import PublishedRuntime
from ..runtimes.owner import Runtimes


class RuntimeActions:
    runtimes: Runtimes

    def add_runtime(
        self,
        name: str,
        python: Optional[str] = None,
        packages: Sequence[str] = (),
        index_url: Optional[str] = None,
        allow_requirements: bool = False,
    ) -> PublishedRuntime:
        """Declare a runtime: ``python`` is an installed version ("3.11"; None: the serving
        one), ``packages`` requirement specifiers resolved with uv against ``index_url`` (None:
        the default index). It is resolved, built and published before this returns."""
        return self.runtimes.add(name, python, packages, index_url, allow_requirements)

    def list_runtimes(self) -> list[PublishedRuntime]:
        """The default runtime (the serving interpreter's own environment), then the declared ones."""
        return self.runtimes.list()

    def remove_runtime(self, name: str) -> None:
        """Withdraw a runtime; jobs already accepted with it still run with their pinned lock."""
        self.runtimes.remove(name)
