"""Jobs start as forks of one long-lived supervisor server, not as new interpreters; these
stories are what must still hold when that server, a job's own supervisor or the owner's
server process is killed, and when many threads start and stop jobs at once.

(The hostile jobs in test_hostile_jobs.py, setsid and daemonised descendants on exit, timeout
and cancel, all run through the supervisor server too.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import need
from test_hostile_jobs import Ran, _until, prepare_run, processes_with, run_job, safe_runner

from syft_code_queue.runner import CodeRunner, RunResult
from syft_code_queue.runner.launcher import LOST, ORPHANED

RUNNERS = ["plain", "bwrap", "none"]


def make_runner(kind: str, **options: object) -> CodeRunner:
    """The runner a parametrised story uses; without bubblewrap the ``bwrap`` case is skipped."""
    if kind == "bwrap":
        need("bwrap")
    return CodeRunner(**options) if kind == "plain" else safe_runner(kind, **options)  # type: ignore[arg-type]


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def supervisor_servers(parent: int) -> list[int]:
    """Live ``supervisor.py --serve`` processes whose parent is ``parent``."""
    found = []
    for pid in processes_with("supervisor.py"):
        try:
            if b"--serve" in Path(f"/proc/{pid}/cmdline").read_bytes() and parent_of(pid) == parent:
                found.append(pid)
        except OSError:
            pass
    return found


def in_background(runner: CodeRunner, code: Path, tmp_path: Path) -> tuple[threading.Thread, dict[str, Ran]]:
    done: dict[str, Ran] = {}
    worker = threading.Thread(target=lambda: done.update(ran=run_job(runner, code, tmp_path)))
    worker.start()
    return worker, done


def test_each_job_gets_its_own_supervisor_forked_from_one_supervisor_server(make_code, tmp_path):
    code = make_code('read -r _ _ _ grandparent _ < /proc/$PPID/stat\necho "$PPID $grandparent"\n')
    seen = [run_job(CodeRunner(), code, tmp_path).stdout.split() for _ in range(3)]
    supervisors = {int(s) for s, _ in seen}
    servers = {int(g) for _, g in seen}
    assert len(supervisors) == 3, "one supervisor per job"
    assert servers == set(supervisor_servers(os.getpid())), "all forked by this process's supervisor server"


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_job_inherits_no_descriptor_but_stdin_stdout_and_stderr(kind, make_code, tmp_path):
    """Its supervisor's reply socket in particular: with it a job could report its own end."""
    ran = run_job(make_runner(kind), make_code("ls /proc/$$/fd\n"), tmp_path)
    assert set(ran.stdout.split()) - {"255"} == {"0", "1", "2"}  # 255: bash's handle on run.sh


@pytest.mark.parametrize("kind", RUNNERS)
def test_a_killed_supervisor_server_fails_the_running_job_kills_its_tree_and_is_replaced(kind, make_code, tmp_path):
    token = f"scq-zygote-{uuid.uuid4().hex[:12]}"
    code = make_code(
        f"setsid bash -c 'trap \"\" TERM; exec -a {token}-setsid sleep 300' &\nexec -a {token}-main sleep 300\n"
    )
    runner = make_runner(kind, timeout=60)
    worker, done = in_background(runner, code, tmp_path)
    _until(lambda: len(processes_with(token)) == 2)
    [server] = supervisor_servers(os.getpid())
    os.kill(server, signal.SIGKILL)
    worker.join(10)

    assert done["ran"].result.error == ORPHANED
    assert processes_with(token) == [], "the job's supervisor killed its tree before it reported"
    after = run_job(runner, make_code("echo still serving\n"), tmp_path)
    assert after.result.succeeded and after.stdout == "still serving\n"
    assert supervisor_servers(os.getpid()) not in ([], [server]), "a new supervisor server runs the jobs"


def test_a_job_whose_supervisor_is_killed_outright_still_loses_its_main_process(make_code, tmp_path):
    """Only the main process has a parent-death signal (its descendants are the supervisor's to
    kill). As root the job runs as a uid of its own, and switching uid clears that signal: it is
    set after the switch."""
    token = f"scq-pdeath-{uuid.uuid4().hex[:12]}"
    worker, done = in_background(safe_runner("none"), make_code(f"exec -a {token} sleep 300\n"), tmp_path)
    _until(lambda: processes_with(token))
    [main] = processes_with(token)
    os.kill(parent_of(main), signal.SIGKILL)
    _until(lambda: not processes_with(token), timeout=5)
    worker.join(10)
    assert done["ran"].result.error == LOST


def test_when_a_server_that_forked_dies_its_jobs_and_supervisors_die_too(make_code, tmp_path):
    """A fork of the server (multiprocessing does this) holds a copy of every descriptor the
    server had; it must not keep the supervisor server, and so the jobs, alive."""
    token = f"scq-forked-{uuid.uuid4().hex[:12]}"
    code = make_code(f"setsid bash -c 'trap \"\" TERM; exec -a {token} sleep 300' &\nsleep 300\n")
    # The token goes in the environment: this test looks for it in command lines.
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER_THAT_FORKS, str(code), str(tmp_path)],
        env={**os.environ, "TOKEN": token},
        cwd=Path(__file__).parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    fork = None
    try:
        fork = int(server.stdout.readline())  # type: ignore[union-attr]
        [supervisor_server] = supervisor_servers(server.pid)
    finally:
        server.kill()  # SIGKILL: no clean-up code of ours runs in that process
        server.wait()
    try:
        _until(lambda: not processes_with(token), timeout=5)
        _until(lambda: not _alive(supervisor_server), timeout=5)  # it exits once its supervisors have
    finally:
        if fork is not None:
            os.kill(fork, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().split(b") ")[1][:1] != b"Z"
    except OSError:
        return False


_SERVER_THAT_FORKS = """
import os, sys, threading, time
from pathlib import Path
sys.path[:0] = [".", "tests"]
from test_hostile_jobs import processes_with, run_job
from syft_code_queue.runner import CodeRunner
code, tmp = sys.argv[1:]
threading.Thread(target=run_job, args=(CodeRunner(), Path(code), Path(tmp))).start()
while not processes_with(os.environ["TOKEN"]):
    time.sleep(0.05)
child = os.fork()
if child == 0:
    time.sleep(300)
    os._exit(0)
print(child, flush=True)
time.sleep(300)
"""


def test_jobs_started_and_stopped_from_many_threads_at_once_each_get_their_own_result(make_code, tmp_path):
    token = f"scq-threads-{uuid.uuid4().hex[:12]}"
    runner = CodeRunner()
    kinds = ["exit", "timeout", "cancel"] * 4

    def one(i: int) -> RunResult:
        if kinds[i] == "exit":
            code = make_code(f"echo {i}\nexit {i}\n")
        else:
            code = make_code(f"echo {i}\nsetsid bash -c 'trap \"\" TERM; exec -a {token}-{i} sleep 300' &\nsleep 300\n")
        run = prepare_run(code, tmp_path, timeout=1.5 if kinds[i] == "timeout" else 30)
        if kinds[i] == "cancel":
            threading.Timer(0.5, run.cancel_event.set).start()
        result = runner.run_job(run)
        assert run.stdout_path.read_text() == f"{i}\n"
        return result

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(len(kinds))))
    for i, (kind, result) in enumerate(zip(kinds, results, strict=True)):
        expected = {
            "exit": (i, None),
            "timeout": (137, "timed out after 1.5 s"),
            "cancel": (137, "cancelled while running"),
        }[kind]
        assert (result.exit_code, result.error) == expected, f"job {i} ({kind})"
    assert processes_with(token) == []
