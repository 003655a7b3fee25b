"""The runner API as owners use it: the original constructor, custom runners, clear errors for
bad options, and submissions that try to smuggle a link to the owner's files past acceptance."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from helpers import OWNER, wait_for

import syft_code_queue as scq
from syft_code_queue.models import JobRef
from syft_code_queue.runner import CodeRunner, JobRun, RunResult, SafeCodeRunner
from syft_code_queue.runner.launcher import JobIds
from syft_code_queue.runner.limits import SandboxPolicy
from syft_code_queue.runner.staging import staging_parent


def test_the_original_readme_constructor_still_works() -> None:
    runner = SafeCodeRunner(
        timeout=300,
        max_output_size=10 * 1024 * 1024,
        blocked_commands=["rm", "sudo", "passwd"],
        allowed_commands=["python", "pip", "echo"],
    )
    assert runner.timeout == 300 and runner.max_output_size == 10 * 1024 * 1024
    assert runner.blocked_commands == {"rm", "sudo", "passwd"}
    assert runner.policy == SandboxPolicy()  # every limit at its documented default


def test_limits_are_keywords_after_the_original_four() -> None:
    runner = SafeCodeRunner(60, 1024, ["rm"], None, max_processes=20, allow_network=True, sandbox="none")
    assert (runner.policy.max_processes, runner.policy.allow_network, runner.policy.sandbox) == (20, True, "none")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_mem": 1}, "unknown SafeCodeRunner option 'max_mem'"),
        ({"max_processes": 0}, "max_processes"),
        ({"sandbox": "docker"}, "sandbox"),
        ({"sandbox": "none", "require_sandbox": True}, "require_sandbox=True contradicts sandbox='none'"),
        ({"timeout": -1}, "timeout must be a positive number"),
    ],
)
def test_bad_options_are_a_clear_error(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SafeCodeRunner(**options)


def test_a_custom_code_runner_still_runs_jobs(server_factory, client, make_code) -> None:
    seen: list[str] = []

    class CustomRunner(CodeRunner):
        def run_job(self, job: JobRun) -> RunResult:
            seen.append(job.name)
            return super().run_job(job)

    server = server_factory(runner=CustomRunner(), auto_approval_enabled=True).start()
    job = client.submit_code(
        OWNER, make_code('echo custom > "$SYFT_OUTPUT_DIR/out.txt"\n'), name="custom", auto_approval=True
    )
    assert wait_for(server, job.uid).status == scq.JobStatus.completed
    assert seen == ["custom"]
    assert (server.get_job_output(job.uid) / "out.txt").read_text() == "custom\n"
    assert "no sandbox and no resource limits" in CustomRunner().warnings()[0]


def test_the_plain_runner_also_kills_a_timed_out_jobs_whole_tree(server_factory, client, make_code) -> None:
    token = f"scq-plain-{uuid.uuid4().hex[:12]}"
    server = server_factory(runner=CodeRunner(timeout=1), auto_approval_enabled=True).start()
    code = make_code(f"setsid bash -c 'trap \"\" TERM; exec -a {token} sleep 300' &\nsleep 300\n")
    job = client.submit_code(OWNER, code, name="plain", auto_approval=True)
    assert wait_for(server, job.uid).error == "timed out after 1 s"
    assert not any(token.encode() in _cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit())


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_submission_with_a_linked_folder_is_refused_at_acceptance(
    server_factory, client, make_code, tmp_path
) -> None:
    """The client never sends links, but a hostile requester writes files by hand: here a
    folder of the code is swapped for a link to a look-alike folder elsewhere, with the same
    bytes, so the manifest still matches."""
    code = make_code("cat data/a.txt\n", extra={"data/a.txt": "public\n"})
    job = client.submit_code(OWNER, code, name="linked", auto_approval=True)
    server = server_factory(auto_approval_enabled=True)
    inbox_code = server.store.layout.job(JobRef(job.requester_email, job.uid)).code_dir
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(inbox_code / "data", elsewhere)
    shutil.rmtree(inbox_code / "data")
    (inbox_code / "data").symlink_to(elsewhere)
    server.start()
    refused = wait_for(server, job.uid)
    assert refused.status == scq.JobStatus.rejected
    assert "data/a.txt goes through a symlink" in refused.error


def test_a_manifest_path_that_escapes_the_code_folder_is_refused(server_factory, client, make_code) -> None:
    job = client.submit_code(OWNER, make_code("echo hi\n"), name="escape", auto_approval=True)
    server = server_factory(auto_approval_enabled=True)
    job_file = server.store.layout.job(JobRef(job.requester_email, job.uid)).job_file
    document = json.loads(job_file.read_text())
    document["files"].append({"path": "../../../review/x", "size": 1, "sha256": "0" * 64})
    job_file.write_text(json.dumps(document))
    server.start()
    deadline = time.monotonic() + 30
    while (state := server.store.read_state(JobRef(job.requester_email, job.uid))) is None:
        assert time.monotonic() < deadline, "the submission was never settled"
        time.sleep(0.05)
    assert state.status == scq.JobStatus.rejected  # its job.json no longer parses as a Job
    assert "must be relative and stay inside the folder" in (state.error or "")


def test_a_fifo_in_the_code_folder_is_refused(make_code) -> None:
    code = make_code("echo hi\n")
    os.mkfifo(code / "pipe")
    assert CodeRunner().check_code(code, None) == [  # type: ignore[arg-type]
        "pipe is not a regular file; only regular files and folders are accepted"
    ]


def test_jobs_that_run_as_their_own_uid_need_a_reachable_temporary_folder(tmp_path, monkeypatch) -> None:
    private = tmp_path / "private-tmp"
    private.mkdir()
    private.chmod(0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with pytest.raises(RuntimeError, match="is not searchable by other users; point TMPDIR at"):
        staging_parent(JobIds(1_900_000_000, 1_900_000_000))
