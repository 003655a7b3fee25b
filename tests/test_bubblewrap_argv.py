"""The sandbox's command line, read as data: which host paths a job sees, and which it may
write. No bubblewrap is needed to check it."""

from __future__ import annotations

from pathlib import Path

from syft_code_queue.runner.bubblewrap import bwrap_argv
from syft_code_queue.runner.limits import SandboxPolicy
from syft_code_queue.runner.python import serving_python
from syft_code_queue.runner.staging import INSIDE_ROOT, Staging

# bubblewrap options and how many arguments each takes
ARITY = {
    "--ro-bind": 2,
    "--ro-bind-try": 2,
    "--bind": 2,
    "--bind-try": 2,
    "--symlink": 2,
    "--dir": 1,
    "--proc": 1,
    "--dev": 1,
    "--tmpfs": 1,
    "--uid": 1,
    "--gid": 1,
    "--hostname": 1,
    "--chdir": 1,
    "--size": 1,
    "--perms": 1,
    "--seccomp": 1,
    "--ro-bind-data": 2,
    "--file": 2,
    "--remount-ro": 1,
}


def parse(argv: list[str]) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """(options with their arguments, flags without, the command after ``--``)."""
    options: list[tuple[str, ...]] = []
    flags: list[str] = []
    i = 1
    while argv[i] != "--":
        name = argv[i]
        if name in ARITY:
            options.append((name, *argv[i + 1 : i + 1 + ARITY[name]]))
            i += 1 + ARITY[name]
        else:
            flags.append(name)
            i += 1
    return options, flags, argv[i + 1 :]


def sandbox(tmp_path: Path, **policy: object) -> tuple[Staging, list[tuple[str, ...]], list[str], list[str]]:
    staging = Staging(root=tmp_path / "job", etc=tmp_path / "etc")
    argv = bwrap_argv(
        "/usr/bin/bwrap",
        SandboxPolicy(**policy),
        staging,
        ["bash", "-c", "run"],
        ["/usr/bin/rm"],
        {},
        serving_python(as_other_user=True),
        {"census": tmp_path / "owner-data" / "census"},
    )
    return (staging, *parse(argv))


def test_a_job_writes_only_inside_its_staging_folder(tmp_path: Path) -> None:
    staging, options, _, _ = sandbox(tmp_path)
    writable = [(src, dest) for name, src, dest, *_ in (o for o in options if len(o) >= 3) if name == "--bind"]
    assert writable, "the job needs somewhere to write"
    assert all(Path(src).is_relative_to(staging.root) for src, _ in writable)
    assert {dest for _, dest in writable} >= {f"{INSIDE_ROOT}/outputs", f"{INSIDE_ROOT}/home", "/tmp"}


def test_its_code_its_datasets_and_the_system_are_read_only(tmp_path: Path) -> None:
    staging, options, _, _ = sandbox(tmp_path)
    ro = {(o[1], o[2]) for o in options if o[0] in ("--ro-bind", "--ro-bind-try")}
    assert (str(tmp_path / "owner-data" / "census"), "/job/data/census") in ro
    assert (str(staging.code), f"{INSIDE_ROOT}/code") in ro
    assert ("/usr", "/usr") in ro
    assert ("/dev/null", "/usr/bin/rm") in ro  # a blocked command is hidden


def test_no_host_folder_outside_the_system_and_the_interpreter_is_visible(tmp_path: Path) -> None:
    """No bind mounts the host's home, /root, /etc whole, or the SyftBox datasites."""
    _, options, _, _ = sandbox(tmp_path)
    sources = [o[1] for o in options if o[0].startswith("--") and "bind" in o[0]]
    for source in sources:
        assert source not in ("/", "/etc", "/home", "/root", "/var"), source
        assert "datasites" not in Path(source).parts


def test_the_network_is_unshared_unless_the_owner_allows_it(tmp_path: Path) -> None:
    _, _, flags, command = sandbox(tmp_path)
    assert "--unshare-all" in flags and "--share-net" not in flags
    assert "--die-with-parent" in flags and "--new-session" in flags
    assert command == ["bash", "-c", "run"]
    _, _, networked, _ = sandbox(tmp_path, allow_network=True)
    assert "--share-net" in networked
