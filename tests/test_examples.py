"""The scripts in examples/, run as a user runs them: each in its own process, on a temporary
root, and judged by what it prints."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ALICE, OWNER
from realprocs import REPO, scq_env, stop, wait_for

import syft_code_queue as scq
from syft_code_queue.cli import main as scq_cli

EXAMPLES = REPO / "examples"


def no_identity(home: Path) -> dict[str, str]:
    """The environment of someone with no SyftBox client and no SyftBox variables."""
    env = {k: v for k, v in scq_env().items() if not k.startswith("SYFTBOX_")}
    return {**env, "HOME": str(home)}


def identity(email: str, root: Path) -> dict[str, str]:
    """The environment of a user who is ``email`` on ``root`` and nobody else."""
    return {**no_identity(root.parent), "SYFTBOX_EMAIL": email, "SYFTBOX_DATA_DIR": str(root)}


def start(script: str, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            env=env,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run(script: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_basic_usage_plays_the_whole_workflow_with_no_setup(tmp_path: Path) -> None:
    done = run("basic_usage.py", no_identity(tmp_path), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    root = Path(re.search(r"embedded SyftBox root: (\S+)", out).group(1))
    uid = re.search(r"submitted 'Data Analysis Job' to owner@example.com as job (\w+)", out).group(1)

    # Submit, then monitor: the owner's server accepts it and it waits for review.
    assert "status: pending (accepted by owner@example.com)" in out
    assert "owner@example.com's queue: online, last seen" in out
    assert f"your jobs: Data Analysis Job [{uid[:8]}] pending" in out
    # The owner reviews the very bytes that would run, and approves them.
    assert f"owner sees pending: Data Analysis Job [{uid[:8]}] from alice@example.com: analysis.py" in out
    assert "owner reads run.sh (matches the manifest: True):\n  | #!/bin/bash\n" in out
    assert '  | python3 analysis.py > "$SYFT_OUTPUT_DIR/results.txt"\n' in out
    # The server runs it; the requester reads the history, the results and the logs.
    assert "status: completed (exit code 0" in out
    assert "approved  by owner@example.com: read run.sh and analysis.py" in out
    assert "completed by owner@example.com: exit code 0" in out
    assert "results.txt: n=4 mean_age=37.5 median_age=38.5" in out
    assert out.endswith("logs:\n  Job Data Analysis Job for alice@example.com\n  Analysis complete!\n")
    assert not root.exists(), "the temporary root is removed at the end"


@pytest.mark.slow
def test_basic_usage_keeps_its_root_when_given_one(tmp_path: Path) -> None:
    root = tmp_path / "kept"
    done = run("basic_usage.py", no_identity(tmp_path), tmp_path, "--root", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    uid = re.search(r"as job (\w+)", done.stdout).group(1)
    client = scq.create_client(email=ALICE, data_dir=root)
    assert client.get_job(uid).status == scq.JobStatus.completed
    assert (client.get_job_output(uid) / "results.txt").read_text().startswith("n=4 mean_age=37.5")

    again = run("basic_usage.py", no_identity(tmp_path), tmp_path, "--root", str(root))
    assert again.returncode == 2
    assert f"--root {root} is not empty: give a new or empty folder" in again.stderr


@pytest.mark.slow
def test_owner_serves_with_server_setup_and_requester_follows_basic_usage(tmp_path: Path) -> None:
    """The three-terminal story: the owner's server_setup.py, the requester's basic_usage.py
    --to, and the owner approving with scq; then Ctrl-C stops the server cleanly."""
    root = tmp_path / "SyftBox"
    alice_env = identity(ALICE, root)
    server_log = tmp_path / "server.log"
    server = start(
        "server_setup.py", no_identity(tmp_path), server_log, "--root", str(root), "--auto-approve-tag", "nightly"
    )
    requester = None
    try:
        wait_for(lambda: f"serving queue 'code-queue' of {OWNER}" in server_log.read_text(), "server_setup.py")
        assert "with SafeCodeRunner(timeout=600 s" in server_log.read_text()
        assert "memory=1 GiB/process, processes=64" in server_log.read_text()

        second = run("server_setup.py", no_identity(tmp_path), tmp_path, "--root", str(root))
        assert second.returncode == 1
        assert "is already being served" in second.stderr and "stop that server first" in second.stderr

        # Without the owner's tag the job waits for the owner, who approves it from a terminal.
        requester_log = tmp_path / "requester.log"
        requester = start("basic_usage.py", alice_env, requester_log, "--to", OWNER, "--timeout", "60")
        wait_for(lambda: "as job " in requester_log.read_text(), "basic_usage.py to submit")
        uid = requester_log.read_text().split("as job ")[1].split()[0]
        wait_for(
            lambda: f"pending   Data Analysis Job [{uid[:8]}] from {ALICE}" in server_log.read_text(),
            "the server to show the job pending",
        )
        assert requester.poll() is None, requester_log.read_text()
        assert scq_cli(["approve", uid[:8], "--reason", "read run.sh", "--email", OWNER, "--data-dir", str(root)]) == 0
        assert requester.wait(timeout=60) == 0, requester_log.read_text()
        out = requester_log.read_text()
        assert "status: completed (exit code 0" in out
        assert f"approved  by {OWNER}: read run.sh" in out
        assert "results.txt: n=4 mean_age=37.5 median_age=38.5" in out
        assert f"logs:\n  Job Data Analysis Job for {ALICE}\n  Analysis complete!\n" in out

        # With it, the owner's rule approves the job and nobody has to act.
        tagged = run("basic_usage.py", alice_env, tmp_path, "--to", OWNER, "--tag", "nightly", "--timeout", "60")
        assert tagged.returncode == 0, tagged.stderr
        assert "approved  by auto-approval: approved by the owner's auto-approval rule" in tagged.stdout
        wait_for(
            lambda: server_log.read_text().count("completed Data Analysis Job") == 2,
            "the server to show both jobs completed",
        )

        # A job still running when the owner presses Ctrl-C is stopped and recorded as failed.
        client = scq.create_client(email=ALICE, data_dir=root)
        long = tmp_path / "long"
        long.mkdir()
        (long / "run.sh").write_text("#!/bin/bash\nsleep 60\n")
        job = client.submit_code(OWNER, long, "Long job", tags=["nightly"], auto_approval=True)
        wait_for(lambda: f"running   Long job [{job.short_uid}]" in server_log.read_text(), "the long job to run")
    finally:
        if requester is not None:
            stop(requester)
        code = stop(server, signal.SIGINT)
    assert code == 0, server_log.read_text()
    assert (
        server_log.read_text()
        .rstrip()
        .endswith("stopping: jobs still running are stopped and recorded as failed\nstopped")
    )
    stopped = client.get_job(job.uid)
    assert stopped.status == scq.JobStatus.failed
    assert stopped.error == "the server was stopped while the job was running"


def test_server_setup_runs_for_the_seconds_it_is_given(tmp_path: Path) -> None:
    done = run("server_setup.py", no_identity(tmp_path), tmp_path, "--root", str(tmp_path / "root"), "--seconds", "1")
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout == "serving queue 'code-queue' of owner@example.com (Ctrl-C to stop)\nstopping after 1 s\nstopped\n"
    )
    # The queue was released: the next server serves it.
    with scq.create_server(email=OWNER, data_dir=tmp_path / "root") as server:
        assert server.is_running


def test_server_setup_says_which_setting_is_wrong(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    done = run("server_setup.py", no_identity(tmp_path), tmp_path, "--root", root, "--max-concurrent-jobs", "0")
    assert done.returncode == 1
    assert "invalid setting max_concurrent_jobs: Input should be greater than or equal to 1; see --help." in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "root").exists(), "nothing is served, or created, with a bad setting"


@pytest.mark.slow
def test_custom_approval_shows_each_rule_deciding_real_submissions(tmp_path: Path) -> None:
    done = run("custom_approval.py", no_identity(tmp_path), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    sections = {}  # title -> its lines, each "<name> from <requester> <outcome>"
    for part in done.stdout.split("== ")[1:]:
        title, *lines = part.splitlines()
        sections[title] = [" ".join(line.split()) for line in lines]

    assert sections["trusted domains: the requester's whole domain"] == [
        "Age statistics from alice@university.edu auto-approved",
        "Age statistics from bob@research.org auto-approved",
        "Age statistics from eve@university.edu.example.org waits for review: "
        "eve@university.edu.example.org is not in a trusted domain (research.org, university.edu)",
    ]
    assert sections["tag allowlist: every tag in the list"] == [
        "Weekly report from alice@university.edu auto-approved",
        "Model training from alice@university.edu waits for review: tagged ['training'], "
        "not only ['report', 'statistics']",
        "Untagged from bob@research.org waits for review: tagged with nothing, not only ['report', 'statistics']",
    ]
    size = sections["code-size limit: all files together"]
    assert size[0] == "Small job from bob@research.org auto-approved"
    assert re.fullmatch(
        r"Job with a data file from bob@research\.org waits for review: "
        r"its code is \d+ bytes, over the 4096-byte limit",
        size[1],
    )
    assert sections["only these datasets: what the job says it reads"] == [
        "Census ages from alice@university.edu auto-approved",
        "Census and patients from alice@university.edu waits for review: "
        "it asks for datasets ['patients'], not only ['census']",
    ]
    assert sections["a rule that reads run.sh"] == [
        "Plain script from bob@research.org auto-approved",
        "Installs a package from bob@research.org waits for review: "
        "run.sh uses ['pip'], which a person must look at first",
    ]
    assert sections["the owner's policy: every rule at once"] == [
        "Census ages from bob@research.org auto-approved",
        "Census ages from eve@university.edu.example.org waits for review: "
        "eve@university.edu.example.org is not in a trusted domain (research.org, university.edu)",
        "Census ages from bob@research.org waits for review: run.sh uses ['pip'], which a person must look at first",
    ]
    raised = sections["a rule that raises: the job is left pending and the error is logged"]
    assert re.fullmatch(r"log: ERROR auto-approval callback raised for job \w+; left pending", raised[0])
    assert raised[1:3] == [
        "KeyError: 'ticket'",
        "Free-text description from alice@university.edu waits for review: the rule raised (logged above)",
    ]
    assert "by hand: the server kept serving" in raised[3]

    results = sections["results of the approved jobs"]
    assert len(results) == 8  # seven approved by a rule, one by hand
    assert all(line.endswith("completed stats.txt=n=4 mean_age=37.5") for line in results), results
    assert results[-1].startswith("Free-text description from alice@university.edu")


def test_basic_usage_to_an_owner_without_a_syftbox_identity_says_how_to_set_one(tmp_path: Path) -> None:
    done = run("basic_usage.py", no_identity(tmp_path), tmp_path, "--to", OWNER)
    assert done.returncode == 1
    assert "No SyftBox identity found" in done.stderr and "SYFTBOX_EMAIL" in done.stderr
    assert "Traceback" not in done.stderr


def test_basic_usage_to_an_owner_with_no_queue_says_to_start_one_and_sends_nothing(tmp_path: Path) -> None:
    root = tmp_path / "SyftBox"
    done = run("basic_usage.py", identity(ALICE, root), tmp_path, "--to", OWNER, "--timeout", "1")
    assert done.returncode == 1
    assert done.stderr == (
        f"no queue at {OWNER}'s datasite (or it has not synced yet): a job sent there never runs. "
        f"Ask {OWNER} to start their queue server (examples/server_setup.py or scq serve), then run this again.\n"
    )
    assert len(scq.create_client(email=ALICE, data_dir=root).list_jobs()) == 0


def test_basic_usage_to_an_owner_whose_server_stopped_says_what_it_waits_for(tmp_path: Path) -> None:
    root = tmp_path / "SyftBox"
    served = run("server_setup.py", no_identity(tmp_path), tmp_path, "--root", str(root), "--seconds", "0.5")
    assert served.returncode == 0, served.stderr
    done = run("basic_usage.py", identity(ALICE, root), tmp_path, "--to", OWNER, "--timeout", "1")
    assert done.returncode == 1
    assert f"{OWNER}'s queue: offline since " in done.stdout
    assert "is still pending after 1 s: the owner's queue server has not picked it up: ask them to start it" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
