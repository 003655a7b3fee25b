"""Real ``scq`` processes for tests: started from this checkout, stopped by their own PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]


def scq_env() -> dict[str, str]:
    """The environment for a child that must import this checkout's package."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


def scq(args: list[str], log: Path) -> subprocess.Popen:
    """Start ``scq ARGS`` with its output going to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "syft_code_queue.cli", *args],
            env=scq_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def serve(email: str, data_dir: Path, log: Path, *extra: str) -> subprocess.Popen:
    """``scq serve`` for ``email`` on ``data_dir``; returns once it serves (or has exited)."""
    proc = scq(["-v", "serve", "--email", email, "--data-dir", str(data_dir), *extra], log)
    wait_for(lambda: proc.poll() is not None or "serving queue" in log.read_text(), f"scq serve ({log})")
    return proc


def wait_for(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> Optional[int]:
    """Signal one process we started and reap it; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (how a test finds a job's processes
    without asking the code under test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "pytest" not in cmdline:
                found.append(int(entry.name))
    return found
