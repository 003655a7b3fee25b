"""The `scq` command line: the same story from a terminal, and clear errors."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ALICE, EVE, OWNER, as_ordinary_user, ordinary_user_folder, write_submission

from syft_code_queue.cli import main


def scq(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def scq_captured(*args: str) -> tuple[int, str, str]:
    """``scq ARGS`` with its output captured in memory (in a process of its own, say)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_submit_approve_serve_and_read_back(capsys, root, make_code, server_factory):
    me = ["--email", ALICE, "--data-dir", str(root)]
    owner = ["--email", OWNER, "--data-dir", str(root)]
    code = make_code('echo "from cli"\necho 7 > "$SYFT_OUTPUT_DIR/answer.txt"')
    rc, out, _ = scq(capsys, "submit", str(code), "--to", OWNER, "--name", "CLI job", "--tag", "a", *me)
    assert rc == 0
    uid = out.strip()
    assert len(uid) == 32

    server = server_factory().start()
    from helpers import accepted

    accepted(server, uid)
    rc, out, _ = scq(capsys, "list", "--owner", "--status", "pending", *owner)
    assert uid[:8] in out and "CLI job" in out
    rc, out, _ = scq(capsys, "approve", uid[:8], "--reason", "ok", *owner)
    assert rc == 0 and "approved" in out

    from syft_code_queue import create_client

    create_client(email=ALICE, data_dir=root).wait_for_job(uid, timeout=30)
    rc, out, _ = scq(capsys, "show", uid, *me)
    assert "status:     completed" in out and "approved  by owner@example.com: ok" in out
    rc, out, _ = scq(capsys, "logs", uid, *me)
    assert out == "from cli\n"
    rc, out, _ = scq(capsys, "output", uid, *me)
    assert "answer.txt  (2 bytes)" in out
    rc, out, _ = scq(capsys, "list", "--json", *me)
    assert '"status": "completed"' in out


def test_reject_and_cancel_from_the_cli(capsys, root, make_code, server_factory):
    me = ["--email", ALICE, "--data-dir", str(root)]
    owner = ["--email", OWNER, "--data-dir", str(root)]
    server = server_factory().start()
    from helpers import accepted

    uids = []
    for name in ("to reject", "to cancel"):
        _, out, _ = scq(capsys, "submit", str(make_code("echo")), "--to", OWNER, "--name", name, *me)
        uids.append(accepted(server, out.strip()))
    rc, out, _ = scq(capsys, "reject", uids[0], "--reason", "no", *owner)
    assert rc == 0 and "rejected" in out
    rc, out, _ = scq(capsys, "cancel", uids[1], *me)
    assert rc == 0
    from syft_code_queue import create_client

    assert create_client(email=ALICE, data_dir=root).wait_for_job(uids[1], timeout=10).status == "cancelled"


def test_errors_are_one_clear_line_with_exit_code_2(capsys, root, tmp_path):
    me = ["--email", ALICE, "--data-dir", str(root)]
    rc, _, err = scq(capsys, "submit", str(tmp_path / "missing"), "--to", OWNER, "--name", "x", *me)
    assert rc == 2 and err.startswith("scq: error: code folder not found")
    rc, _, err = scq(capsys, "show", "0123abcd", *me)
    assert rc == 2 and "no job matches" in err
    rc, _, err = scq(capsys, "approve", "f" * 32, "--email", OWNER, "--data-dir", str(root))
    assert rc == 2 and "no job" in err


def test_reject_requires_a_reason(capsys):
    with pytest.raises(SystemExit):
        main(["reject", "abc"])
    assert "--reason" in capsys.readouterr().err


def test_help_reads_well():
    out = subprocess.run(
        [sys.executable, "-m", "syft_code_queue.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
    ).stdout
    for command in (
        "demo",
        "serve",
        "submit",
        "list",
        "show",
        "approve",
        "reject",
        "cancel",
        "logs",
        "output",
        "run-local",
        "dataset",
    ):
        assert command in out


def test_demo_runs_the_whole_round_trip(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "syft_code_queue.cli", "demo", "--root", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[1],
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "census: Census extract, one row per person [census] mock: 4 synthetic rows" in done.stdout
    assert "mock run: completed; results.txt: n=4 mean_age=45.0 median_age=45.0" in done.stdout
    assert "datasets: census" in done.stdout
    assert "requester sees: ran, waiting for the owner's release" in done.stdout
    assert "results.txt: pass" in done.stdout  # what the owner checked before releasing it
    assert "requester sees: completed" in done.stdout
    assert "results.txt: n=4 mean_age=37.5 median_age=38.5" in done.stdout  # the private rows
    assert "outsider@example.com lists 0 jobs" in done.stdout
    private = "ada,36"
    synced = (tmp_path / "demo" / "syftbox" / "datasites").rglob("*")
    assert not any(p.is_file() and private in p.read_text(errors="replace") for p in synced)


def test_list_prints_every_email_whole(capsys, root, make_code):
    requester = "data-scientist@university-hospital.example.com"
    me = ["--email", requester, "--data-dir", str(root)]
    scq(capsys, "submit", str(make_code("echo")), "--to", OWNER, "--name", "long names", *me)
    rc, out, _ = scq(capsys, "list", *me)
    assert rc == 0 and f"{requester} -> {OWNER}  " in out


def test_the_dataset_story_from_a_terminal(capsys, root, make_code, server_factory, owner_data):
    from helpers import CENSUS_CSV, MOCK_CSV, data_folder, eventually, wait_for

    me = ["--email", ALICE, "--data-dir", str(root)]
    owner = ["--email", OWNER, "--data-dir", str(root)]
    private = data_folder(owner_data / "census", {"census.csv": CENSUS_CSV})
    mock = data_folder(owner_data / "census-mock", {"census.csv": MOCK_CSV})
    rc, out, err = scq(
        capsys, "dataset", "add", "census", "--private", str(private), "--mock", str(mock), "--summary", "People",
        "--user", ALICE, *owner,
    )  # fmt: skip
    assert rc == 0, err
    assert out == f"published {OWNER}/census (1 mock files)\n"
    rc, out, _ = scq(capsys, "dataset", "list", *owner)
    assert "census" in out and "People" in out
    rc, out, _ = scq(capsys, "dataset", "list", "--owner", OWNER, *me)
    assert "census" in out
    rc, out, _ = scq(capsys, "dataset", "show", f"{OWNER}/census", *me)
    assert "summary:    People" in out and "census.csv  (" in out and "private:" not in out
    rc, out, _ = scq(capsys, "dataset", "show", "census", *owner)
    assert f"private:    {private.resolve()}" in out and f"users:      {ALICE}" in out

    code = make_code('wc -l < "$SYFT_DATASET_DIR/census.csv" > "$SYFT_OUTPUT_DIR/rows.txt"; echo "$SYFT_DATA_KIND"')
    rc, out, _ = scq(capsys, "run-local", str(code), "--to", OWNER, "--dataset", "census", *me)
    assert rc == 0 and out.startswith("mock\ncompleted (exit code 0)\n") and "rows.txt" in out
    rc, out, _ = scq(capsys, "submit", str(code), "--to", OWNER, "--name", "rows", "--dataset", "census", *me)
    uid = out.strip()
    server = server_factory().start()
    from helpers import accepted

    server.approve_job(accepted(server, uid))
    eventually(lambda: server.get_job(uid).status.value == "awaiting_release", 60, "the run ending, held")
    rc, out, _ = scq(capsys, "held", *owner)
    assert rc == 0 and uid[:8] in out
    rc, out, err = scq(capsys, "release", uid, "--reason", "a row count", *owner)
    assert rc == 0, err
    assert wait_for(server, uid).status.value == "completed"
    rc, out, _ = scq(capsys, "logs", uid, *me)
    assert out == "private\n"

    rc, out, _ = scq(capsys, "dataset", "remove", "census", *owner)
    assert rc == 0 and out == "removed census (its private folder is left as it is)\n"
    rc, _, err = scq(capsys, "dataset", "show", "census", *owner)
    assert rc == 2 and "publishes no dataset 'census'" in err
    rc, _, err = scq(capsys, "run-local", str(code), "--to", OWNER, "--dataset", "census", *me)
    assert rc == 2 and "publishes no dataset 'census' that has synced here" in err


def test_a_uid_two_requesters_use_must_be_named_in_full(capsys, root, server_factory):
    """Finding 9 from the terminal: ``scq approve UID`` refuses a uid that two requesters'
    folders hold (without the check in ``cli._resolve`` it approves whichever comes first),
    and ``REQUESTER/UID`` with the manifest ``scq show`` printed approves exactly that job."""
    owner = ["--email", OWNER, "--data-dir", str(root)]
    uid = write_submission(root, ALICE, {"run.sh": b"echo alice"})
    write_submission(root, EVE, {"run.sh": b"echo eve"}, folder_uid=uid)
    server = server_factory()  # not started: one pass, then the CLI acts alone
    server.process_once()
    rc, _, err = scq(capsys, "approve", uid[:8], *owner)
    assert rc == 2 and f"name one of {ALICE}/{uid}, {EVE}/{uid}" in err
    rc, out, _ = scq(capsys, "show", "--owner", f"{ALICE}/{uid}", *owner)
    manifest = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("manifest:"))
    rc, _, err = scq(capsys, "approve", f"{ALICE}/{uid}", "--manifest", "0" * 64, *owner)
    assert rc == 2 and "not the code that was reviewed" in err
    rc, out, _ = scq(capsys, "approve", f"{ALICE}/{uid}", "--manifest", manifest, *owner)
    assert rc == 0 and out.strip() == f"{uid} approved"


def test_what_a_requester_wrote_is_printed_inert(capsys, root, server_factory):
    """Finding 14: requester strings (an identity, a name, a reason, a job's logs) reach the
    owner's terminal with control and bidi characters escaped. Without ``cli._safe`` the
    escape sequence that retitles the terminal is printed as is."""
    hostile = "\x1b]0;owned\x07\u202eeve@example.com"
    owner = ["--email", OWNER, "--data-dir", str(root)]
    uid = write_submission(root, hostile, {"run.sh": b"echo"})
    server = server_factory()
    server.process_once()
    for command in (["list", "--owner"], ["show", "--owner", uid]):
        rc, out, _ = scq(capsys, *command, *owner)
        assert rc == 0 and uid[:8] in out
        assert "\x1b" not in out and "\u202e" not in out and "\\x1b]0;owned\\x07" in out


@pytest.mark.parametrize(
    "config, expected",
    [
        ('{"email": 5, "data_dir": "/nowhere"}', "email: Input should be a valid string"),
        ('{"email": "owner@example.com", "data_dir": null}', "data_dir: Input should be a valid string"),
        ("not json", "is not usable"),
    ],
    ids=["email-a-number", "data-dir-null", "not-json"],
)
def test_a_broken_syftbox_config_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, config, expected):
    """Finding 15: each gave a traceback before ``SyftBoxConfig`` validated the file."""
    path = tmp_path / "config.json"
    path.write_text(config)
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(path))
    rc, out, err = scq(capsys, "list")
    assert rc == 2 and err.startswith("scq: error: SyftBox config") and expected in err
    assert err.count("\n") == 1


def test_a_data_folder_that_cannot_be_read_is_one_line_and_exit_2(make_code):
    """Finding 15: a data folder the user cannot read gave a ``PermissionError`` traceback
    (the CLI caught only some ``OSError``s). Root reads every folder, so the command runs as
    an ordinary user (CI runs as root)."""
    base = ordinary_user_folder()
    try:
        code = make_code("echo")
        shutil.copytree(code, base / "code")
        (base / "root" / "datasites").mkdir(parents=True)
        for path in (base / "code", base / "code" / "run.sh", base / "root", base / "root" / "datasites"):
            os.chown(path, os.stat(base).st_uid, os.stat(base).st_gid)
        os.chmod(base / "root" / "datasites", 0)
        me = ["--email", ALICE, "--data-dir", str(base / "root")]
        commands = (
            ["list", *me],
            ["list", "--owner", *me],
            ["submit", str(base / "code"), "--to", OWNER, "--name", "x", *me],
        )
        answers = as_ordinary_user(lambda: [scq_captured(*command) for command in commands])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for rc, _, err in answers:
        assert rc == 2 and err.startswith("scq: error: ") and err.count("\n") == 1
        assert "Permission denied" in err, err
