"""Hostile jobs against SafeCodeRunner: each test is an attack a requester could send, run for
real, and what the data owner must still be able to rely on afterwards.

Most attacks run twice: inside bubblewrap, and without it (``sandbox="none"``, the fallback when
bubblewrap is missing), where only the supervisor, the rlimits and the clean environment hold.
Attacks that only the sandbox stops (reading the owner's files, the network) run with it only.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
from helpers import ALICE, NOBODY, OWNER, as_ordinary_user, need, ordinary_user_folder, wait_for

import syft_code_queue as scq
from syft_code_queue.filesystem import make_folders, remove_tree, walk
from syft_code_queue.models import Job, JobRef, JobRequest, utcnow
from syft_code_queue.protocol.manifest import build_manifest, copy_verified
from syft_code_queue.runner import CodeRunner, JobRun, RunResult, SafeCodeRunner
from syft_code_queue.runner.base import TRUNCATION_MARKER
from syft_code_queue.runner.launcher import JobIds
from syft_code_queue.runner.python import serving_python
from syft_code_queue.runner.staging import staging_parent

MiB = 1024 * 1024


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(params=["bwrap", "none"])
def sandbox(request: pytest.FixtureRequest) -> str:
    if request.param == "bwrap":
        need("bwrap")
    return request.param


@pytest.fixture
def bwrap() -> str:
    need("bwrap")
    return "bwrap"


def safe_runner(sandbox: str, **options: object) -> SafeCodeRunner:
    runner = SafeCodeRunner(sandbox=sandbox, **options)  # type: ignore[arg-type]
    if sandbox == "bwrap":
        path, problem = runner.bubblewrap.status()
        assert path is not None, f"bubblewrap is installed but does not work here: {problem}"
    return runner


@dataclass
class Ran:
    result: RunResult
    run: JobRun
    elapsed: float

    @property
    def stdout(self) -> str:
        return self.run.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.run.stderr_path.read_text(errors="replace")

    @property
    def logs(self) -> str:
        return self.stdout + self.stderr

    def outputs(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.run.output_dir).as_posix(): p.read_bytes()
            for p in self.run.output_dir.rglob("*")
            if p.is_file()
        }


def prepare_run(code: Path, tmp_path: Path, timeout: float = 30) -> JobRun:
    """A code folder as the server hands it to a runner: a verified scratch copy."""
    files = build_manifest(code)
    request = JobRequest(
        uid=uuid.uuid4().hex,
        name="hostile",
        requester_email=ALICE,
        target_email=OWNER,
        created_at=utcnow(),
        files=files,
    )
    base = tmp_path / f"run-{request.uid[:8]}"
    copy_verified(code, base / "code", files)
    return JobRun(
        job=Job(request=request),
        code_dir=base / "code",
        output_dir=base / "outputs",
        stdout_path=base / "stdout.txt",
        stderr_path=base / "stderr.txt",
        home_dir=base / "home",
        timeout=timeout,
    )


def run_job(runner: CodeRunner, code: Path, tmp_path: Path, timeout: float = 30) -> Ran:
    """Run a code folder the way the server does: a verified scratch copy, then ``run_job``."""
    run = prepare_run(code, tmp_path, timeout)
    start = time.monotonic()
    result = runner.run_job(run)
    return Ran(result, run, time.monotonic() - start)


def processes_with(token: str) -> list[int]:
    """Live processes whose command line holds ``token`` (zombies have none)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def descendants_of_this_process() -> int:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    count = 0
    for pid in parents:
        p = parents.get(pid)
        while p and p != os.getpid():
            p = parents.get(p)
        count += p == os.getpid()
    return count


class Sampler(threading.Thread):
    """Samples a number while a job runs and keeps the largest value seen."""

    def __init__(self, measure: Callable[[], int]) -> None:
        super().__init__(daemon=True)
        self.measure, self.peak, self.done = measure, 0, threading.Event()

    def __enter__(self) -> "Sampler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.measure())
            time.sleep(0.05)


# --- timeouts: nothing outlives the job ---------------------------------------------------


def test_a_timed_out_job_and_every_process_it_hid_are_gone_within_a_second(sandbox, make_code, tmp_path):
    token = f"scq-hostile-{uuid.uuid4().hex[:12]}"
    code = make_code(
        f"""
        trap '' TERM HUP INT
        setsid bash -c 'trap "" TERM; exec -a {token}-setsid sleep 300' &
        nohup bash -c 'trap "" TERM HUP; exec -a {token}-nohup sleep 300' >/dev/null 2>&1 &
        (setsid bash -c 'trap "" TERM; exec -a {token}-daemon sleep 300' & disown) &
        exec -a {token}-main sleep 300
        """
    )
    runner = safe_runner(sandbox, timeout=2)
    with Sampler(lambda: len(processes_with(token))) as seen:
        ran = run_job(runner, code, tmp_path)
    assert seen.peak >= 4, "the hostile processes never started"
    assert ran.result.error == "timed out after 2 s"
    assert ran.elapsed < 2 + 1
    assert processes_with(token) == []


def test_the_jobs_leftovers_are_killed_when_run_sh_exits_early(sandbox, make_code, tmp_path):
    token = f"scq-leftover-{uuid.uuid4().hex[:12]}"
    code = make_code(f"setsid bash -c 'trap \"\" TERM; exec -a {token} sleep 300' &\nsleep 0.5\necho bye\n")
    ran = run_job(safe_runner(sandbox), code, tmp_path)
    assert ran.result.succeeded and ran.stdout == "bye\n"
    assert processes_with(token) == []


def test_cancelling_a_running_job_kills_its_tree(sandbox, server_factory, client, make_code):
    token = f"scq-cancel-{uuid.uuid4().hex[:12]}"
    server = server_factory(runner=safe_runner(sandbox), auto_approval_enabled=True).start()
    code = make_code(f"setsid bash -c 'trap \"\" TERM; exec -a {token} sleep 300' &\nsleep 300\n")
    job = client.submit_code(OWNER, code, name="to cancel", auto_approval=True)
    _until(lambda: processes_with(token))
    server.cancel_job(job.uid, reason="changed my mind")
    assert wait_for(server, job.uid).status == scq.JobStatus.cancelled
    assert processes_with(token) == []


def test_when_the_server_process_dies_its_jobs_die_too(sandbox, make_code, tmp_path):
    token = f"scq-orphan-{uuid.uuid4().hex[:12]}"
    code = make_code(
        f"setsid bash -c 'trap \"\" TERM; exec -a {token} sleep 300' &\n"
        f'echo private > "$SYFT_OUTPUT_DIR/{token}"\nsleep 300\n'
    )
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_THAT_WILL_DIE, sandbox, str(code), str(tmp_path)], cwd=Path(__file__).parents[1]
    )
    try:
        _until(lambda: processes_with(token))
    finally:
        server.kill()  # SIGKILL: no clean-up code of ours runs in that process
        server.wait()
    _until(lambda: not processes_with(token), timeout=5)

    # What it left on disk (the job's outputs) is swept when the next job starts.
    parent = staging_parent(JobIds(0, 0) if os.geteuid() == 0 else None)
    assert list(parent.glob(f"*/outputs/{token}")), "the dead server's staging folder should be there"
    assert run_job(safe_runner(sandbox), make_code("echo next\n"), tmp_path).result.succeeded
    assert not list(parent.glob(f"*/outputs/{token}"))


_SERVER_THAT_WILL_DIE = """
import sys, threading
from pathlib import Path
sys.path[:0] = [".", "tests"]
from test_hostile_jobs import run_job
from syft_code_queue.runner import SafeCodeRunner
sandbox, code, tmp = sys.argv[1:]
threading.Thread(target=run_job, args=(SafeCodeRunner(sandbox=sandbox), Path(code), Path(tmp))).start()
"""


def _until(condition: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# --- output: capped on disk, flat in memory ----------------------------------------------


def test_a_gigabyte_of_output_is_capped_and_does_not_grow_the_servers_memory(sandbox, make_code, tmp_path):
    code = make_code("head -c 1G /dev/zero\necho done >&2\n")
    runner = safe_runner(sandbox, max_output_size=1 * MiB)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter
    before = _status_kib("VmRSS")
    ran = run_job(runner, code, tmp_path)
    growth_mib = (_status_kib("VmHWM") - before) / 1024
    assert ran.result.succeeded and ran.result.truncated
    assert ran.run.stdout_path.stat().st_size == 1 * MiB + len(TRUNCATION_MARKER % MiB)
    assert ran.stdout.endswith((TRUNCATION_MARKER % MiB).decode())
    assert ran.stderr == "done\n"
    assert growth_mib < 32, f"server RSS grew by {growth_mib:.0f} MiB while the job printed 1 GiB"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def test_an_outputs_folder_over_its_cap_stops_the_job_and_returns_nothing(sandbox, make_code, tmp_path):
    code = make_code(
        """
        for i in 1 2 3; do head -c 700K /dev/zero > "$SYFT_OUTPUT_DIR/part$i"; done
        sleep 60
        """
    )
    ran = run_job(safe_runner(sandbox, max_outputs_size=1 * MiB), code, tmp_path)
    assert "the job was stopped" in (ran.result.error or "")  # by the watchdog, not the timeout
    assert "max_outputs_size" in (ran.result.error or "")
    assert ran.outputs() == {}


def test_a_file_larger_than_max_file_size_cannot_be_written(sandbox, make_code, tmp_path):
    code = make_code('head -c 3M /dev/zero > "$TMPDIR/big"\n')
    ran = run_job(safe_runner(sandbox, max_file_size=1 * MiB), code, tmp_path)
    assert ran.result.exit_code == 153
    assert "max_file_size" in (ran.result.error or "")


def test_filling_home_and_tmp_stops_the_job(sandbox, make_code, tmp_path):
    code = make_code(
        """
        for i in 1 2 3 4; do head -c 700K /dev/zero > "$HOME/f$i"; head -c 700K /dev/zero > "$TMPDIR/f$i"; done
        sleep 60
        """
    )
    ran = run_job(safe_runner(sandbox, max_scratch_size=2 * MiB), code, tmp_path)
    assert "max_scratch_size" in (ran.result.error or "")  # by the watchdog, not the timeout


def test_shared_memory_is_scratch_too(sandbox, make_code, tmp_path):
    """Every writable place is counted or capped: a job filling ``/dev/shm`` (600 MiB past a
    64 MiB ``max_scratch_size`` before) is held to the cap, and the host's shared memory
    does not grow. In bubblewrap ``/dev/shm`` is the job's own tmpfs of that size (without
    ``--size`` it takes what the host has); without it a root server's watchdog counts what
    the job's own uid owns there (without that, the job runs to its end)."""
    if sandbox == "none" and os.geteuid() != 0:
        pytest.skip("without a sandbox or a uid of its own, a job's /dev/shm files are the owner's (see README)")
    token = uuid.uuid4().hex[:12]
    code = make_code(
        f"""
        head -c 24M /dev/zero > /dev/shm/scq-{token}-a || echo "refused: $?"
        head -c 24M /dev/zero > /dev/shm/scq-{token}-b || echo "refused: $?"
        sleep 5
        """
    )
    with Sampler(lambda: shutil.disk_usage("/dev/shm").used) as shm:
        before = shutil.disk_usage("/dev/shm").used
        ran = run_job(safe_runner(sandbox, max_scratch_size=16 * MiB), code, tmp_path, timeout=20)
    if sandbox == "bwrap":
        assert "refused" in ran.stdout and "No space left on device" in ran.stderr, ran.logs
        assert shm.peak - before < 8 * MiB  # none of it in the host's shared memory
    else:
        assert "max_scratch_size" in (ran.result.error or ""), ran.logs
        assert ran.elapsed < 5, "stopped by the watchdog"
    assert not list(Path("/dev/shm").glob(f"scq-{token}-*")), "nothing is left behind"


def test_folders_nested_thousands_deep_fail_nothing_and_leave_nothing(sandbox, make_code, tmp_path):
    """Class: trees a job controls walked or removed with recursion (outputs, home, tmp:
    1,000 levels gave "maximum recursion depth exceeded", a staging folder left behind
    locked, and every later job failing). Putting back ``shutil.rmtree`` or the recursive
    walk in ``filesystem.py`` fails the first job; the second shows nothing was left."""
    code = make_code(
        """
        for top in "$SYFT_OUTPUT_DIR" "$HOME" "$TMPDIR"; do
            cd "$top"; mkdir -p "$(printf 'd/%.0s' $(seq 1200))"; echo deep > "$(printf 'd/%.0s' $(seq 1200))leaf.txt"
        done
        echo nested
        """
    )
    runner = safe_runner(sandbox)
    ran = run_job(runner, code, tmp_path)
    try:
        assert ran.result.exit_code == 0 and ran.result.error is None, ran.logs
        leaf = [name for name, _ in walk(ran.run.output_dir) if name.endswith("leaf.txt")]
        assert len(leaf) == 1 and leaf[0].count("/") == 1200
        again = run_job(runner, make_code("echo again"), tmp_path)
        assert again.stdout == "again\n", again.logs
    finally:  # removed here, without recursion: the temporary folders' own cleanup recurses
        remove_tree(ran.run.output_dir.parent)


def test_a_leftover_staging_folder_never_fails_a_new_job(sandbox, make_code, tmp_path):
    """Class: what a dead server left under the shared staging parent (nested thousands
    deep, with folders a job took the permissions of). It is swept, or logged when it
    resists, and the new job runs: before, the sweep raised into every new job."""
    parent = staging_parent(JobIds(0, 0) if os.geteuid() == 0 else None)  # where the runner stages
    made = tmp_path / "leftover"  # made aside, then moved in whole: other servers sweep there too
    deep = made / "outputs"
    deep.mkdir(parents=True)
    (made / ".in-use").write_text("")  # a lock file nobody holds: its server is gone
    leftover = parent / f"job-left-{uuid.uuid4().hex[:8]}"
    try:
        make_folders(os.path.join(deep, *["d"] * 1200))
        os.chmod(deep / "d", 0)
        os.rename(made, leftover)
        ran = run_job(safe_runner(sandbox), make_code("echo fine"), tmp_path)
        assert ran.stdout == "fine\n", ran.logs
        assert not leftover.exists()
    finally:  # whatever the sweep left, removed without recursion (see above)
        remove_tree(made)
        remove_tree(leftover)


# --- resource limits -------------------------------------------------------------------


def test_the_limits_are_in_force_inside_the_job(sandbox, make_code, tmp_path):
    code = make_code("cat /proc/self/limits\n")
    runner = safe_runner(
        sandbox, max_cpu_time=7, max_memory=300 * MiB, max_processes=42, max_open_files=99, max_file_size=5 * MiB
    )
    limits = {line[:26].strip(): line[26:].split()[:2] for line in run_job(runner, code, tmp_path).stdout.splitlines()}
    assert limits["Max cpu time"] == ["7", "8"]  # SIGXCPU at 7 s, SIGKILL at 8 s
    assert limits["Max address space"] == [str(300 * MiB)] * 2
    assert limits["Max processes"] == ["42", "42"]
    assert limits["Max open files"] == ["99", "99"]
    assert limits["Max file size"] == [str(5 * MiB)] * 2
    assert limits["Max core file size"] == ["0", "0"]


def test_a_cpu_burner_is_stopped_by_the_cpu_limit(sandbox, make_code, tmp_path):
    code = make_code("while :; do :; done\n")
    ran = run_job(safe_runner(sandbox, max_cpu_time=1, timeout=20), code, tmp_path)
    assert ran.result.exit_code == 152
    assert "CPU time limit" in (ran.result.error or "")


def test_a_memory_bomb_fails_alone(sandbox, make_code, tmp_path):
    code = make_code("x=$(head -c 1G /dev/zero | tr '\\0' x)\necho survived ${#x}\n")
    ran = run_job(safe_runner(sandbox, max_memory=128 * MiB), code, tmp_path)
    assert not ran.result.succeeded
    assert "cannot allocate" in ran.stderr
    assert "survived" not in ran.stdout


def test_a_fork_bomb_is_contained_and_the_server_keeps_serving(sandbox, server_factory, client, make_code):
    if sandbox == "none" and os.geteuid() != 0:
        pytest.skip("without the sandbox the process limit is per job only when the server is root")
    runner = safe_runner(sandbox, timeout=4, max_processes=40)
    server = server_factory(runner=runner, max_concurrent_jobs=2, auto_approval_enabled=True).start()
    bomb = client.submit_code(
        OWNER, make_code("bomb() { bomb | bomb & }\nbomb\nsleep 60\n"), name="fork bomb", auto_approval=True
    )
    with Sampler(descendants_of_this_process) as processes:
        time.sleep(1)  # let the bomb hit its ceiling first
        normal = client.submit_code(
            OWNER,
            make_code('for i in $(seq 20); do /bin/true; done\necho fine > "$SYFT_OUTPUT_DIR/ok.txt"\n'),
            name="normal",
            auto_approval=True,
        )
        assert wait_for(server, normal.uid, timeout=20).status == scq.JobStatus.completed
        assert wait_for(server, bomb.uid).error == "timed out after 4 s"
    assert (server.get_job_output(normal.uid) / "ok.txt").read_text() == "fine\n"
    assert processes.peak <= 40 + 30, f"{processes.peak} processes under the server at once"


# --- the environment -------------------------------------------------------------------


def test_the_job_sees_none_of_the_owners_environment(sandbox, make_code, tmp_path, monkeypatch):
    secret = f"owner-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("OWNER_API_KEY", secret)
    code = make_code("env\ncat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'\nexit 0\n")
    ran = run_job(safe_runner(sandbox), code, tmp_path)
    assert ran.result.succeeded
    env = dict(line.split("=", 1) for line in ran.stdout.splitlines()[: _env_lines(ran.stdout)])
    assert set(env) - {"PWD", "SHLVL", "_"} == {
        "SYFT_JOB_ID",
        "SYFT_JOB_NAME",
        "SYFT_OUTPUT_DIR",
        "SYFT_REQUESTER",
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
    }
    # the job's own bin folder (its `python`, on a root server whose interpreter is private), then the system's
    job_bin, _, system_path = env["PATH"].partition(":")
    assert env["SYFT_REQUESTER"] == ALICE and system_path == "/usr/local/bin:/usr/bin:/bin"
    assert job_bin == "/job/bin" if sandbox == "bwrap" else job_bin.endswith("/bin")
    assert secret not in ran.logs


def _env_lines(stdout: str) -> int:
    lines = stdout.splitlines()
    return next(i for i, line in enumerate(lines) if line.startswith("_=")) + 1


# --- the file system (sandbox only) ------------------------------------------------------


def test_a_job_that_hunts_for_secrets_finds_none_and_cannot_write_outside(
    bwrap, root, make_code, tmp_path, monkeypatch
):
    token = uuid.uuid4().hex
    owner_home = tmp_path / "owner-home"
    (owner_home / ".ssh").mkdir(parents=True)
    (owner_home / ".ssh" / "id_ed25519").write_text(f"home-secret-{token}")
    monkeypatch.setenv("HOME", str(owner_home))
    private = root / "datasites" / OWNER / "private" / "patients.csv"
    private.parent.mkdir(parents=True)
    private.write_text(f"datasite-secret-{token}")
    shadow = Path("/etc/shadow").read_text().splitlines()[0] if os.access("/etc/shadow", os.R_OK) else None
    targets = [str(owner_home / ".ssh" / "id_ed25519"), str(private), "/etc/shadow", "/root/.bash_history"]
    code = make_code(
        f"""
        for f in {" ".join(targets)}; do cat "$f"; done
        ls -a / /root /home {root} {owner_home}
        half={token[:16]}  # the token is spelled in two halves so the job's own code never matches
        grep -rs "secret-$half{token[16:]}" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr
        for d in /usr /etc "$PWD" {root} {owner_home} /job; do echo pwned > "$d/pwned-{token}"; done
        echo "pwned:x:0:0::/:/bin/bash" >> /etc/passwd  # shared by every job's sandbox, read-only
        echo kept > "$SYFT_OUTPUT_DIR/kept.txt"
        exit 0
        """
    )
    ran = run_job(safe_runner("bwrap"), code, tmp_path)
    assert ran.result.succeeded
    assert f"secret-{token}" not in ran.stdout
    assert shadow is None or shadow not in ran.logs
    assert "/etc/shadow: No such file or directory" in ran.stderr
    assert ran.outputs() == {"kept.txt": b"kept\n"}
    for place in ("/usr", "/etc", str(root), str(owner_home)):
        assert not Path(place, f"pwned-{token}").exists()
    assert (
        ran.stderr.count("Read-only file system")
        + ran.stderr.count("Permission denied")
        + ran.stderr.count("No such file or directory")
        >= 7
    )
    after = run_job(safe_runner("bwrap"), make_code("cat /etc/passwd\n"), tmp_path)
    assert after.stdout.startswith("job:x:1000:") and "pwned" not in after.stdout


def test_no_network_inside_the_sandbox_unless_the_owner_allows_it(bwrap, make_code, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    code = make_code(f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected\n")
    try:
        closed = run_job(safe_runner("bwrap"), code, tmp_path)
        opened = run_job(safe_runner("bwrap", allow_network=True), code, tmp_path)
    finally:
        listener.close()
    assert closed.stdout == "" and "Connection refused" in closed.stderr
    assert opened.stdout == "connected\n"


def test_blocked_programs_are_unavailable_inside_the_sandbox(bwrap, make_code, tmp_path):
    code = make_code('touch victim\n"$(echo rm)" -f victim && echo removed\n/usr/bin/rm --version\n')
    ran = run_job(safe_runner("bwrap", blocked_commands=["rm"]), code, tmp_path)
    assert "removed" not in ran.stdout
    assert ran.stderr.count("Permission denied") == 2


def test_an_allowlist_is_the_sandboxs_whole_path(bwrap, make_code, tmp_path):
    code = make_code("echo builtin works\ncat run.sh > /dev/null && echo cat works\nls\n")
    ran = run_job(safe_runner("bwrap", allowed_commands=["cat"]), code, tmp_path)
    assert ran.stdout == "builtin works\ncat works\n"
    assert "ls: command not found" in ran.stderr


# --- without the sandbox ---------------------------------------------------------------


def test_without_bubblewrap_the_server_warns_and_a_required_sandbox_fails_jobs_clearly(
    server_factory, client, make_code, monkeypatch, tmp_path, caplog
):
    empty = tmp_path / "no-bwrap-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # bubblewrap is not installed, as far as the server can tell
    runner = SafeCodeRunner(require_sandbox=True)
    with caplog.at_level("WARNING", logger="syft_code_queue.server"):
        server = server_factory(runner=runner, auto_approval_enabled=True).start()
    assert "require_sandbox=True but the sandbox is unavailable" in caplog.text
    job = client.submit_code(OWNER, make_code("echo should not run\n"), name="needs sandbox", auto_approval=True)
    failed = wait_for(server, job.uid)
    assert failed.status == scq.JobStatus.failed
    assert failed.error == (
        "not run: the sandbox is required (require_sandbox=True) but unavailable: bubblewrap (bwrap) is not installed"
    )

    fallback = SafeCodeRunner()
    assert fallback.warnings()[0].startswith("jobs run WITHOUT a sandbox (bubblewrap (bwrap) is not installed)")
    assert "sandbox=none (bubblewrap (bwrap) is not installed)" in fallback.describe()


def test_without_the_sandbox_a_root_server_runs_each_job_as_its_own_unprivileged_uid(make_code, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only a root server switches jobs to a dedicated uid")
    code = make_code("id -u\ncat /etc/shadow\n")
    ran = run_job(safe_runner("none"), code, tmp_path)
    assert int(ran.stdout) >= SafeCodeRunner().policy.job_uid_base
    assert "Permission denied" in ran.stderr


def test_removing_a_staging_folder_someone_else_removed_leaves_the_shared_parent_alone(tmp_path):
    """Every job of every server here stages under one parent; a sweeper that finds a folder
    already gone must not take the parent's permissions away from the jobs still running."""
    from syft_code_queue.filesystem import remove_tree

    parent = tmp_path / "jobs"
    parent.mkdir()
    os.chmod(parent, 0o711)
    gone = parent / "job-removed-by-another-sweeper"
    remove_tree(gone)
    assert stat.S_IMODE(parent.stat().st_mode) == 0o711


# --- the approved code: shown to the job, never changed by it ---------------------------

# Every way a job could change the code it runs, tried on each of its files and folders; what
# worked is written to the outputs, with the inode of the run.sh it sees.
ATTACK_PY = """
import json, os
done = []
def attempt(what, action):
    try:
        action()
        done.append(what)
    except OSError:
        pass
for path in ("run.sh", "attack.py", "data.txt", "sub/inner.txt"):
    attempt("append " + path, lambda: open(path, "ab").write(b"evil"))
    attempt("truncate " + path, lambda: os.truncate(path, 0))
    attempt("chmod " + path, lambda: os.chmod(path, 0o777))
    attempt("utime " + path, lambda: os.utime(path, (0, 0)))
    attempt("xattr " + path, lambda: os.setxattr(path, "user.evil", b"1"))
for folder in (".", "sub"):
    attempt("create in " + folder, lambda: open(os.path.join(folder, "new.txt"), "w").write("evil"))
    attempt("chmod " + folder, lambda: os.chmod(folder, 0o777))
attempt("rename data.txt", lambda: os.rename("data.txt", "moved.txt"))
attempt("remove sub/inner.txt", lambda: os.unlink("sub/inner.txt"))
report = {"done": done, "inode": os.stat("run.sh").st_ino}
with open(os.path.join(os.environ["SYFT_OUTPUT_DIR"], "attack.json"), "w") as out:
    json.dump(report, out)
"""
ATTACK_FILES = {"attack.py": ATTACK_PY, "data.txt": "data\n", "sub/inner.txt": "inner\n"}
ATTACK_RUN_SH = "exec python attack.py\n"  # exec: bash reads no more of a run.sh it may have changed


def unchanged(code: Path, files: list) -> list[str]:
    """How ``code`` differs from exactly ``files``, unwritten, as the owner accepted it."""
    from syft_code_queue.protocol.manifest import compare_to_manifest

    problems = [f"not its approved bytes: {p}" for part in compare_to_manifest(code, files) for p in part]
    listed = {entry.path for entry in files}
    for relative, item in walk(code):
        info = item.stat(follow_symlinks=False)
        if not item.is_dir(follow_symlinks=False) and relative not in listed:
            problems.append(f"not approved: {relative}")
        if info.st_mode & 0o022 or info.st_mtime < 1e9 or os.listxattr(item.path, follow_symlinks=False):
            problems.append(f"its mode, time or attributes changed: {relative}")
    return problems


@pytest.mark.parametrize("runner", ["bwrap", "none", "plain"])
def test_a_job_cannot_change_the_approved_code_it_runs(runner, server_factory, client, make_code):
    """The run is handed the owner's accepted copy itself wherever the job cannot change it,
    so no byte of the code is copied: in bubblewrap it is bound read-only; a job running as a
    uid of its own (a root server) is shown hard links to files it can neither write, chmod
    nor remove. A job running as the server's own user without the sandbox (the plain
    ``CodeRunner``; ``SafeCodeRunner`` without bubblewrap on a server that is not root) could
    change a linked file, so it gets a copy of its own to write. Whichever: the accepted copy
    stays exactly what was approved: handed to the plain runner in place, it is changed (the
    test fails), and so it is when copied for the sandbox (the job's inode is then another)."""
    if runner == "bwrap":
        need("bwrap")
    chosen = scq.CodeRunner() if runner == "plain" else safe_runner(runner)
    server = server_factory(auto_approval_enabled=True, runner=chosen).start()
    code = make_code(ATTACK_RUN_SH, extra=ATTACK_FILES)
    job = client.submit_code(OWNER, code, "attack", auto_approval=True)
    done = client.wait_for_job(job.uid, timeout=60)
    assert done.status == scq.JobStatus.completed, done.error
    report = json.loads((client.get_job_output(job.uid) / "attack.json").read_text())
    accepted = server.store.accepted.code_dir(JobRef(ALICE, job.uid))
    assert unchanged(accepted, done.request.files) == []
    in_place = runner == "bwrap" or (runner == "none" and os.geteuid() == 0)
    if in_place:
        assert report["done"] == []
        assert report["inode"] == (accepted / "run.sh").stat().st_ino  # the accepted file itself
    else:
        assert "append data.txt" in report["done"] and "create in ." in report["done"]  # its own copy
        assert report["inode"] != (accepted / "run.sh").stat().st_ino


def test_on_a_server_that_is_not_root_the_job_cannot_change_the_code_either(sandbox, make_code):
    """A server running as an ordinary user runs its jobs as itself. In bubblewrap the code is
    bound read-only in place (the same inode); without it the job could chmod any file of the
    server's, so it runs on a copy (linked instead, the test fails). Run as an ordinary user
    here when the tests run as root."""
    base = ordinary_user_folder()
    code = make_code(ATTACK_RUN_SH, extra=ATTACK_FILES)
    shutil.copytree(code, base / "code")
    if os.geteuid() == 0:
        for relative, _ in [("", None), *walk(base / "code")]:
            os.chown(base / "code" / relative, NOBODY, NOBODY)

    python = serving_python(as_other_user=True)  # one any user can run

    def attack() -> tuple[Optional[str], dict, list[str], int]:
        sys.executable = python.interpreter  # the supervisor server's too: it is standard library only
        run = prepare_run(base / "code", base)
        run.python = python
        result = safe_runner(sandbox).run_job(run)
        report = json.loads((run.output_dir / "attack.json").read_text())
        return result.error, report, unchanged(run.code_dir, run.job.request.files), run.code_dir.stat().st_ino

    try:
        error, report, problems, _ = as_ordinary_user(attack)
        accepted = next(base.glob("run-*/code"))
        inode = (accepted / "run.sh").stat().st_ino
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert error is None
    assert problems == []
    if sandbox == "bwrap":
        assert report["done"] == [] and report["inode"] == inode
    else:
        assert "append data.txt" in report["done"] and report["inode"] != inode


def test_code_on_another_file_system_is_copied_for_a_job_of_its_own_uid(make_code, tmp_path, monkeypatch):
    """Hard links cannot cross file systems: there the job of a root server gets a copy,
    still one it cannot change, and runs as usual."""
    if os.geteuid() != 0:
        pytest.skip("only a root server's jobs, of a uid of their own, are shown links")
    from syft_code_queue.runner import staging

    def across_file_systems(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(staging.os, "link", across_file_systems)
    code = make_code(ATTACK_RUN_SH, extra=ATTACK_FILES)
    ran = run_job(safe_runner("none"), code, tmp_path)
    assert ran.result.succeeded, ran.logs
    report = json.loads(ran.outputs()["attack.json"])
    assert report["done"] == [] and report["inode"] != (ran.run.code_dir / "run.sh").stat().st_ino
    assert unchanged(ran.run.code_dir, ran.run.job.request.files) == []


# --- what namespaces do not cover: the kernel's keyrings ----------------------------------

KEY_PROBE = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
request_key, keyctl = {"x86_64": (249, 250), "aarch64": (218, 219)}[os.uname().machine]
for description in sys.argv[1:]:
    for keyring in (0, -3, -4):  # the default search, then the session and user keyrings by hand
        if keyring:
            key = libc.syscall(keyctl, 10, keyring, b"user", description.encode(), 0)  # KEYCTL_SEARCH
        else:
            key = libc.syscall(request_key, b"user", description.encode(), None, 0)
        if key < 0:
            print(description, keyring, os.strerror(ctypes.get_errno()))
            continue
        buffer = ctypes.create_string_buffer(256)
        size = libc.syscall(keyctl, 11, key, buffer, 256)  # KEYCTL_READ
        print(description, keyring, "read", buffer.raw[: max(size, 0)].decode())
"""


def _add_key(description: str, secret: bytes, keyring: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    add_key = {"x86_64": 248, "aarch64": 217}.get(os.uname().machine)
    if add_key is None:
        pytest.skip(f"no key syscall numbers for {os.uname().machine}")
    key = libc.syscall(add_key, b"user", description.encode(), secret, len(secret), keyring)
    if key < 0:
        pytest.skip(f"this kernel or container refuses keyrings: {os.strerror(ctypes.get_errno())}")
    return key


def test_a_job_cannot_read_the_owners_kernel_keys(sandbox, make_code, tmp_path):
    """A key in the serving process's session keyring (and one in its uid's user keyring) is
    out of a job's reach: namespaces do not change keyrings, so the supervisor gives the job
    a fresh session keyring and a seccomp filter refusing the key system calls. The same
    probe run by the owner's own process reads both keys: that is what the job would do
    without ``supervisor.isolate_keys``."""
    token = uuid.uuid4().hex[:12]
    secret = f"owner-secret-{token}"
    names = [f"scq-session-{token}", f"scq-user-{token}"]
    keys = [_add_key(names[0], secret.encode(), -3), _add_key(names[1], secret.encode(), -4)]
    try:
        (tmp_path / "probe.py").write_text(KEY_PROBE)
        owner_side = subprocess.run(
            [sys.executable, str(tmp_path / "probe.py"), *names], capture_output=True, text=True, check=True
        ).stdout
        assert owner_side.count(f"read {secret}") >= 2, owner_side  # the probe works
        ran = run_job(
            safe_runner(sandbox), make_code(f"python3 probe.py {' '.join(names)}", {"probe.py": KEY_PROBE}), tmp_path
        )
        assert ran.result.exit_code == 0, ran.logs
        assert secret not in ran.logs
        assert ran.stdout.count("Operation not permitted") == 6, ran.stdout
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        for key in keys:
            libc.syscall({"x86_64": 250, "aarch64": 219}[os.uname().machine], 3, key)  # KEYCTL_REVOKE
