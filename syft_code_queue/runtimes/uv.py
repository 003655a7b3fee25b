"""uv, the one tool that resolves and builds environments, run as a subprocess on the owner's
side (never inside a job's sandbox): the only steps of a job's life with network access.

uv comes from ``PATH`` or from the ``uv`` package (``pip install 'syft-code-queue[runtimes]'``).
It never downloads an interpreter (``UV_PYTHON_DOWNLOADS=never``) and ignores configuration
files (``--no-config``), so the owner's arguments alone decide what is resolved. It installs
wheels only (``--no-build``): building a source distribution runs its code, and resolution
happens before anyone approved the job, outside the sandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from ..errors import EnvironmentBuildError, RequirementsRefused, ToolMissing
from .documents import Lock

BUILD_TIMEOUT = 900  # seconds for one build step (a cold build of large packages takes minutes)
RESOLVE_TIMEOUT = 120  # seconds for a resolution: it runs in the serve thread, at acceptance
MESSAGE_LIMIT = 2000  # characters of uv's error kept in a reason
UNREACHABLE = (
    "error sending request",
    "dns error",
    "failed to lookup address",
    "connection refused",
    "network is unreachable",
    "tcp connect error",
    "operation timed out",
    "connection reset",
)


def uv_binary() -> str:
    """The uv executable, or a clear error saying how to install it."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv  # type: ignore[import-not-found]

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        raise ToolMissing(
            "runtimes need uv, which is not installed: pip install 'syft-code-queue[runtimes]' (or put uv on PATH)"
        ) from None


def run_uv(args: Sequence[str], stdin: str = "", timeout: float = RESOLVE_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run uv; a uv that does not finish in ``timeout`` seconds counts as failed (exit 124)."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "NO_COLOR": "1"}
    env.setdefault("UV_HTTP_RETRIES", "1")
    argv = [uv_binary(), *args]
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, cwd="/", timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            argv, 124, "", f"error: uv did not finish within {timeout:g} s (operation timed out)"
        )
    except OSError as exc:
        raise ToolMissing(
            f"uv could not be started ({exc}); reinstall it: pip install 'syft-code-queue[runtimes]'"
        ) from None


def _index(index_url: Optional[str]) -> list[str]:
    return ["--index-url", index_url] if index_url else []


def message(stderr: str) -> str:
    """uv's error as one line: ``error: ...; cause: ...``."""
    text = "; ".join(line.strip() for line in stderr.strip().splitlines() if line.strip())
    text = text.removeprefix("error: ")
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " ..."


def compile_requirements(requirements: Sequence[str], interpreter: str, index_url: Optional[str]) -> str:
    """Pin ``requirements`` for ``interpreter`` (with every file's hash): uv's lock text."""
    args = ["pip", "compile", "-", "--python", interpreter, "--generate-hashes", "--no-build"]
    args += ["--no-header", "--no-annotate", "--quiet", "--no-config", *_index(index_url)]
    done = run_uv(args, "\n".join(requirements) + "\n")
    if done.returncode == 0:
        return done.stdout
    why = message(done.stderr)
    if any(marker in why.lower() for marker in UNREACHABLE):
        raise RequirementsRefused(
            f"package index unreachable ({index_url or os.environ.get('UV_INDEX_URL') or 'the default index'}): "
            f"{why}; submit again "
            "once the owner's server can reach it"
        )
    raise RequirementsRefused(f"the requirements could not be resolved: {why}")


def build_environment(lock: Lock, target: Path, interpreter: Path) -> None:
    """A virtual environment at ``target`` (``interpreter`` is its ``bin/python``) holding
    exactly the lock's pins (pip among them, so a job's own ``pip install -r`` finds them
    satisfied), and nothing else."""
    index = _index(lock.index_url)
    steps = [["venv", "--quiet", "--no-config", "--python", lock.interpreter, *index, str(target)]]
    if lock.pins:
        steps.append(
            [
                "pip",
                "sync",
                "-",
                "--quiet",
                "--no-config",
                "--python",
                str(interpreter),
                "--require-hashes",
                "--no-build",
            ]
            + ["--link-mode", "copy", *index]
        )
    for args in steps:
        done = run_uv(args, lock.requirements, BUILD_TIMEOUT)
        if done.returncode != 0:
            raise EnvironmentBuildError(
                f"the runtime's environment could not be built: {message(done.stderr)}; check that the "
                "owner's server can reach its package index"
            )
