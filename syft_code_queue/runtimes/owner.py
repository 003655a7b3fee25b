"""``Runtimes``: the owner's runtimes for one queue, from declaration to a job's run.

- **Declare** (``add``, ``remove``, ``list``): a runtime is a Python version and packages,
  resolved with uv into a lock and built at once, so a mistake shows when it is declared. The
  declarations are private; what requesters may know (name, version, pins, lock hash) is
  published in ``runtimes.json``. The default runtime is the serving interpreter's own
  environment.
- **Accept** (``resolve``): a submission asks for a runtime by name. When the owner allows
  requirements and the code holds a ``requirements.txt``, it is checked and resolved on top of
  the runtime's packages against the owner's index; the same runtime and requirements again
  reuse the recorded resolution (no uv call). The pins go into the job's state, where the
  owner reviews them and the approval covers them.
- **Run** (``environment``): the job's lock, verified against its hash, is built outside the
  sandbox unless the cache has it, and held while the job runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

from pydantic import ValidationError

from ..errors import (
    EnvironmentBuildError,
    RequirementsRefused,
    ResolutionPending,
    RuntimeNotFound,
    ToolMissing,
    describe,
)
from ..models import DEFAULT_RUNTIME, JobRequest, QueueConfig, ResolvedRuntime, RuntimeRecord
from ..protocol.documents import read_model
from ..protocol.layout import REQUIREMENTS_FILE, EnvironmentPaths, requirements_file, shared_environments
from ..protocol.owner import OwnerStore
from ..runner.python import JobPython, serving_python
from ..syftbox import atomic_write_json, write_if_changed
from . import uv
from .cache import EnvironmentCache
from .documents import Lock, PublishedRuntime, PublishedRuntimes, Resolution, RuntimeDeclarations, RuntimeSpec
from .interpreters import Interpreter, find_interpreter
from .requirements import package_requirements, refuse_forbidden, requirement_lines

log = logging.getLogger(__name__)


class Runtimes:
    def __init__(self, store: OwnerStore, config: QueueConfig) -> None:
        self.store = store
        self.config = config
        self.paths = store.private.runtime_paths
        # A root server's jobs run as unprivileged uids: everything they use must be reachable.
        self.as_other_user = os.geteuid() == 0
        cache_root = shared_environments() if self.as_other_user else self.paths.environments
        self.cache = EnvironmentCache(
            EnvironmentPaths(cache_root), config.runtime_cache_size, _build, shared=self.as_other_user
        )
        self._lock = threading.Lock()  # the declarations file, between owner threads

    # -- declaring ---------------------------------------------------------------------
    def add(
        self,
        name: str,
        python: Optional[str] = None,
        packages: Sequence[str] = (),
        index_url: Optional[str] = None,
        allow_requirements: bool = False,
    ) -> PublishedRuntime:
        """Declare (or redeclare) a runtime: resolved, built and published before it returns."""
        try:
            spec = RuntimeSpec(
                name=name,
                python=python,
                packages=tuple(package_requirements(packages)),
                index_url=index_url,
                allow_requirements=allow_requirements,
            )
        except ValidationError as exc:
            raise ValueError(f"runtime {name!r}: {describe(exc, limit=1)}") from None
        base = find_interpreter(python, self.as_other_user)
        lock = self._resolve(base, spec.packages, index_url)
        with self.cache.use(lock):
            pass  # built now: a runtime that cannot be built is not declared
        spec = spec.model_copy(update={"lock_sha256": lock.sha256})
        with self._lock:
            others = [r for r in self._declared() if r.name != name]
            self._save([*others, spec])
        return self._published(spec)

    def remove(self, name: str) -> None:
        """Withdraw a runtime; jobs already accepted with it still run with their lock."""
        with self._lock:
            declared = self._declared()
            if name not in {r.name for r in declared}:
                raise RuntimeNotFound(self._unknown(name))
            self._save([r for r in declared if r.name != name])

    def list(self) -> list[PublishedRuntime]:
        """The default runtime, then the declared ones by name (one whose lock is gone from the
        owner's private folder is left out, with a warning: it cannot be built any more)."""
        listed = [self._default()]
        for spec in sorted(self._declared(), key=lambda r: r.name):
            try:
                listed.append(self._published(spec))
            except EnvironmentBuildError as exc:
                log.warning("runtime %r is not offered: %s", spec.name, exc)
        return listed

    def publish(self) -> None:
        document = PublishedRuntimes(runtimes=tuple(self.list()))
        write_if_changed(self.store.layout.runtimes, document.model_dump_json(indent=2) + "\n")

    def _declared(self) -> tuple[RuntimeSpec, ...]:
        found = read_model(self.store.private.declared_runtimes, RuntimeDeclarations)
        return found.runtimes if found is not None else ()

    def _save(self, runtimes: list[RuntimeSpec]) -> None:
        document = RuntimeDeclarations(runtimes=tuple(runtimes))
        atomic_write_json(self.store.private.declared_runtimes, document.model_dump_json(indent=2))
        self.publish()

    def _spec(self, name: str) -> Optional[RuntimeSpec]:
        """The declared runtime ``name``; None for the default. Raises when there is none."""
        if name == DEFAULT_RUNTIME:
            return None
        spec = next((r for r in self._declared() if r.name == name), None)
        if spec is None:
            raise RuntimeNotFound(self._unknown(name))
        return spec

    def _unknown(self, name: str) -> str:
        offered = ", ".join(r.name for r in self.list())
        return f"no runtime {name!r} on queue {self.store.queue!r}; it offers: {offered}"

    def _default(self) -> PublishedRuntime:
        python = serving_python(self.as_other_user).version
        return PublishedRuntime(
            name=DEFAULT_RUNTIME, python=python, allow_requirements=self.config.allow_requirements, default=True
        )

    def _published(self, spec: RuntimeSpec) -> PublishedRuntime:
        lock = self.lock(spec.lock_sha256)
        return PublishedRuntime(
            name=spec.name,
            python=lock.python,
            packages=lock.pins,
            lock_sha256=lock.sha256,
            allow_requirements=spec.allow_requirements or self.config.allow_requirements,
        )

    # -- locks -------------------------------------------------------------------------
    def lock(self, lock_sha256: str) -> Lock:
        """The lock with this hash, checked to still be exactly that lock."""
        try:
            lock = read_model(self.paths.lock(lock_sha256), Lock)
        except (ValidationError, ValueError):
            lock = None
        if lock is None:
            raise EnvironmentBuildError(
                f"the lock {lock_sha256[:12]} of this job's runtime is missing or unreadable in the owner's "
                "private folder; submit the job again"
            )
        if lock.sha256 != lock_sha256:
            raise EnvironmentBuildError(f"the lock {lock_sha256[:12]} changed after it was approved; not run")
        return lock

    def _resolve(self, base: Interpreter, requirements: Sequence[str], index_url: Optional[str]) -> Lock:
        """Resolve with uv (the only network step of acceptance) and keep the lock. pip is
        always part of it, pinned like the rest: jobs run ``pip install -r requirements.txt``."""
        pinned = uv.compile_requirements([*requirements, "pip"], base.path, index_url)
        lock = Lock(
            interpreter=base.path, prefix=base.prefix, python=base.version, index_url=index_url, requirements=pinned
        )
        path = self.paths.lock(lock.sha256)
        if not path.exists():
            atomic_write_json(path, lock.model_dump_json(indent=2))
        return lock

    # -- accepting ---------------------------------------------------------------------
    def resolve(self, request: JobRequest, code_dir: Path, ask_index: bool = True) -> Optional[ResolvedRuntime]:
        """The runtime a submission is accepted with (None: the default, as it is), or
        ``RequirementsRefused`` saying why it cannot be (also when this server cannot
        resolve at all: no uv, no interpreter of the runtime's version). Not ``ask_index``:
        ``ResolutionPending`` where only the package index can answer (nothing recorded)."""
        try:
            return self._resolve_request(request, code_dir, ask_index)
        except (ToolMissing, EnvironmentBuildError) as exc:
            raise RequirementsRefused(f"the owner's server cannot resolve requirements: {exc}") from None

    def _resolve_request(self, request: JobRequest, code_dir: Path, ask_index: bool) -> Optional[ResolvedRuntime]:
        name = request.runtime or DEFAULT_RUNTIME
        try:
            spec = self._spec(name)
        except RuntimeNotFound as exc:
            raise RequirementsRefused(str(exc)) from None
        declared = any(entry.path == REQUIREMENTS_FILE for entry in request.files)
        if not declared or not (self.config.allow_requirements or (spec is not None and spec.allow_requirements)):
            return None if spec is None else _accepted(name, self.lock(spec.lock_sha256), requirements=False)
        try:
            text = requirements_file(code_dir).read_text()
        except FileNotFoundError:
            text = ""  # empty files never sync
        except UnicodeDecodeError:
            raise RequirementsRefused("requirements.txt is not UTF-8 text") from None
        wanted = requirement_lines(text)
        refuse_forbidden(wanted, self.config.forbidden_packages, "named in requirements.txt")
        if spec is None:
            default = serving_python(self.as_other_user)
            base = find_interpreter(default.version, self.as_other_user)
            packages: tuple[str, ...] = ()
            index_url = None
        else:
            runtime_lock = self.lock(spec.lock_sha256)
            base = Interpreter(runtime_lock.interpreter, runtime_lock.python, runtime_lock.prefix)
            packages, index_url = spec.packages, spec.index_url
        key = _key(name, base, index_url, [*packages, *wanted])
        lock = self._recorded(key)
        if lock is None:
            if not ask_index:
                raise ResolutionPending(f"its requirements are being resolved against {index_url or 'the index'}")
            lock = self._resolve(base, [*packages, *wanted], index_url)
            atomic_write_json(self.paths.resolution(key), Resolution(lock_sha256=lock.sha256).model_dump_json())
        refuse_forbidden(lock.pins, self.config.forbidden_packages, "required by what requirements.txt names")
        return _accepted(name, lock, requirements=True)

    def _recorded(self, key: str) -> Optional[Lock]:
        try:
            resolution = read_model(self.paths.resolution(key), Resolution)
        except (ValidationError, ValueError):
            return None
        if resolution is None:
            return None
        try:
            return self.lock(resolution.lock_sha256)
        except EnvironmentBuildError:
            return None

    # -- running -----------------------------------------------------------------------
    @contextmanager
    def environment(self, runtime: Optional[ResolvedRuntime]) -> Iterator[Optional[JobPython]]:
        """The job's Python, built if needed and held while the job runs; None: the default."""
        if runtime is None or runtime.lock_sha256 is None:
            yield None
            return
        with self.cache.use(self.lock(runtime.lock_sha256)) as python:
            yield python

    def record(self, runtime: Optional[ResolvedRuntime]) -> RuntimeRecord:
        """What the result records of the runtime a job ran in."""
        if runtime is not None:
            return runtime.record()
        return RuntimeRecord(name=DEFAULT_RUNTIME, python=serving_python(self.as_other_user).version)


def _accepted(name: str, lock: Lock, requirements: bool) -> ResolvedRuntime:
    return ResolvedRuntime(
        name=name, python=lock.python, lock_sha256=lock.sha256, pins=lock.pins, requirements=requirements
    )


def _key(name: str, base: Interpreter, index_url: Optional[str], requirements: list[str]) -> str:
    """Names a resolution: the same runtime and requirements resolve to the recorded lock."""
    canonical = json.dumps([name, base.path, base.version, index_url, sorted(requirements)])
    return hashlib.sha256(canonical.encode()).hexdigest()


def _build(lock: Lock, target: Path, interpreter: Path) -> None:
    uv.build_environment(lock, target, interpreter)
