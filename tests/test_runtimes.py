"""Runtimes as the owner and the requester use them: the owner declares a runtime or allows
requirements; a job's requirements.txt is resolved at acceptance, its pins recorded for the
review, its environment built once outside the sandbox and reused; inside the job `pip install
-r requirements.txt` finds everything satisfied with no network, and `python` always exists.

Tests marked ``index`` resolve and build against the package index (PyPI); CI reaches it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
from helpers import ALICE, EVE, OWNER, eventually, need, queue_layout, wait_for

import syft_code_queue as scq
from syft_code_queue.cli import main
from syft_code_queue.errors import RequirementsRefused, RuntimeNotFound
from syft_code_queue.governance.trust import TRUST_APPROVER
from syft_code_queue.models import JobRef
from syft_code_queue.protocol.accepted import AcceptedCopies
from syft_code_queue.protocol.layout import EnvironmentPaths
from syft_code_queue.runner.python import JobPython, serving_python
from syft_code_queue.runtimes import owner as runtimes_owner
from syft_code_queue.runtimes import uv
from syft_code_queue.runtimes.cache import EnvironmentCache
from syft_code_queue.runtimes.documents import Lock, RuntimeDeclarations, RuntimeSpec

# A tiny pure-Python package the serving environment does not have (checked below).
PACKAGE = "termcolor"

# The original README's example run.sh, verbatim.
ORIGINAL_RUN_SH = """#!/bin/bash
set -e  # Exit on error

echo "Starting job: $SYFT_JOB_NAME"
echo "Requester: $SYFT_REQUESTER"

# Install dependencies if needed
if [ -f requirements.txt ]; then
    pip install -r requirements.txt
fi

# Run your analysis
python analysis.py

# Save results
echo "Job completed successfully" > "$SYFT_OUTPUT_DIR/status.txt"
cp results.csv "$SYFT_OUTPUT_DIR/"

echo "Output saved to: $SYFT_OUTPUT_DIR"
"""

ANALYSIS_PY = f"""import os
import {PACKAGE}

text = {PACKAGE}.colored("significant", "green", force_color=True)
with open(os.path.join(os.environ["SYFT_OUTPUT_DIR"], "analysis.txt"), "w") as out:
    out.write(repr(text) + "\\n")
print("analysis done with", {PACKAGE}.__name__)
"""


@pytest.fixture(autouse=True)
def environments(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache of environments of this test's own, so a build here is this test's build. On
    a root server it must be reachable by the jobs' uids, as the real one is."""
    base = Path(tempfile.mkdtemp(prefix="scq-test-environments-", dir="/tmp"))
    os.chmod(base, 0o711)
    folder = base / "environments"
    monkeypatch.setattr(runtimes_owner, "shared_environments", lambda: folder)
    yield folder
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def uv_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the owner's side resolved and built (every uv resolution and build)."""
    calls = {"resolve": 0, "build": 0}
    compile_requirements, build_environment = uv.compile_requirements, uv.build_environment

    def counted_compile(*args: object, **kwargs: object) -> str:
        calls["resolve"] += 1
        return compile_requirements(*args, **kwargs)  # type: ignore[arg-type]

    def counted_build(*args: object, **kwargs: object) -> None:
        calls["build"] += 1
        build_environment(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(uv, "compile_requirements", counted_compile)
    monkeypatch.setattr(uv, "build_environment", counted_build)
    return calls


def readme_job(make_code: Callable[..., Path], requirements: str = f"{PACKAGE}\n") -> Path:
    folder = make_code(
        "echo placeholder\n",
        extra={"analysis.py": ANALYSIS_PY, "requirements.txt": requirements, "results.csv": "group,mean\na,1.5\n"},
    )
    (folder / "run.sh").write_text(ORIGINAL_RUN_SH)
    return folder


def refused(server: scq.CodeQueueServer, client: scq.CodeQueueClient, folder: Path, **submit: object) -> str:
    job = client.submit_code(OWNER, folder, name="refused", auto_approval=True, **submit)  # type: ignore[arg-type]
    done = wait_for(server, job.uid)
    assert done.status == scq.JobStatus.rejected
    return done.error or ""


def test_the_package_is_not_in_the_serving_environment() -> None:
    """What the end-to-end tests below prove depends on it."""
    shown = subprocess.run([sys.executable, "-m", "pip", "show", PACKAGE], capture_output=True)
    assert shown.returncode != 0, f"{PACKAGE} is installed in the serving environment; pick another package"


# --- the story -------------------------------------------------------------------------


@pytest.mark.index
def test_the_original_readme_run_sh_installs_its_requirements_with_no_network_in_the_sandbox(
    server_factory, client, make_code, uv_calls
) -> None:
    need("bwrap")
    server = server_factory(auto_approval_enabled=True, allow_requirements=True).start()
    assert server.runner.bubblewrap.status()[0] is not None, "bubblewrap does not work here"
    assert not server.runner.policy.allow_network  # the job itself has no network

    job = client.submit_code(OWNER, readme_job(make_code), name="analysis", auto_approval=True)
    done = wait_for(server, job.uid, timeout=180)

    logs = server.get_job_logs(job.uid) or ""
    assert done.status == scq.JobStatus.completed, logs
    assert "Requirement already satisfied: termcolor" in logs  # pip found it installed, asked no index
    assert "analysis done with termcolor" in logs
    outputs = server.get_job_output(job.uid)
    assert (outputs / "analysis.txt").read_text() == repr("\x1b[32msignificant\x1b[0m") + "\n"
    assert (outputs / "status.txt").read_text() == "Job completed successfully\n"

    # the owner reviewed the pins; the result records the runtime it ran in
    accepted = done.state.runtime
    assert accepted.name == "default" and accepted.requirements
    assert [pin.split("==")[0] for pin in accepted.pins] == ["pip", PACKAGE]  # pip is pinned too
    ran = done.state.result.runtime
    assert (ran.name, ran.python, ran.lock_sha256) == ("default", accepted.python, accepted.lock_sha256)
    assert client.wait_for_job(job.uid).runtime == ran  # and the requester sees the same record
    assert uv_calls == {"resolve": 1, "build": 1}


@pytest.mark.index
def test_a_second_job_with_the_same_requirements_needs_no_resolution_and_no_build(
    server_factory, client, make_code, uv_calls
) -> None:
    server = server_factory(auto_approval_enabled=True, allow_requirements=True).start()
    first = client.submit_code(OWNER, readme_job(make_code), name="first", auto_approval=True)
    assert wait_for(server, first.uid, timeout=180).status == scq.JobStatus.completed
    assert uv_calls == {"resolve": 1, "build": 1}

    # the same requirements, written differently (a comment, spacing): the same resolution
    again = readme_job(make_code, requirements=f"# what analysis.py imports\n  {PACKAGE}  \n")
    second = client.submit_code(OWNER, again, name="second", auto_approval=True)
    done = wait_for(server, second.uid, timeout=60)
    assert done.status == scq.JobStatus.completed, server.get_job_logs(second.uid)
    assert uv_calls == {"resolve": 1, "build": 1}
    assert done.runtime.lock_sha256 == server.get_job(first.uid).runtime.lock_sha256


@pytest.mark.index
def test_a_trust_rule_pins_the_resolved_packages_even_through_a_variable_requirements_file(
    server_factory, client, make_code
) -> None:
    """The owner trusts the README job with requirements.txt allowed to vary. A rerun whose
    requirements resolve into the same lock approves itself; one that names another package
    (the same code otherwise) waits for a person: the approval covered the packages."""
    server = server_factory(allow_requirements=True).start()
    first = client.submit_code(OWNER, readme_job(make_code), name="analysis")
    eventually(lambda: server.get_job(first.uid).state is not None, 120, "the first job's resolution")
    server.approve_job(first.uid, trust=scq.TrustRule(variable_files=("requirements.txt",)))
    assert wait_for(server, first.uid, timeout=180).status == scq.JobStatus.completed
    (rule,) = server.list_trust_rules()
    assert (rule.runtime, rule.lock_sha256) == (None, server.get_job(first.uid).state.runtime.lock_sha256)

    same = client.submit_code(OWNER, readme_job(make_code, requirements=f"# reworded\n{PACKAGE}\n"), name="same")
    assert wait_for(server, same.uid, timeout=120).history[1].by == TRUST_APPROVER

    more = client.submit_code(OWNER, readme_job(make_code, requirements=f"{PACKAGE}\ntext-unidecode\n"), name="more")
    eventually(lambda: server.get_job(more.uid).state is not None, 120, "the third job's resolution")
    assert server.get_job(more.uid).status == scq.JobStatus.pending  # a person decides


@pytest.mark.index
def test_an_owner_declares_a_runtime_that_requesters_list_and_choose(server_factory, client, make_code) -> None:
    server = server_factory(auto_approval_enabled=True).start()
    declared = server.add_runtime("tiny", packages=[PACKAGE])
    assert declared.name == "tiny" and declared.lock_sha256
    assert [pin.split("==")[0] for pin in declared.packages] == ["pip", PACKAGE]

    listed = client.list_runtimes(OWNER)
    assert [r.name for r in listed] == ["default", "tiny"] == [r.name for r in server.list_runtimes()]
    assert listed[1] == declared and listed[0].default and listed[0].lock_sha256 is None

    code = make_code(f'python -c "import {PACKAGE}; print({PACKAGE}.__name__)" > "$SYFT_OUTPUT_DIR/out.txt"\n')
    job = client.submit_code(OWNER, code, name="in tiny", auto_approval=True, runtime="tiny")
    done = wait_for(server, job.uid, timeout=120)
    assert done.status == scq.JobStatus.completed, server.get_job_logs(job.uid)
    assert (server.get_job_output(job.uid) / "out.txt").read_text() == f"{PACKAGE}\n"
    assert done.state.runtime.pins == declared.packages and not done.state.runtime.requirements
    assert done.runtime.name == "tiny" and done.runtime.lock_sha256 == declared.lock_sha256

    # without the runtime, the job gets the default one, which does not have the package
    plain = client.submit_code(OWNER, code, name="default", auto_approval=True)
    assert wait_for(server, plain.uid).status == scq.JobStatus.failed

    server.remove_runtime("tiny")
    assert [r.name for r in client.list_runtimes(OWNER)] == ["default"]
    with pytest.raises(RuntimeNotFound, match="no runtime 'tiny'"):
        server.remove_runtime("tiny")
    with pytest.raises(ValueError, match="offers no runtime 'tiny'; it offers: default"):
        client.submit_code(OWNER, code, name="gone", runtime="tiny")


# --- refusals ------------------------------------------------------------------------


def test_a_forbidden_package_is_refused_before_anything_is_resolved(server_factory, client, make_code, uv_calls):
    server = server_factory(auto_approval_enabled=True, allow_requirements=True, forbidden_packages=("TermColor",))
    server.start()
    error = refused(server, client, readme_job(make_code, requirements="numpy\ntermcolor>=2\n"))
    assert error == (
        "termcolor is on the owner's list of forbidden packages (named in requirements.txt); "
        "remove it from requirements.txt"
    )
    assert uv_calls == {"resolve": 0, "build": 0}


def test_requirements_are_read_from_the_owners_accepted_copy_not_the_inbox(
    server_factory, client, make_code, uv_calls, monkeypatch
):
    """The requester rewrites requirements.txt in the inbox the moment the owner has copied
    the submission: the resolution reads the owner's copy (a forbidden package, refused
    before anything is resolved), not the harmless inbox version. Read from the inbox, the
    job would be resolved against the index instead (and the test fails)."""
    keep = AcceptedCopies.keep

    def keep_then_rewrite(copies: AcceptedCopies, ref: JobRef, request: object, code: Path) -> Path:
        kept = keep(copies, ref, request, code)  # type: ignore[arg-type]
        (code / "requirements.txt").write_text("numpy\n")
        return kept

    monkeypatch.setattr(AcceptedCopies, "keep", keep_then_rewrite)
    server = server_factory(auto_approval_enabled=True, allow_requirements=True, forbidden_packages=("termcolor",))
    server.start()
    error = refused(server, client, readme_job(make_code, requirements="termcolor\n"))
    assert error.startswith("termcolor is on the owner's list of forbidden packages (named in requirements.txt)")
    assert uv_calls == {"resolve": 0, "build": 0}


@pytest.mark.index
def test_a_forbidden_package_pulled_in_by_the_resolution_is_refused(server_factory, client, make_code) -> None:
    # python-slugify depends on text-unidecode
    server = server_factory(allow_requirements=True, forbidden_packages=("text_unidecode",)).start()
    error = refused(server, client, readme_job(make_code, requirements="python-slugify\n"))
    assert error.startswith("text-unidecode is on the owner's list of forbidden packages (required by what")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("termcolor @ https://example.com/termcolor-3.0.0.whl", "is a URL or VCS reference"),
        ("git+https://github.com/termcolor/termcolor.git", "is a URL or VCS reference"),
        ("https://example.com/termcolor.tar.gz", "is a URL or VCS reference"),
        ("./vendored/termcolor", "is a local path"),
        ("/opt/wheels/termcolor-3.0.0.whl", "is a local path"),
        ("-e .", "pip options such as '-e' are not accepted"),
        ("--index-url https://mirror.example.com/simple", "pip options such as '--index-url' are not accepted"),
        ("termcolor >>= 2", "is not a valid requirement"),
    ],
)
def test_requirements_that_reach_past_the_owners_index_are_refused(
    server_factory, client, make_code, uv_calls, line: str, reason: str
) -> None:
    server = server_factory(allow_requirements=True).start()
    error = refused(server, client, readme_job(make_code, requirements=f"numpy\n{line}\n"))
    assert error.startswith(f"requirements.txt line 2 {reason}") or error.startswith(
        f"requirements.txt line 2: {reason}"
    ), error
    assert uv_calls == {"resolve": 0, "build": 0}


@pytest.mark.index
def test_a_resolution_failure_is_refused_with_uvs_reason(server_factory, client, make_code) -> None:
    server = server_factory(allow_requirements=True).start()
    error = refused(server, client, readme_job(make_code, requirements="scq-no-such-package-zz9==1.0\n"))
    assert error.startswith("the requirements could not be resolved: No solution found")
    assert "scq-no-such-package-zz9 was not found in the package registry" in error


def test_a_slow_resolution_does_not_hold_up_another_requesters_job(
    server_factory, client, make_code, monkeypatch, root
) -> None:
    """Resolving requirements asks the owner's index, for up to uv's timeout. On the serve
    thread that held up every other requester's submissions; now it runs on a thread of its
    own, and its job waits without a state until the resolution is in (here: refused)."""
    asked, answer = threading.Event(), threading.Event()

    def slow_index(*args: object) -> str:
        asked.set()
        answer.wait(60)
        raise RequirementsRefused("the requirements could not be resolved: the index answered too late")

    monkeypatch.setattr(uv, "compile_requirements", slow_index)
    server = server_factory(auto_approval_enabled=True, allow_requirements=True).start()
    slow = client.submit_code(OWNER, readme_job(make_code), name="needs the index", auto_approval=True)
    assert asked.wait(10), "the resolution never started"
    eve = scq.create_client(email=EVE, data_dir=root)
    trivial = eve.submit_code(OWNER, make_code('echo hi > "$SYFT_OUTPUT_DIR/out.txt"\n'), name="t", auto_approval=True)
    try:
        assert eve.wait_for_job(trivial.uid, timeout=15).status == scq.JobStatus.completed
        assert not queue_layout(root).job(JobRef(ALICE, slow.uid)).state_file.exists()  # still resolving
    finally:
        answer.set()
    done = wait_for(server, slow.uid)
    assert done.status == scq.JobStatus.rejected
    assert done.error == "the requirements could not be resolved: the index answered too late"


def test_one_requester_cannot_fill_the_resolver_without_end(server_factory, client, make_code, monkeypatch) -> None:
    """Resolutions run one at a time: a requester's jobs waiting for theirs count against
    ``max_in_flight_per_requester``, as still-arriving ones do (without that, the second job
    simply waits its turn and the test fails)."""
    answer = threading.Event()

    def slow_index(*args: object) -> str:
        answer.wait(60)
        raise RequirementsRefused("the requirements could not be resolved: the index answered too late")

    monkeypatch.setattr(uv, "compile_requirements", slow_index)
    server = server_factory(allow_requirements=True, max_in_flight_per_requester=1).start()
    try:
        client.submit_code(OWNER, readme_job(make_code), name="first")
        second = client.submit_code(OWNER, readme_job(make_code, requirements="numpy\n"), name="second")
        error = wait_for(server, second.uid, timeout=15).error or ""
    finally:
        answer.set()
    assert "being resolved" in error and "max_in_flight_per_requester" in error


def test_an_unreachable_index_is_refused_as_such(server_factory, client, make_code, monkeypatch, uv_calls) -> None:
    with socket_closed() as port:
        monkeypatch.setenv("UV_INDEX_URL", f"http://127.0.0.1:{port}/simple")
        server = server_factory(allow_requirements=True).start()
        error = refused(server, client, readme_job(make_code))
    assert error.startswith(f"package index unreachable (http://127.0.0.1:{port}/simple): "), error
    assert "Failed to fetch" in error and "Connection refused" in error
    assert error.endswith("submit again once the owner's server can reach it")
    assert uv_calls == {"resolve": 1, "build": 0}


def test_requirements_are_only_read_when_the_owner_allows_them(server_factory, client, make_code, uv_calls) -> None:
    server = server_factory(auto_approval_enabled=True).start()
    code = make_code('echo ran > "$SYFT_OUTPUT_DIR/out.txt"\n', extra={"requirements.txt": "no such thing!!\n"})
    job = client.submit_code(OWNER, code, name="as before", auto_approval=True)
    done = wait_for(server, job.uid)
    assert done.status == scq.JobStatus.completed and done.state.runtime is None
    assert done.runtime.name == "default" and done.runtime.lock_sha256 is None
    assert uv_calls == {"resolve": 0, "build": 0}


# --- always a python -------------------------------------------------------------------


def test_a_job_always_gets_a_python_that_is_the_runtimes_interpreter(server_factory, client, make_code) -> None:
    server = server_factory(auto_approval_enabled=True).start()
    code = make_code(
        'command -v python > "$SYFT_OUTPUT_DIR/which.txt"\n'
        "python -c 'import platform; print(platform.python_version())' > \"$SYFT_OUTPUT_DIR/version.txt\"\n"
    )
    job = client.submit_code(OWNER, code, name="python", auto_approval=True)
    done = wait_for(server, job.uid)
    assert done.status == scq.JobStatus.completed, server.get_job_logs(job.uid)
    outputs = server.get_job_output(job.uid)
    assert done.runtime.name == "default"
    assert (outputs / "version.txt").read_text().strip() == done.runtime.python
    sandboxed = server.runner.bubblewrap.status()[0] is not None
    if sandboxed and os.geteuid() == 0 and not serving_python(as_other_user=True).scripts:
        # a root server whose interpreter is private to root: `python` is the job's own link to
        # the system's python3, whether or not python-is-python3 is installed
        assert (outputs / "which.txt").read_text() == "/job/bin/python\n"


def test_the_jobs_bin_folder_links_python_only_where_the_runtime_has_none(tmp_path: Path) -> None:
    system = JobPython("/usr/bin/python3", None, (), "3.11.2")
    assert system.links() == {"python": "/usr/bin/python3", "python3": "/usr/bin/python3"}
    venv = tmp_path / "env" / "bin"
    venv.mkdir(parents=True)
    for name in ("python", "python3", "pip"):
        (venv / name).symlink_to("/usr/bin/python3")
    environment = JobPython(str(venv / "python"), str(venv), (str(tmp_path / "env"),), "3.11.2")
    assert environment.links() == {}  # a link to a venv's python would not find its pyvenv.cfg
    assert environment.path("/job/bin") == f"/job/bin:{venv}:/usr/local/bin:/usr/bin:/bin"


# --- the cache -------------------------------------------------------------------------


def test_the_cache_evicts_the_least_recently_used_environment_never_one_in_use(tmp_path: Path) -> None:
    built: list[str] = []

    def build(lock: Lock, target: Path, interpreter: Path) -> None:
        interpreter.parent.mkdir(parents=True)
        interpreter.write_bytes(b"x" * 4000)
        built.append(lock.requirements)

    cache = EnvironmentCache(EnvironmentPaths(tmp_path / "envs"), max_size=10_000, build=build, shared=False)
    a, b, c = (Lock(interpreter="/usr/bin/python3", prefix="/usr", python="3.11.2", requirements=n) for n in "abc")
    with cache.use(a):
        pass
    with cache.use(b):
        pass
    with cache.use(a):  # a is now the more recently used
        pass
    assert built == ["a", "b"]
    with cache.use(a):
        with cache.use(c):  # over the cap: b goes (least recently used), a is in use anyway
            pass
    assert built == ["a", "b", "c"]
    assert not cache.paths.built_marker(b.sha256).exists() and not cache.paths.environment(b.sha256).exists()
    assert cache.paths.built_marker(a.sha256).exists() and cache.paths.built_marker(c.sha256).exists()
    with cache.use(b):  # built again; a is not in use and least recent: it goes
        pass
    assert built == ["a", "b", "c", "b"]
    assert not cache.paths.environment(a.sha256).exists()


def test_without_uv_a_job_with_requirements_is_refused_saying_how_to_install_it(
    server_factory, client, make_code, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setitem(sys.modules, "uv", None)  # nor the uv package
    with pytest.raises(scq.QueueError, match=r"pip install 'syft-code-queue\[runtimes\]'"):
        uv.uv_binary()
    server = server_factory(allow_requirements=True).start()
    assert refused(server, client, readme_job(make_code)) == (
        "the owner's server cannot resolve requirements: runtimes need uv, which is not installed: "
        "pip install 'syft-code-queue[runtimes]' (or put uv on PATH)"
    )


class socket_closed:
    """A local port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        pass


# --- the command line ------------------------------------------------------------------


def run_scq(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.index
def test_the_cli_declares_lists_and_removes_runtimes(capsys, root, server_factory, client, make_code) -> None:
    owner = ["--email", OWNER, "--data-dir", str(root)]
    requester = ["--email", ALICE, "--data-dir", str(root)]
    code, out, err = run_scq(capsys, "runtime", "add", "tiny", "--package", PACKAGE, *owner)
    assert code == 0, err
    assert out.startswith("tiny  Python ") and f"    {PACKAGE}==" in out

    code, out, _ = run_scq(capsys, "runtime", "list", "--to", OWNER, "--json", *requester)
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["default", "tiny"]

    server = server_factory(auto_approval_enabled=True).start()
    folder = make_code(f'python -c "import {PACKAGE}" && echo ok > "$SYFT_OUTPUT_DIR/out.txt"\n')
    code, out, err = run_scq(
        capsys,
        "submit",
        str(folder),
        "--to",
        OWNER,
        "--name",
        "cli",
        "--runtime",
        "tiny",
        "--auto-approval",
        *requester,
    )
    assert code == 0, err
    assert wait_for(server, out.strip(), timeout=120).status == scq.JobStatus.completed
    code, out, _ = run_scq(capsys, "show", out.strip(), *requester)
    assert "  runtime:    tiny (Python " in out and "  pins:       pip==" in out and f", {PACKAGE}==" in out

    assert run_scq(capsys, "runtime", "remove", "tiny", *owner)[0] == 0
    code, _, err = run_scq(capsys, "runtime", "remove", "tiny", *owner)
    assert code == 2 and "no runtime 'tiny' on queue 'code-queue'; it offers: default" in err


def test_a_submission_names_its_runtime_only_when_it_asks_for_one(client, server, make_code, root) -> None:
    """So an owner whose server predates runtimes still accepts jobs for the default one."""
    job = client.submit_code(OWNER, make_code("echo hi\n"), name="default")
    inbox = root / "datasites" / OWNER / "app_data" / "code-queue" / "inbox" / client.email
    assert "runtime" not in json.loads((inbox / job.uid / "job.json").read_text())
    with pytest.raises(ValueError, match="offers no runtime 'sci'; it offers: default"):
        client.submit_code(OWNER, make_code("echo hi\n"), name="sci", runtime="sci")
    with pytest.raises(ValueError, match="runtime"):
        client.submit_code(OWNER, make_code("echo hi\n"), name="bad", runtime="../x")


def test_a_runtime_whose_lock_is_gone_is_not_offered_and_the_server_still_serves(server_factory, client) -> None:
    server = server_factory()
    declared = RuntimeDeclarations(runtimes=(RuntimeSpec(name="lost", lock_sha256="0" * 64),))
    server.store.private.declared_runtimes.parent.mkdir(parents=True, exist_ok=True)
    server.store.private.declared_runtimes.write_text(declared.model_dump_json())
    server.start()
    assert [r.name for r in client.list_runtimes(OWNER)] == ["default"]
