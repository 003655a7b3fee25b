"""The owner's server: concurrency, timeouts, cleanup, restarts and custom runners."""

from __future__ import annotations

import json
import time
from functools import partial

import pytest
from helpers import ALICE, OWNER, accepted, wait_status

import syft_code_queue as scq
from syft_code_queue import lifecycle
from syft_code_queue.models import JobRef, utcnow
from syft_code_queue.protocol.layout import QueueLayout
from syft_code_queue.server.recovery import RECOVERED_REASON


def test_start_returns_at_once_and_stop_is_clean(server_factory):
    server = server_factory()
    began = time.monotonic()
    server.start()
    assert time.monotonic() - began < 2
    assert server.is_running
    server.stop()
    assert not server.is_running


def test_max_concurrent_jobs_holds(client, server_factory, make_code, tmp_path):
    server_factory(auto_approval_enabled=True, max_concurrent_jobs=2).start()
    code = make_code('date +%s.%N > "$SYFT_OUTPUT_DIR/start"; sleep 0.6; date +%s.%N > "$SYFT_OUTPUT_DIR/end"')
    uids = [client.submit_code(OWNER, code, f"j{i}", auto_approval=True).uid for i in range(4)]
    spans = []
    for uid in uids:
        job = client.wait_for_job(uid, timeout=30)
        assert job.status == scq.JobStatus.completed
        out = client.get_job_output(uid)
        spans.append((float((out / "start").read_text()), float((out / "end").read_text())))
    most_at_once = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most_at_once == 2


def test_timeout_kills_the_whole_process_group(client, server_factory, make_code, tmp_path):
    marker = tmp_path / "child-still-alive"
    server_factory(auto_approval_enabled=True, job_timeout=1).start()
    code = make_code(f"""
        (sleep 3; touch {marker}) &
        sleep 30
    """)
    job = client.submit_code(OWNER, code, "sleeper", auto_approval=True)
    job = client.wait_for_job(job.uid, timeout=30)
    assert job.status == scq.JobStatus.failed
    assert job.error == "timed out after 1 s"
    assert job.duration < 3
    time.sleep(3)
    assert not marker.exists()


def test_cleanup_removes_bulky_data_and_keeps_the_audit(client, server_factory, make_code, root):
    server = server_factory(auto_approval_enabled=True, cleanup_completed_after=0.2, rescan_interval=0.1).start()
    job = client.submit_code(OWNER, make_code('echo hi > "$SYFT_OUTPUT_DIR/out.txt"'), "old", auto_approval=True)
    layout = QueueLayout(root / "datasites", OWNER, "code-queue")
    deadline = time.monotonic() + 10
    while not (server.get_job(job.uid).state and server.get_job(job.uid).state.cleaned_up):
        assert time.monotonic() < deadline, "never cleaned up"
        time.sleep(0.05)
    job = client.get_job(job.uid)
    assert job.status == scq.JobStatus.completed and [t.status for t in job.history][-1] == "completed"
    assert not layout.job(JobRef(ALICE, job.uid)).code_dir.exists()
    assert not layout.job(JobRef(ALICE, job.uid)).outputs_dir.exists()
    assert (
        layout.job(JobRef(ALICE, job.uid)).job_file.exists() and layout.job(JobRef(ALICE, job.uid)).state_file.exists()
    )
    assert client.get_job_output(job.uid) is None
    assert client.get_job_logs(job.uid) is None and server.get_job_logs(job.uid) is None


def test_restart_settles_jobs_that_were_running_and_picks_up_new_ones(client, make_code, root):
    layout = QueueLayout(root / "datasites", OWNER, "code-queue")
    first = client.submit_code(OWNER, make_code("sleep 30"), "interrupted")
    # an earlier server accepted, approved and started it, then died
    dead = scq.create_server(email=OWNER, data_dir=root)
    dead.store.ensure_queue()
    dead.process_once()
    dead.approve_job(first.uid)
    dead.store.update(JobRef(ALICE, first.uid), partial(lifecycle.start, by=OWNER, at=utcnow()))
    later = client.submit_code(OWNER, make_code("echo hello"), "submitted while down")

    server = scq.create_server(email=OWNER, data_dir=root).start()
    try:
        job = client.wait_for_job(first.uid, timeout=10)
        assert job.status == scq.JobStatus.failed
        assert "server stopped while the job was running" in job.error
        server.approve_job(accepted(server, later.uid))
        assert client.wait_for_job(later.uid, timeout=30).status == scq.JobStatus.completed
    finally:
        server.stop()
    history = json.loads(layout.job(JobRef(ALICE, first.uid)).state_file.read_text())["history"]
    assert [t["status"] for t in history].count("running") == 1


def test_a_start_the_server_never_showed_is_not_run_again_after_a_crash(client, make_code, root):
    """A short job is never written as ``running``; its start is only in the owner's private
    journal. A server that died right after such a start must not run the job again."""
    from syft_code_queue.models import utcnow
    from syft_code_queue.server.journal import StartJournal

    ran = root.parent / "ran"
    first = client.submit_code(OWNER, make_code(f"echo once >> {ran}"), "started, then the server died")
    dead = scq.create_server(email=OWNER, data_dir=root)
    dead.store.ensure_queue()
    dead.process_once()
    dead.approve_job(first.uid)
    began = utcnow()
    StartJournal(dead.store.private.start_journal).record(0, ALICE, first.uid, began)

    server = scq.create_server(email=OWNER, data_dir=root).start()
    try:
        job = client.wait_for_job(first.uid, timeout=10)
    finally:
        server.stop()
    assert job.status == scq.JobStatus.failed and job.error.startswith(RECOVERED_REASON)
    assert [(t.status, t.at) for t in job.history][-2:] == [
        (scq.JobStatus.running, began),
        (scq.JobStatus.failed, job.history[-1].at),
    ]
    assert not ran.exists()


def test_a_job_is_shown_running_only_if_it_lasts(client, server_factory, make_code, monkeypatch):
    """Every state version is a file to sync: a job that ends at once goes from approved
    straight to its final state (its history still says when it ran); a longer one is shown
    running while it runs."""
    from syft_code_queue.protocol import owner as store

    written: dict[str, list[str]] = {}
    real_write = store.atomic_write_json

    def recording(path, document, durable=True):
        if path.name == "state.json":
            written.setdefault(path.parent.name, []).append(json.loads(document)["status"])
        return real_write(path, document, durable)

    monkeypatch.setattr(store, "atomic_write_json", recording)
    server_factory(auto_approval_enabled=True, running_shown_after=0.3).start()
    quick = client.submit_code(OWNER, make_code("echo quick"), "quick", auto_approval=True)
    done = client.wait_for_job(quick.uid, timeout=30)
    assert written[quick.uid] == ["approved", "completed"]
    assert [t.status for t in done.history] == ["pending", "approved", "running", "completed"]
    assert done.started_at is not None and done.duration < 0.3

    slow = client.submit_code(OWNER, make_code("sleep 1.5"), "slow", auto_approval=True)
    wait_status(client, slow.uid, scq.JobStatus.running)
    shown = time.monotonic()
    done = client.wait_for_job(slow.uid, timeout=30)
    assert time.monotonic() - shown > 0.8  # seen running well before it ended
    assert written[slow.uid] == ["approved", "running", "completed"]
    assert [t.status for t in done.history] == ["pending", "approved", "running", "completed"]


def test_a_started_job_not_yet_shown_running_is_cancelled_by_stopping_it(client, server_factory, make_code):
    server = server_factory(auto_approval_enabled=True, running_shown_after=3600).start()
    job = client.submit_code(OWNER, make_code("echo begun; sleep 30"), "long", auto_approval=True)
    deadline = time.monotonic() + 10
    while server.get_job_logs(job.uid) != "begun\n":  # the live log of a started job
        assert time.monotonic() < deadline, "never started"
        time.sleep(0.01)
    assert client.get_job(job.uid).status == scq.JobStatus.approved  # started, not shown yet
    server.cancel_job(job.uid, "not needed")
    done = client.wait_for_job(job.uid, timeout=10)
    assert done.status == scq.JobStatus.cancelled and done.error == "not needed"
    assert [t.status for t in done.history][-2:] == ["running", "cancelled"]
    assert done.duration < 5


def test_only_one_server_serves_a_queue(server_factory):
    server_factory().start()
    with pytest.raises(scq.ServerAlreadyRunning, match="already being served"):
        server_factory().start()
    other_queue = server_factory(queue_name="other-queue").start()
    assert other_queue.is_running


def test_stop_records_a_running_job_as_failed(client, server_factory, make_code):
    server = server_factory(auto_approval_enabled=True).start()
    job = client.submit_code(OWNER, make_code("sleep 30"), "long", auto_approval=True)
    wait_status(client, job.uid, scq.JobStatus.running)
    server.stop()
    job = client.get_job(job.uid)
    assert job.status == scq.JobStatus.failed
    assert job.error == "the server was stopped while the job was running"


def test_a_custom_runner_subclass_runs_jobs(client, root, make_code):
    seen = []

    class CustomRunner(scq.CodeRunner):
        def run_job(self, job):
            seen.append(job.name)
            return super().run_job(job)

    server = scq.CodeQueueServer(
        runner=CustomRunner(), config=scq.QueueConfig(auto_approval_enabled=True), email=OWNER, data_dir=root
    ).start()
    try:
        job = client.submit_code(OWNER, make_code("echo custom"), "custom", auto_approval=True)
        assert client.wait_for_job(job.uid, timeout=30).status == scq.JobStatus.completed
    finally:
        server.stop()
    assert seen == ["custom"]


def test_blocked_commands_reject_at_acceptance_naming_the_line(client, root, make_code):
    runner = scq.SafeCodeRunner(
        timeout=300, max_output_size=10 * 1024 * 1024, blocked_commands=["rm", "sudo", "passwd"]
    )
    server = scq.CodeQueueServer(runner=runner, email=OWNER, data_dir=root).start()
    try:
        ok = client.submit_code(OWNER, make_code('echo "Job completed successfully"'), "harmless")
        bad = client.submit_code(OWNER, make_code("echo start\nrm -r -f /tmp/x"), "hostile")
        assert server.get_job(accepted(server, ok.uid)).status == scq.JobStatus.pending
        job = server.get_job(accepted(server, bad.uid))
        assert job.status == scq.JobStatus.rejected
        assert "line 3: 'rm' is a blocked command" in job.error
    finally:
        server.stop()


def test_server_actions_are_safe_from_many_threads(client, server, make_code):
    import threading

    uids = [client.submit_code(OWNER, make_code("echo x"), f"t{i}").uid for i in range(6)]
    for uid in uids:
        accepted(server, uid)
    errors: list[Exception] = []

    def approve_all() -> None:
        for uid in uids:
            try:
                server.approve_job(uid)
            except scq.InvalidTransitionError:
                pass
            except Exception as exc:  # pragma: no cover - would fail the test
                errors.append(exc)

    threads = [threading.Thread(target=approve_all) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for uid in uids:
        job = client.wait_for_job(uid, timeout=30)
        assert job.status == scq.JobStatus.completed
        assert [t.status for t in job.history].count("approved") == 1


def test_the_next_job_finds_nothing_the_previous_one_left_behind(client, server_factory, make_code, tmp_path):
    """Scratch folders are reused from job to job: what a job leaves there (files in its home and
    code folders, links planted in place of those folders) must be gone, and links never followed."""
    keep = tmp_path / "owner-files"
    keep.mkdir()
    (keep / "precious.txt").write_text("mine")
    server_factory(auto_approval_enabled=True, max_concurrent_jobs=1, runner=scq.CodeRunner()).start()
    messy = make_code(f"""
        echo secret > "$HOME/secret.txt"
        echo leftover > left.txt
        mkdir -p "$HOME/deep/er" && ln -s {keep} "$HOME/deep/link"
        ln -s {keep}/precious.txt "$SYFT_OUTPUT_DIR/link.txt"
        cd / && rm -rf "$HOME" && ln -s {keep} "$HOME"
        echo done > "$SYFT_OUTPUT_DIR/out.txt"
    """)
    first = client.submit_code(OWNER, messy, "messy", auto_approval=True)
    assert client.wait_for_job(first.uid, timeout=30).status == scq.JobStatus.completed
    assert sorted(p.name for p in client.get_job_output(first.uid).iterdir()) == ["out.txt"]
    curious = make_code("""
        { ls -A "$HOME"; echo end; } > "$SYFT_OUTPUT_DIR/home.txt"
        { ls -A .; echo end; } > "$SYFT_OUTPUT_DIR/code.txt"
        { ls -A "$SYFT_OUTPUT_DIR"; echo end; } > "$HOME/outputs" && mv "$HOME/outputs" "$SYFT_OUTPUT_DIR/outputs.txt"
        if test -L "$HOME"; then echo linked > "$SYFT_OUTPUT_DIR/home-is-a-link.txt"; fi
    """)
    second = client.submit_code(OWNER, curious, "curious", auto_approval=True)
    assert client.wait_for_job(second.uid, timeout=30).status == scq.JobStatus.completed
    out = client.get_job_output(second.uid)
    assert (out / "home.txt").read_text() == "end\n"
    assert (out / "code.txt").read_text() == "run.sh\nend\n"
    assert (out / "outputs.txt").read_text() == "code.txt\nhome.txt\nend\n"
    assert not (out / "home-is-a-link.txt").exists()
    assert sorted(p.name for p in keep.iterdir()) == ["precious.txt"]
    assert (keep / "precious.txt").read_text() == "mine"


def test_a_code_file_reused_from_the_previous_job_carries_nothing_of_it(client, server_factory, make_code, tmp_path):
    """A slot keeps the emptied code files of a job for the next job's copy (no inode freed and
    made again). Whatever the job did to them (content, mode, extended attributes) is gone, and
    a file it linked elsewhere is never emptied."""
    import sys

    keep = tmp_path / "owner-files"
    keep.mkdir()
    py = sys.executable
    server_factory(auto_approval_enabled=True, max_concurrent_jobs=1, runner=scq.CodeRunner()).start()
    first = make_code(
        f"""
        echo secret >> data.txt && chmod 4777 data.txt
        {py} -c "import os; os.setxattr('data.txt', 'user.note', b'secret')"
        ln run.sh {keep}/linked.sh
        stat -c %i data.txt > "$SYFT_OUTPUT_DIR/inode"
    """,
        extra={"data.txt": "first job's data\n"},
    )
    job = client.submit_code(OWNER, first, "first", auto_approval=True)
    assert client.wait_for_job(job.uid, timeout=30).status == scq.JobStatus.completed
    reused = (client.get_job_output(job.uid) / "inode").read_text()
    second = make_code(f"""
        stat -c %i run.sh > "$SYFT_OUTPUT_DIR/inode"
        stat -c %a run.sh > "$SYFT_OUTPUT_DIR/mode"
        {py} -c "import os; print(os.listxattr('run.sh'))" > "$SYFT_OUTPUT_DIR/xattrs"
        cat run.sh > "$SYFT_OUTPUT_DIR/code"
    """)
    job = client.submit_code(OWNER, second, "second", auto_approval=True)
    assert client.wait_for_job(job.uid, timeout=30).status == scq.JobStatus.completed
    out = client.get_job_output(job.uid)
    assert (out / "inode").read_text() == reused  # the same file, taken over
    assert (out / "mode").read_text() == "600\n"
    assert (out / "xattrs").read_text() == "[]\n"
    assert (out / "code").read_text() == (second / "run.sh").read_text()
    assert (keep / "linked.sh").read_text() == (first / "run.sh").read_text()


def test_what_a_power_cut_could_lose_is_only_what_a_restart_decides_again(
    client, server_factory, make_code, monkeypatch
):
    """Flushing to disk is paid where a restart could not recover: the submission's job.json,
    the owner's decisions, the job's start (never run twice) and the final state. Acceptance
    is derived from the files and the rules, so it is written without waiting for the disk."""
    import os as _os

    flushed: list[str] = []
    real_fsync, real_fdatasync = _os.fsync, _os.fdatasync

    def recording_fdatasync(fd: int) -> None:
        if _os.readlink(f"/proc/self/fd/{fd}").endswith("code-queue.started"):
            flushed.append("started")
        real_fdatasync(fd)

    def recording_fsync(fd: int) -> None:
        name = _os.path.basename(_os.readlink(f"/proc/self/fd/{fd}")).split(".tmp")[0]
        if name.startswith(".state.json"):
            with open(f"/proc/self/fd/{fd}", "rb") as fh:
                flushed.append(json.loads(fh.read())["status"])
        elif name.startswith((".job.json", ".run.sh")):
            flushed.append(name[1:].rsplit(".", 1)[0])
        real_fsync(fd)

    monkeypatch.setattr(_os, "fsync", recording_fsync)
    monkeypatch.setattr(_os, "fdatasync", recording_fdatasync)
    server = server_factory().start()
    job = client.submit_code(OWNER, make_code('echo hi > "$SYFT_OUTPUT_DIR/out.txt"'), "durable")
    assert flushed == ["job.json"]  # run.sh is not: a lost code file reads as never arrived
    accepted(server, job.uid)
    assert flushed == ["job.json"]  # acceptance: decided again after a restart
    server.approve_job(job.uid)
    assert client.wait_for_job(job.uid, timeout=30).status == scq.JobStatus.completed
    assert flushed == ["job.json", "approved", "started", "completed"]  # a short job: never shown running
