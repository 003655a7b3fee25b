"""Output release: a run's results leave the owner's machine only when the owner, or a rule
the owner set, releases them, file by file."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import ALICE, OWNER, eventually, wait_status
from realprocs import scq_env
from syncsim import Hazards
from syncworld import World

import syft_code_queue as scq
from syft_code_queue.models import JobRef
from syft_code_queue.protocol.layout import PrivateLayout, QueueLayout
from syft_code_queue.release import release_needed
from syft_code_queue.release.desk import CHECKS_PASSED, RULE_RELEASED

ACRO_OUTPUTS = Path(__file__).parent / "data" / "acro"
AWAITING = scq.JobStatus.awaiting_release


def leaks_token(root: Path, token: str) -> list[str]:
    """Every path under the root's ``datasites/`` whose name or content holds ``token``."""
    found = []
    for path in (root / "datasites").rglob("*"):
        if token in path.name or (path.is_file() and token.encode() in path.read_bytes()):
            found.append(str(path.relative_to(root)))
    return found


@pytest.fixture
def secret(tmp_path: Path) -> str:
    """A token in a file only the owner's side has: outside any SyftBox tree."""
    token = f"TOKEN{secrets.token_hex(8)}"
    (tmp_path / "private-data").mkdir()
    (tmp_path / "private-data" / "secret.txt").write_text(token + "\n")
    return token


def leaky_job(make_code, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A job that tries every channel it has to carry the private token out."""
    return make_code(f"""
        SECRET=$(cat {tmp_path}/private-data/secret.txt)
        echo "the secret is $SECRET"
        echo "stderr also says $SECRET" >&2
        echo "$SECRET" > "$SYFT_OUTPUT_DIR/leak.txt"
        echo "a file named after it" > "$SYFT_OUTPUT_DIR/name-$SECRET.txt"
        printf 'region,count\\nnorth,40\\nsouth,35\\n' > "$SYFT_OUTPUT_DIR/clean.csv"
        python3 -c 'import sys; raise SystemExit("failed while reading " + sys.argv[1])' "$SECRET"
    """)


def submit(client: scq.CodeQueueClient, code: Path, name: str = "job", **kwargs: object) -> str:
    return client.submit_code(OWNER, code, name, auto_approval=True, **kwargs).uid  # type: ignore[arg-type]


def test_nothing_derived_from_private_data_leaves_before_release_or_after_releasing_a_clean_file(
    client, server_factory, make_code, root, tmp_path, secret
):
    server = server_factory(runner=scq.CodeRunner(), auto_approval_enabled=True, release_policy="manual").start()
    uid = submit(client, leaky_job(make_code, tmp_path), release_notes="counts rounded to 5; no cell under 10")
    wait_status(client, uid, AWAITING, timeout=30)

    job = client.get_job(uid)
    assert job.status.label == "ran, waiting for the owner's release"
    assert "ran, waiting for the owner&#x27;s release" in client.list_jobs()._repr_html_()
    assert (job.exit_code, job.error, job.release) == (1, None, None)
    assert client.get_job_logs(uid) is None and client.get_job_output(uid) is None
    assert leaks_token(root, secret) == []

    held = server.get_held_outputs(uid)  # the owner sees everything the run left
    assert secret in held.logs and held.release_notes == "counts rounded to 5; no cell under 10"
    assert sorted(f.path for f in held.files) == ["clean.csv", "leak.txt", f"name-{secret}.txt"]
    assert secret.encode() in held.read("leak.txt")

    server.release_job(uid, files=["clean.csv"], logs=False, reason="only the table")
    job = client.wait_for_job(uid, timeout=30)
    assert job.status == scq.JobStatus.failed and job.error == "run.sh exited with code 1"
    assert [f.path for f in job.release.files] == ["clean.csv"] and not job.release.logs_released
    assert job.release.withheld_files == 4 and job.release.reason == "only the table"
    outputs = client.get_job_output(uid)
    assert sorted(p.name for p in outputs.iterdir()) == ["clean.csv"]
    assert (outputs / "clean.csv").read_text() == "region,count\nnorth,40\nsouth,35\n"
    assert client.get_job_logs(uid) is None
    assert leaks_token(root, secret) == []
    record = json.loads(
        QueueLayout(root / "datasites", OWNER, "code-queue").job(JobRef(ALICE, uid)).release_file.read_text()
    )
    assert record["schema_version"] == 1 and record["files"][0]["decision"] == "released"
    assert record["files"][0]["sha256"] == job.release.files[0].sha256


def test_the_privacy_contract_holds_on_every_machine_across_sync(tmp_path, make_code, secret):
    config = scq.QueueConfig(auto_approval_enabled=True, release_policy="manual", rescan_interval=0.05)
    world = World(tmp_path / "net", hazards=Hazards.all(), seed=11, config=config)
    try:
        server = world.server(runner=scq.CodeRunner())
        alice = world.client(ALICE)
        uid = submit(alice, leaky_job(make_code, tmp_path))
        world.until("alice to see it held", lambda: alice.get_job(uid).status == AWAITING)
        world.sim.settle()
        assert [leaks_token(root, secret) for root in world.roots.values()] == [[]] * len(world.roots)
        assert alice.get_job_logs(uid) is None and alice.get_job_output(uid) is None

        server.release_job(uid, files=["clean.csv"], logs=False)
        outputs = world.until("alice to have the released file", lambda: alice.get_job_output(uid))
        world.sim.settle()
        assert sorted(p.name for p in outputs.iterdir()) == ["clean.csv"] and alice.get_job_logs(uid) is None
        assert [leaks_token(root, secret) for root in world.roots.values()] == [[]] * len(world.roots)
    finally:
        world.close()


def test_results_released_at_once_do_carry_the_token(client, server_factory, make_code, root, tmp_path, secret):
    """The check above can fail: the same job under ``auto`` leaks through every channel."""
    server_factory(runner=scq.CodeRunner(), auto_approval_enabled=True, release_policy="auto").start()
    uid = submit(client, leaky_job(make_code, tmp_path))
    client.wait_for_job(uid, timeout=30)
    assert secret in client.get_job_logs(uid)
    leaked = leaks_token(root, secret)
    assert any(path.endswith("leak.txt") for path in leaked) and any(f"name-{secret}" in path for path in leaked)


def test_by_default_only_jobs_that_read_a_dataset_wait_for_release(client, server_factory, make_code):
    server_factory(auto_approval_enabled=True).start()
    uid = submit(client, make_code('echo hi; echo 1 > "$SYFT_OUTPUT_DIR/n.txt"'))
    job = client.wait_for_job(uid, timeout=30)
    assert job.status == scq.JobStatus.completed and job.release is None
    assert AWAITING not in [t.status for t in job.history]
    reads = SimpleNamespace(request=SimpleNamespace(datasets=["census"]))
    reads_none = SimpleNamespace(request=SimpleNamespace(datasets=[]))
    assert release_needed(reads, None) and not release_needed(reads_none, None)  # type: ignore[arg-type]
    assert not release_needed(reads, "auto") and release_needed(reads_none, "checks")  # type: ignore[arg-type]


def test_auto_publishes_at_once(client, server_factory, make_code):
    server_factory(auto_approval_enabled=True, release_policy="auto").start()
    uid = submit(client, make_code('echo hi; echo 1 > "$SYFT_OUTPUT_DIR/n.txt"'))
    job = client.wait_for_job(uid, timeout=30)
    assert job.status == scq.JobStatus.completed and job.release is None
    assert client.get_job_logs(uid) == "hi\n" and (client.get_job_output(uid) / "n.txt").read_text() == "1\n"


def test_checks_release_what_passes_the_output_policy_and_hold_the_rest(client, server_factory, make_code):
    policy = scq.OutputPolicy(min_cell_count=10, forbidden_columns=("patient_id",))
    server = server_factory(auto_approval_enabled=True, release_policy="checks", output_policy=policy).start()
    clean = submit(
        client,
        make_code("""
            printf 'region,count\\nnorth,40\\n' > "$SYFT_OUTPUT_DIR/t.csv"
            touch "$SYFT_OUTPUT_DIR/empty.csv"
            echo done
        """),
    )
    small = submit(
        client,
        make_code("""
            printf 'region,count\\nnorth,40\\nwest,3\\n' > "$SYFT_OUTPUT_DIR/t.csv"
            printf 'patient_id,age\\n70,40\\n' > "$SYFT_OUTPUT_DIR/rows.csv"
            echo x > "$SYFT_OUTPUT_DIR/model.pkl"
        """),
    )
    job = client.wait_for_job(clean, timeout=30)
    assert job.status == scq.JobStatus.completed and job.release.reason == CHECKS_PASSED
    assert [(f.path, f.verdict) for f in job.release.files] == [("empty.csv", "pass"), ("t.csv", "pass")]
    assert job.release.logs_released
    assert client.get_job_logs(clean) == "done\n"

    wait_status(client, small, AWAITING, timeout=30)
    held = {f.path: f for f in server.get_held_outputs(small).files}
    assert {path: f.verdict for path, f in held.items()} == {"model.pkl": "fail", "rows.csv": "fail", "t.csv": "fail"}
    assert held["t.csv"].messages == ("fail: counts under min_cell_count (10) in: count",)
    assert held["rows.csv"].messages == ("fail: forbidden columns: patient_id",)
    assert ".pkl is not an allowed extension" in held["model.pkl"].messages[0]
    preview = server.get_held_outputs(small).csv_preview("t.csv")
    assert preview.header == ("region", "count") and preview.total_rows == 2
    count = preview.columns[1]
    assert (count.min, count.max, count.min_nonzero, count.multiples_of_5) == (3, 40, 3, False)


def test_an_auto_release_rule_releases_what_it_accepts(client, server_factory, make_code):
    seen = []

    def rule(job: scq.Job, outputs: scq.HeldOutputs) -> bool:
        seen.append(sorted(f.path for f in outputs.files))
        if job.name == "broken rule":
            raise RuntimeError("rule bug")
        return job.name == "trusted"

    server = server_factory(auto_approval_enabled=True, release_policy="manual", auto_release_callback=rule).start()
    code = make_code('echo 5 > "$SYFT_OUTPUT_DIR/n.txt"')
    trusted, other, broken = (submit(client, code, name) for name in ("trusted", "other", "broken rule"))
    job = client.wait_for_job(trusted, timeout=30)
    assert job.status == scq.JobStatus.completed and job.release.reason == RULE_RELEASED
    assert (client.get_job_output(trusted) / "n.txt").read_text() == "5\n"
    for uid in (other, broken):
        wait_status(client, uid, AWAITING, timeout=30)
        assert client.get_job_output(uid) is None
    # a held job is shown awaiting release before the rule is asked about it: wait for the third answer
    eventually(lambda: len(seen) == 3, 10, "the rule being asked about every held job")
    assert seen == [["n.txt"]] * 3
    assert server.get_job(other).status == AWAITING


def test_acro_results_become_verdicts(client, server_factory, make_code, tmp_path):
    files = {f"acro/{p.name}": p.read_text() for p in ACRO_OUTPUTS.iterdir() if p.is_file() and p.suffix != ".py"}
    no_exception = json.loads(files["acro/results.json"])
    no_exception["results"]["output_0"]["exception"] = ""
    files["strict/results.json"] = json.dumps(no_exception)
    files["strict/output_0_0.csv"] = files["acro/output_0_0.csv"]
    server = server_factory(auto_approval_enabled=True, release_policy="checks").start()
    uid = submit(client, make_code('cp -r acro strict "$SYFT_OUTPUT_DIR/"', extra=files))
    wait_status(client, uid, AWAITING, timeout=30)

    held = {f.path: f for f in server.get_held_outputs(uid).files}
    assert held["acro/output_1_0.csv"].verdict == "pass"
    assert held["acro/output_1_0.csv"].messages[0].startswith("pass: ACRO output_1: pass")
    failed = held["acro/output_0_0.csv"]  # small cells; the researcher asked for an exception
    assert failed.verdict == "review" and "MinimumThresholdCheck: fail" in failed.messages[0]
    assert "exception requested: west cells are published elsewhere" in failed.messages[0]
    assert held["acro/session_summary.json"].verdict == "review"
    assert held["acro/results.json"].verdict == "pass"
    assert held["strict/output_0_0.csv"].verdict == "fail"  # the same table without an exception request

    job = server.release_job(uid, files=["acro/output_1_0.csv", "acro/results.json"], reason="the passing table")
    assert job.status == scq.JobStatus.completed
    assert {(f.path, f.verdict) for f in job.release.files} == {
        ("acro/output_1_0.csv", "pass"),
        ("acro/results.json", "pass"),
    }


def test_withholding_needs_a_reason_and_releases_nothing(client, server_factory, make_code, root):
    server = server_factory(auto_approval_enabled=True, release_policy="manual").start()
    uid = submit(client, make_code('echo private; echo 1 > "$SYFT_OUTPUT_DIR/n.txt"'))
    wait_status(client, uid, AWAITING, timeout=30)
    with pytest.raises(scq.ReleaseError, match="a reason is required"):
        server.withhold_job(uid, " ")
    job = server.withhold_job(uid, "the counts are too small to publish")
    assert job.status == scq.JobStatus.withheld and job.is_terminal
    job = client.get_job(uid)
    assert job.error == "the counts are too small to publish" and job.release.withheld_files == 3  # n.txt and both logs
    assert client.get_job_output(uid) is None and client.get_job_logs(uid) is None
    review = QueueLayout(root / "datasites", OWNER, "code-queue").job(JobRef(ALICE, uid)).review
    assert sorted(p.name for p in review.iterdir()) == ["state.json"]
    with pytest.raises(scq.InvalidTransitionError, match="only results awaiting release"):
        server.release_job(uid)


def test_bad_release_requests_are_refused_and_lose_nothing(client, server_factory, make_code, root):
    server = server_factory(auto_approval_enabled=True, release_policy="manual").start()
    uid = submit(client, make_code('echo 1 > "$SYFT_OUTPUT_DIR/a.txt"; echo 2 > "$SYFT_OUTPUT_DIR/b.txt"'))
    wait_status(client, uid, AWAITING, timeout=30)
    with pytest.raises(scq.ReleaseError, match="holds no output 'c.txt'"):
        server.release_job(uid, files=["a.txt", "c.txt"])
    with pytest.raises(scq.ReleaseError, match="nothing is selected"):
        server.release_job(uid, files=[], logs=False)
    with pytest.raises(scq.ReleaseError, match="a list of held output paths"):
        server.release_job(uid, files="a.txt")  # type: ignore[arg-type]
    with pytest.raises(scq.InvalidTransitionError, match="cannot be cancelled"):
        client.cancel_job(uid)
    held = server.get_held_outputs(uid)
    held.path("b.txt").write_text("changed after the check\n")
    with pytest.raises(scq.ReleaseError, match="b.txt changed after it was checked"):
        server.release_job(uid)
    assert server.get_job(uid).status == AWAITING and client.get_job_output(uid) is None
    assert not QueueLayout(root / "datasites", OWNER, "code-queue").job(JobRef(ALICE, uid)).outputs_dir.exists()
    job = server.release_job(uid, files=["a.txt"])
    assert job.status == scq.JobStatus.completed
    client.wait_for_job(uid, timeout=30)
    assert sorted(p.name for p in client.get_job_output(uid).iterdir()) == ["a.txt"]


def test_held_results_survive_a_restart_and_are_cleaned_up_only_once_decided(client, server_factory, make_code, root):
    first = server_factory(auto_approval_enabled=True, release_policy="manual").start()
    uid = submit(client, make_code('echo 1 > "$SYFT_OUTPUT_DIR/a.txt"'))
    wait_status(client, uid, AWAITING, timeout=30)
    first.stop()
    held_folder = PrivateLayout(scq.Workspace(OWNER, root).private_dir, "code-queue").held(JobRef(ALICE, uid)).folder
    server = server_factory(release_policy="manual", cleanup_completed_after=0.2, rescan_interval=0.05).start()
    eventually(lambda: server.get_job(uid).status == AWAITING, what="the held job being seen again")
    assert server.get_job(uid).status == AWAITING  # not failed as "running when the server died"
    assert held_folder.is_dir() and [f.path for f in server.get_held_outputs(uid).files] == ["a.txt"]
    server.release_job(uid)
    assert client.wait_for_job(uid, timeout=30).status == scq.JobStatus.completed
    eventually(lambda: server.get_job(uid).state.cleaned_up, what="the cleanup")
    assert not held_folder.exists() and client.get_job_output(uid) is None


KILLED_MID_RELEASE = """
import os, signal, sys
from syft_code_queue.protocol import owner
copy, copied = owner._copy_checked, []
def copy_then_die(source, dest, entry):
    if copied:
        os.kill(os.getpid(), signal.SIGKILL)
    copy(source, dest, entry)
    copied.append(entry.path)
owner._copy_checked = copy_then_die
from syft_code_queue.cli import main
sys.exit(main(sys.argv[1:]))
"""


def release_killed_midway(root: Path, uid: str) -> None:
    """``scq release UID`` killed with SIGKILL after copying its first file."""
    args = ["release", uid, "--reason", "both tables", "--email", OWNER, "--data-dir", str(root)]
    done = subprocess.run([sys.executable, "-c", KILLED_MID_RELEASE, *args], env=scq_env(), timeout=60)
    assert done.returncode == -9


def two_table_job(client, server_factory, make_code) -> str:  # type: ignore[no-untyped-def]
    server = server_factory(auto_approval_enabled=True, release_policy="manual").start()
    uid = submit(client, make_code('echo 1 > "$SYFT_OUTPUT_DIR/a.csv"; echo 2 > "$SYFT_OUTPUT_DIR/b.csv"'))
    wait_status(client, uid, AWAITING, timeout=30)
    server.stop()
    return uid


def test_a_release_killed_midway_is_completed_on_restart(client, server_factory, make_code, root):
    uid = two_table_job(client, server_factory, make_code)
    release_killed_midway(root, uid)
    paths = QueueLayout(root / "datasites", OWNER, "code-queue").job(JobRef(ALICE, uid))
    assert sorted(p.name for p in paths.outputs_dir.iterdir()) == ["a.csv"]  # half copied ...
    assert client.get_job(uid).status == AWAITING and client.get_job_output(uid) is None  # ... and not published

    server_factory(release_policy="manual").start()
    job = client.wait_for_job(uid, timeout=30)
    assert job.status == scq.JobStatus.completed and job.release.reason == "both tables"
    assert sorted(p.name for p in client.get_job_output(uid).iterdir()) == ["a.csv", "b.csv"]
    assert client.get_job_logs(uid) == "" and json.loads(paths.release_file.read_text())["reason"] == "both tables"


def test_a_release_killed_midway_whose_held_file_then_changed_is_rolled_back(client, server_factory, make_code, root):
    uid = two_table_job(client, server_factory, make_code)
    release_killed_midway(root, uid)
    held = PrivateLayout(scq.Workspace(OWNER, root).private_dir, "code-queue").held(JobRef(ALICE, uid))
    (held.outputs_dir / "b.csv").write_text("3\n")

    server = server_factory(release_policy="manual", rescan_interval=0.05).start()
    eventually(lambda: not held.releasing_file.exists(), what="the interrupted release being settled")
    paths = QueueLayout(root / "datasites", OWNER, "code-queue").job(JobRef(ALICE, uid))
    assert server.get_job(uid).status == AWAITING
    assert not paths.outputs_dir.exists() and not paths.release_file.exists()
    with pytest.raises(scq.ReleaseError, match="b.csv changed after it was checked"):
        server.release_job(uid)
    assert server.withhold_job(uid, "a held file was altered").status == scq.JobStatus.withheld


def test_the_cli_lists_releases_and_withholds(capsys, client, server_factory, make_code, root):
    from syft_code_queue.cli import main

    owner = ["--email", OWNER, "--data-dir", str(root)]
    server_factory(auto_approval_enabled=True, release_policy="manual").start()
    code = make_code('echo hi; echo 1 > "$SYFT_OUTPUT_DIR/a.csv"; echo 2 > "$SYFT_OUTPUT_DIR/b.bin"')
    keep, drop = submit(client, code, "keep", release_notes="no small cells"), submit(client, code, "drop")
    for uid in (keep, drop):
        wait_status(client, uid, AWAITING, timeout=30)

    assert main(["held", *owner]) == 0
    out = capsys.readouterr().out
    assert f"{keep[:8]}  keep  from {ALICE}  (exit code 0)" in out and "notes: no small cells" in out
    rows = [line.split() for line in out.splitlines()]
    assert (
        ["fail", "2", "b.bin"] in rows
        and ["pass", "2", "a.csv"] in rows
        and ["pass", "3", "[log]", "stdout.txt"] in rows
    )

    assert main(["release", keep[:8], "--file", "a.csv", "--no-logs", "--reason", "the table", *owner]) == 0
    assert capsys.readouterr().out == f"{keep} completed: released 1 files\n"
    with pytest.raises(SystemExit):  # --reason is required
        main(["withhold", drop, *owner])
    assert "--reason" in capsys.readouterr().err
    assert main(["withhold", drop, "--reason", "binary output", *owner]) == 0
    assert capsys.readouterr().out == f"{drop} withheld\n"
    assert main(["release", drop, *owner]) == 2
    assert "only results awaiting release can be released" in capsys.readouterr().err

    assert main(["show", keep, "--email", ALICE, "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "release notes: no small cells" in out and "released: a.csv; 3 held files not released" in out
    assert main(["held", *owner]) == 0 and capsys.readouterr().out == "no results awaiting release\n"


def test_a_new_decision_replaces_what_an_interrupted_release_left(client, server_factory, make_code, root):
    uid = two_table_job(client, server_factory, make_code)
    release_killed_midway(root, uid)  # a.csv was copied before it died
    owner = scq.CodeQueueServer(email=OWNER, data_dir=root)  # not serving: `scq release` does this
    job = owner.release_job(uid, files=["b.csv"], reason="only b after all")
    assert [f.path for f in job.release.files] == ["b.csv"]
    client.wait_for_job(uid, timeout=30)
    assert sorted(p.name for p in client.get_job_output(uid).iterdir()) == ["b.csv"]


def test_documents_of_jobs_without_notes_or_release_read_as_before(client, server_factory, make_code, root):
    """Peers that predate output release refuse unknown fields: they are written only when set."""
    server_factory(auto_approval_enabled=True).start()
    plain = submit(client, make_code("echo hi"))
    noted = submit(client, make_code("echo hi"), release_notes="rounded to 5")
    client.wait_for_job(plain, timeout=30)
    layout = QueueLayout(root / "datasites", OWNER, "code-queue")
    paths = {uid: layout.job(JobRef(ALICE, uid)) for uid in (plain, noted)}
    assert "release_notes" not in json.loads(paths[plain].job_file.read_text())
    assert json.loads(paths[noted].job_file.read_text())["release_notes"] == "rounded to 5"
    assert "release" not in json.loads(paths[plain].state_file.read_text())


def test_the_owners_own_checks_add_findings_and_a_broken_one_asks_for_review(tmp_path):
    def rounded(path: str, file: Path) -> scq.Finding | None:
        if path.endswith(".csv") and any(not cell.isdigit() or int(cell) % 5 for cell in file.read_text().split()[1:]):
            return scq.Finding("review", "counts are not rounded to 5")
        return None

    def broken(path: str, file: Path) -> scq.Finding | None:
        raise RuntimeError("bug in the check")

    def vague(path: str, file: Path) -> object:
        return "looks fine"

    table = tmp_path / "t.csv"
    table.write_text("count\n10\n13\n")
    assert scq.OutputPolicy(checks=(rounded,)).check("t.csv", table) == [
        scq.Finding("review", "counts are not rounded to 5")
    ]
    findings = scq.OutputPolicy(checks=(broken, vague)).check("t.csv", table)
    assert [f.verdict for f in findings] == ["review", "review"]
    assert "check broken failed (bug in the check)" in findings[0].message and "vague returned" in findings[1].message
    assert scq.OutputPolicy(allowed_extensions=("csv",)).check("t.csv", table) == []
