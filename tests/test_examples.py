"""The scripts in examples/, run as a user runs them: each in its own process, with its
SyftBox identity from the environment, the owner and the requesters on one local root."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ALICE, OWNER
from realprocs import REPO, scq_env, stop, wait_for
from syft_code_queue.cli import main as scq

EXAMPLES = REPO / "examples"


def identity(email: str, root: Path) -> dict[str, str]:
    """The environment of a user who is ``email`` on ``root`` and nobody else."""
    env = {k: v for k, v in scq_env().items() if not k.startswith("SYFTBOX_")}
    return {**env, "SYFTBOX_EMAIL": email, "SYFTBOX_DATA_DIR": str(root)}


def start(script: str, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args], env=env, cwd=log.parent,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )


def run(script: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], env=env, cwd=cwd,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_owner_serves_with_server_setup_and_requester_follows_basic_usage(tmp_path: Path) -> None:
    root = tmp_path / "SyftBox"
    owner_env, alice_env = identity(OWNER, root), identity(ALICE, root)
    server_log = tmp_path / "server.log"
    server = start("server_setup.py", owner_env, server_log, "--auto-approve-tag", "nightly")
    requester = None
    try:
        wait_for(lambda: f"serving queue 'code-queue' of {OWNER}" in server_log.read_text(), "server_setup.py")

        second = run("server_setup.py", owner_env, tmp_path)
        assert second.returncode == 1
        assert "is already being served" in second.stderr and "stop that server first" in second.stderr

        # Without the owner's tag the job waits for the owner, who approves it from a terminal.
        requester_log = tmp_path / "requester.log"
        requester = start("basic_usage.py", alice_env, requester_log, "--to", OWNER, "--timeout", "60")
        wait_for(lambda: "as job " in requester_log.read_text(), "basic_usage.py to submit")
        uid = requester_log.read_text().split("as job ")[1].split()[0]
        wait_for(lambda: f"pending   Data Analysis Job [{uid[:8]}] from {ALICE}" in server_log.read_text(),
                 "the server to show the job pending")
        assert requester.poll() is None, requester_log.read_text()
        assert scq(["approve", uid[:8], "--reason", "read run.sh", "--email", OWNER, "--data-dir", str(root)]) == 0
        assert requester.wait(timeout=60) == 0, requester_log.read_text()
        out = requester_log.read_text()
        assert "status: completed (exit code 0" in out
        assert f"approved  by {OWNER}: read run.sh" in out
        assert "results.txt: n=4 mean_age=37.5 median_age=38.5" in out
        assert f"logs:\n  Job Data Analysis Job for {ALICE}\n  Analysis complete!\n" in out
        assert f"your latest jobs:\n  Data Analysis Job [{uid[:8]}] completed\n" in out

        # With it, the owner's rule approves the job and nobody has to act.
        tagged = run("basic_usage.py", alice_env, tmp_path, "--to", OWNER, "--tag", "nightly", "--timeout", "60")
        assert tagged.returncode == 0, tagged.stderr
        assert "approved  by auto-approval: approved by the owner's auto-approval rule" in tagged.stdout
        assert "results.txt: n=4 mean_age=37.5" in tagged.stdout
        wait_for(lambda: server_log.read_text().count("completed Data Analysis Job") == 2,
                 "the server to show both jobs completed")
    finally:
        if requester is not None:
            stop(requester)
        code = stop(server, signal.SIGINT)
    assert code == 0, server_log.read_text()
    assert server_log.read_text().rstrip().endswith("stopped")


@pytest.mark.slow
def test_custom_approval_rules_trust_domains_and_reviewed_code(tmp_path: Path) -> None:
    done = run("custom_approval.py", scq_env(), tmp_path)
    assert done.returncode == 0, done.stderr
    decisions, results = done.stdout.split("results:\n")
    lines = {}  # "<job name> from <requester>" -> the line the example printed for it
    for line in decisions.splitlines():
        name, found, rest = line.strip().partition(" from ")
        if found:
            lines[f"{name.strip()} from {rest.split()[0]}"] = line

    assert lines["Age statistics from alice@university.edu"].endswith("auto-approved")
    # The same code and tags from a look-alike domain wait for a person.
    assert lines["Age statistics from eve@university.edu.example.org"].endswith(
        "waits for review: eve@university.edu.example.org is not in a trusted domain")
    # New code with a tag outside the safe ones waits; once reviewed, the same code does not.
    assert "waits for review: code not reviewed before, tagged ['training']" in lines[
        "Model training from bob@university.edu"]
    assert lines["Model training 2 from bob@university.edu"].endswith("auto-approved")

    assert "completed stats.txt=n=4 mean_age=37.5" in results
    assert "eve@university.edu.example.org rejected  not a member of the university" in results
    assert results.count("completed model.txt=loss=0.12") == 2


def test_basic_usage_without_a_syftbox_identity_says_how_to_set_one(tmp_path: Path) -> None:
    env = {k: v for k, v in scq_env().items() if not k.startswith("SYFTBOX_")}
    done = run("basic_usage.py", {**env, "HOME": str(tmp_path)}, tmp_path, "--to", OWNER)
    assert done.returncode == 1
    assert "No SyftBox identity found" in done.stderr and "SYFTBOX_EMAIL" in done.stderr
    assert "Traceback" not in done.stderr


def test_basic_usage_with_no_owner_server_says_to_start_one(tmp_path: Path) -> None:
    done = run("basic_usage.py", identity(ALICE, tmp_path / "SyftBox"), tmp_path, "--to", OWNER, "--timeout", "1")
    assert done.returncode == 1
    assert "is still pending after 1 s" in done.stderr
    assert "the owner's queue server has not picked it up: ask them to start it" in done.stderr
    assert "Traceback" not in done.stderr
