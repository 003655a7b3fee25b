"""The `scq` command line: the same story from a terminal, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ALICE, OWNER

from syft_code_queue.cli import main


def scq(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
    for command in ("demo", "serve", "submit", "list", "show", "approve", "reject", "cancel", "logs", "output"):
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
    assert "requester sees: completed" in done.stdout
    assert "results.txt: n=4 mean_age=37.5 median_age=38.5" in done.stdout
    assert "outsider@example.com lists 0 jobs" in done.stdout


def test_list_prints_every_email_whole(capsys, root, make_code):
    requester = "data-scientist@university-hospital.example.com"
    me = ["--email", requester, "--data-dir", str(root)]
    scq(capsys, "submit", str(make_code("echo")), "--to", OWNER, "--name", "long names", *me)
    rc, out, _ = scq(capsys, "list", *me)
    assert rc == 0 and f"{requester} -> {OWNER}  " in out
