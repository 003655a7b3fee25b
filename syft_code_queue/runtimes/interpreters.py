"""Which installed interpreter a runtime is made from: the serving one when its version fits,
else the system's, else any uv knows. Never downloaded. On a root server it must be one the
jobs' unprivileged uids can reach (not a private installation under ``/root``).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator, Optional

from ..errors import EnvironmentBuildError
from ..runner.python import MINIMAL_PATH, world_readable
from .uv import run_uv

QUERY = "import platform, sys; print(platform.python_version()); print(sys.base_prefix)"


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    prefix: str  # its installation (``sys.base_prefix``)


def find_interpreter(version: Optional[str], as_other_user: bool) -> Interpreter:
    """The first installed interpreter of ``version`` (``"3.11"``, ``"3.11.2"``; None: any)
    that the jobs can use."""
    for found in _candidates(version):
        if (version is None or _matches(found.version, version)) and (not as_other_user or _reachable(found)):
            return found
    where = " that the jobs' unprivileged users can reach" if as_other_user else ""
    raise EnvironmentBuildError(
        f"no Python {version or ''} is installed here{where}".replace("  ", " ")
        + ": install it (for example with the system's package manager) or ask for another version"
    )


def _matches(full: str, wanted: str) -> bool:
    return full == wanted or full.startswith(wanted + ".")


def _reachable(found: Interpreter) -> bool:
    return world_readable(os.path.dirname(os.path.realpath(found.path))) and world_readable(found.prefix)


def _candidates(version: Optional[str]) -> Iterator[Interpreter]:
    yield Interpreter(sys.executable, platform.python_version(), sys.base_prefix)
    names = [f"python{version}"] if version and version.count(".") == 1 else []
    for folder in MINIMAL_PATH.split(":"):
        for name in (*names, "python3"):
            found = _query(os.path.join(folder, name))
            if found is not None:
                yield found
    for path in _known_to_uv():
        found = _query(path)
        if found is not None:
            yield found


@functools.lru_cache(maxsize=64)
def _query(path: str) -> Optional[Interpreter]:
    if not os.access(path, os.X_OK):
        return None
    try:
        done = subprocess.run([path, "-I", "-S", "-c", QUERY], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.splitlines()
    return Interpreter(path, lines[0], lines[1]) if done.returncode == 0 and len(lines) == 2 else None


def _known_to_uv() -> list[str]:
    done = run_uv(["python", "list", "--only-installed", "--output-format", "json", "--no-config"])
    if done.returncode != 0:
        return []
    try:
        return [entry["path"] for entry in json.loads(done.stdout) if entry.get("path")]
    except (ValueError, TypeError, KeyError):
        return []
