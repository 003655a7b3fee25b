"""The Python a job gets: which interpreter ``python`` names, which folder of scripts comes
first on its ``PATH``, and which host folders it must see (read-only in the sandbox).

A job always gets a ``python``: where the runtime's folder of scripts has none (a system
without ``python-is-python3``, or a root server whose own interpreter is private to root and
so replaced by the system's ``python3``), the job's own ``bin`` folder links ``python`` to
the runtime's interpreter. A virtual environment's ``python`` is never linked: a link to it
would not find its ``pyvenv.cfg``, so its ``bin`` folder comes first instead.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
PYTHON_NAMES = ("python", "python3")


@dataclass(frozen=True)
class JobPython:
    """``interpreter``: what ``python`` runs; ``scripts``: its environment's ``bin`` folder,
    first on ``PATH`` (None: the system's); ``mounts``: host folders the job needs to see;
    ``version``: the interpreter's version."""

    interpreter: str
    scripts: Optional[str]
    mounts: tuple[str, ...]
    version: str

    def links(self) -> dict[str, str]:
        """The names the job's ``bin`` folder links to the interpreter: those its scripts
        folder lacks."""
        have = self.scripts is not None and os.path.isdir(self.scripts)
        return {
            name: self.interpreter
            for name in PYTHON_NAMES
            if not (have and os.path.exists(os.path.join(self.scripts, name)))  # type: ignore[arg-type]
        }

    def path(self, job_bin: Optional[str]) -> str:
        """The job's ``PATH``: its own ``bin`` folder, the runtime's scripts, the system's."""
        parts = [p for p in (job_bin, self.scripts) if p]
        return ":".join([*parts, MINIMAL_PATH])


@functools.lru_cache(maxsize=None)
def python_dirs(as_other_user: bool) -> tuple[str, ...]:
    """The serving interpreter's installation(s) outside /usr (a venv needs its base too),
    if the job's user can reach them: a job run under a leased uid needs world access.
    Decided once per process: every job would otherwise resolve and stat the same paths."""
    dirs = sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)})
    outside = [d for d in dirs if not d.startswith("/usr/")]
    if as_other_user and not all(world_readable(d) for d in outside):
        return ()
    return tuple(outside)


def world_readable(directory: str) -> bool:
    """Whether any user can reach and list ``directory``."""
    path = Path(directory)
    for ancestor in [path, *path.parents]:
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


@functools.lru_cache(maxsize=None)
def serving_python(as_other_user: bool) -> JobPython:
    """The default runtime: the interpreter serving the queue when the job can use it, so
    ``python`` and the owner's installed packages are what a job gets; otherwise (a root
    server whose interpreter is private to root) the system's ``python3``."""
    dirs = python_dirs(as_other_user)
    if dirs or sys.prefix.startswith("/usr"):
        return JobPython(sys.executable, str(Path(sys.executable).parent), dirs, platform.python_version())
    system = shutil.which("python3", path=MINIMAL_PATH) or "/usr/bin/python3"
    return JobPython(system, None, (), interpreter_version(system) or "unknown")


def interpreter_version(executable: str) -> Optional[str]:
    """An interpreter's version (``3.11.2``), or None when it does not run."""
    try:
        done = subprocess.run(
            [executable, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
