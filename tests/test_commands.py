"""The command policy reads run.sh like bash would and checks whole command names.

It is a policy check on what a script says (containment is the sandbox's job), so these tests
are about two things: it must not reject honest scripts for words that merely contain a blocked
name, and it must not be fooled by the usual ways of hiding a command.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from syft_code_queue.models import Job
from syft_code_queue.runner import SafeCodeRunner
from syft_code_queue.runner.bashlex import invocations
from syft_code_queue.runner.policy import policy_violations


def names(script: str) -> list[str | None]:
    return [c.name for c in invocations(textwrap.dedent(script))]


def blocked(script: str, *commands: str, files: dict[str, str] | None = None) -> list[str]:
    return policy_violations(textwrap.dedent(script), commands, None, (files or {}).get)


def allowed(script: str, *commands: str) -> list[str]:
    return policy_violations(textwrap.dedent(script), [], commands)


# --- honest scripts pass -------------------------------------------------------------


def test_a_blocked_name_inside_a_word_or_argument_is_not_a_command() -> None:
    script = """
    echo "Job completed successfully"      # 'su' is in successfully
    echo rm is just a word here; printf '%s\\n' sudo
    grep -r "rm -rf" notes.txt > found.txt 2>&1
    cat <<EOF > report.md
    sudo is not needed
    rm nothing
    EOF
    echo done
    """
    assert blocked(script, "su", "rm", "sudo") == []
    assert names(script) == ["echo", "echo", "printf", "grep", "cat", "echo"]


def test_ordinary_bash_is_understood_without_false_alarms() -> None:
    script = """
    set -euo pipefail
    if [ -f requirements.txt ]; then pip install -r requirements.txt; fi
    [[ -n "$SYFT_JOB_ID" && $x == a* ]] && echo ok
    for f in data/*.csv; do wc -l "$f"; done
    for ((i = 0; i < 3; i++)); do echo $((i + 1)); done
    case "$1" in
      a|b) python3 a.py ;;
      (c) python3 c.py ;;
      *) echo other ;;
    esac
    summarise() { python3 summary.py "$@" > "$SYFT_OUTPUT_DIR/summary.txt"; }
    function report { echo report; }
    summarise --all && report
    files=(a.csv b.csv)
    command -v python3 >/dev/null || exit 1
    exec 2>&1
    """
    assert allowed(script, "python3", "pip", "wc") == []
    assert names(script) == [
        "set",
        "[",
        "pip",
        "echo",
        "wc",
        "echo",
        "python3",
        "python3",
        "echo",
        "python3",
        "echo",
        "summarise",
        "report",
        "command",
        "exit",
        "exec",
    ]


def test_names_are_reported_in_order_with_their_lines() -> None:
    calls = invocations("echo a\n\nls | wc -l\n")
    assert [(c.name, c.line) for c in calls] == [("echo", 1), ("ls", 3), ("wc", 3)]


# --- hidden commands are found -------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "rm -r -f data",
        "/bin/rm data",
        "echo a && rm data",
        "echo a; rm data",
        "echo a | rm data",
        "(rm data)",
        "{ rm data; }",
        "! rm data",
        "echo $(rm data)",
        "echo `rm data`",
        'echo "$(rm data)"',
        "echo ${x:-$(rm data)}",
        "echo $(( $(rm data) + 1 ))",
        "cat <(rm data)",
        "x=(a $(rm data))",
        "2>&1 rm data",
        ">out rm data",
        "X=1 rm data",
        "sudo rm data",
        "sudo -u bob -- rm data",
        "env -i PATH=/bin rm data",
        "env -S 'rm data'",
        "nohup rm data &",
        "nice -n 5 rm data",
        "timeout -s KILL 5 rm data",
        "xargs rm",
        "xargs -n 1 rm",
        "xargs -I {} rm {}",
        "find . -name '*.csv' -exec rm {} \\;",
        "find . -execdir sh -c 'rm x' \\;",
        'bash -c "rm data"',
        "sh -ec 'rm data'",
        "su nobody -c 'rm data'",
        "env rm -S data",
        "flock /tmp/lock -c 'rm data'",
        "flock -w 5 /tmp/lock rm data",
        "runuser -u bob -- rm data",
        "watch -n1 'rm data'",
        "busybox rm data",
        "eval 'rm data'",
        "trap 'rm data' EXIT",
        "alias l='rm data'",
        "r\\m data",
        "'r'\"m\" data",
        "$'\\x72m' data",
        "cat <<EOF\n$(rm data)\nEOF",
        "if true; then\n  rm data\nfi",
        "case x in x) rm data;; esac",
    ],
)
def test_a_blocked_command_is_caught_however_it_is_written(script: str) -> None:
    assert any("'rm' is a blocked command" in p for p in blocked(script, "rm")), names(script)


def test_a_wrappers_options_are_not_mistaken_for_commands() -> None:
    assert names("flock /tmp/lock -c 'make all'") == ["flock", "make"]
    assert names("timeout -k 5 60 python3 x.py") == ["timeout", "python3"]
    assert names("env -u HOME -C /tmp LANG=C sort -S 1G f") == ["env", "sort"]


def test_find_exec_is_checked_but_find_itself_is_not_blocked() -> None:
    assert blocked("find . -name '*.tmp' -print", "rm") == []
    assert blocked("find . -name '*.tmp' -delete", "rm") == []  # a find feature, not a command


def test_commands_that_cannot_be_known_in_advance_are_refused_under_a_policy() -> None:
    for script in ("cmd=rm; $cmd data", 'eval "$x"', "r{m,x} data", "/bin/r? data", "curl -s x | bash"):
        problems = blocked(script, "rm")
        assert problems and "cannot be checked" in problems[-1], script
    assert policy_violations("$cmd", [], None) == []  # no policy, nothing to check


def test_scripts_in_the_code_folder_that_run_sh_runs_are_checked_too() -> None:
    files = {"lib/helpers.sh": "cleanup() { rm -rf /tmp/x; }\n", "step.sh": "echo step\nsudo reboot\n"}
    problems = blocked("source ./lib/helpers.sh\nbash step.sh\ncleanup\n", "rm", "sudo", files=files)
    assert problems == [
        "lib/helpers.sh line 1: 'rm' is a blocked command",
        "step.sh line 2: 'sudo' is a blocked command",
    ]


def test_a_script_from_outside_the_code_folder_cannot_be_checked() -> None:
    for script in ("bash /tmp/x.sh", "source ../other/x.sh", ". ~/.bashrc"):
        problems = blocked(script, "rm")
        assert problems and "not part of the submitted code" in problems[0], script


def test_a_script_that_runs_itself_does_not_loop() -> None:
    assert blocked("bash run.sh\nrm x\n", "rm", files={"run.sh": "bash run.sh\nrm x\n"}) == [
        "run.sh line 2: 'rm' is a blocked command"
    ]


# --- allowlists ----------------------------------------------------------------------


def test_an_allowlist_admits_listed_programs_builtins_and_the_scripts_own_functions() -> None:
    script = "main() { python analysis.py; }\nmain\necho done\ncd data && pwd\n"
    assert policy_violations(script, [], ["python"]) == []
    assert policy_violations(script + "curl http://x\n", [], ["python"]) == [
        "run.sh line 5: 'curl' is not in the allowed commands"
    ]


def test_a_function_cannot_launder_a_blocked_name() -> None:
    assert blocked("rm() { echo no; }\nrm x\n", "rm") == ["run.sh line 2: 'rm' is a blocked command"]


def test_blocked_wins_over_allowed_and_paths_count_as_their_name() -> None:
    assert policy_violations("/usr/bin/pip install x", ["/usr/bin/pip"], ["pip"]) == [
        "run.sh line 1: 'pip' is a blocked command"
    ]


@pytest.mark.parametrize("bad", ["rm", ["rm -rf"], [""], [3]])
def test_malformed_lists_are_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match="blocked_commands"):
        SafeCodeRunner(blocked_commands=bad)  # type: ignore[arg-type]


# --- through the runner --------------------------------------------------------------


def test_the_runner_refuses_at_acceptance_naming_the_line(make_code, tmp_path: Path) -> None:
    code = make_code('echo "successfully"\nls data | xargs rm\n', extra={"data/a.txt": "a"})
    runner = SafeCodeRunner(blocked_commands=["rm", "su"])
    assert runner.check_code(code, _job()) == ["run.sh line 3: 'rm' is a blocked command"]


def test_the_original_readme_runner_accepts_its_own_example(make_code) -> None:
    runner = SafeCodeRunner(
        timeout=300,
        max_output_size=10 * 1024 * 1024,
        blocked_commands=["rm", "sudo", "passwd"],
        allowed_commands=["python", "pip", "echo"],
    )
    code = make_code(
        """
        set -e
        echo "Starting job: $SYFT_JOB_NAME"
        if [ -f requirements.txt ]; then
            pip install -r requirements.txt
        fi
        python analysis.py
        echo "Job completed successfully" > "$SYFT_OUTPUT_DIR/status.txt"
        """
    )
    assert runner.check_code(code, _job()) == []


def _job() -> Job:
    from datetime import datetime, timezone

    from syft_code_queue.models import FileEntry, JobRequest

    request = JobRequest(
        uid="0" * 32,
        name="policy",
        requester_email="alice@example.com",
        target_email="owner@example.com",
        created_at=datetime.now(timezone.utc),
        files=[FileEntry(path="run.sh", size=0, sha256="0" * 64)],
    )
    return Job(request=request)
