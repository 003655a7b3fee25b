"""``SafeCodeRunner``, the default runner: the job runs in a bubblewrap sandbox (or, where
that is impossible, as a plain process under rlimits, with a warning), its logs and outputs
are capped, its whole process tree dies on timeout, and ``run.sh`` is checked against the
command policy when the job is accepted. The README's "Security model" says what each of
these does and does not do.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterable, Optional

from pydantic import ValidationError

from ..models import Job
from ..protocol.layout import INSIDE_DATA
from .base import CodeRunner, JobRun, RunResult, data_folder, job_environment
from .bubblewrap import (
    JOB_BIN,
    Bubblewrap,
    bwrap_argv,
    hidden_binaries,
    job_programs,
    shell_command,
    unreadable_by_others,
)
from .launcher import JobIds, Launch
from .limits import SandboxPolicy, format_size, lease_job_ids, limits_prologue, tasks_of
from .policy import normalise_names, policy_violations
from .python import MINIMAL_PATH
from .staging import INSIDE_ROOT, Staging, code_view

log = logging.getLogger(__name__)

LIMIT_EXIT_CODES = {
    128 + signal.SIGXCPU: "a process used up its CPU time limit ({max_cpu_time} s, max_cpu_time)",
    128 + signal.SIGXFSZ: "a process tried to write a file larger than max_file_size ({max_file_size} bytes)",
}


class SafeCodeRunner(CodeRunner):
    """The default runner: the job runs in a bubblewrap sandbox (no network, read-only system,
    only its own files visible) under resource limits, its logs and outputs are capped, its
    whole process tree dies on timeout, and ``run.sh`` is checked against the command lists
    when the job is accepted.

    The first four parameters are the original API. The other keywords are the fields of
    :class:`~syft_code_queue.sandbox.SandboxPolicy`: ``max_outputs_size``, ``max_scratch_size``,
    ``max_cpu_time``, ``max_memory``, ``max_processes``, ``max_open_files``, ``max_file_size``,
    ``allow_network``, ``sandbox`` ("bwrap" or "none"), ``require_sandbox`` and ``job_uid_base``.

    The command lists are a policy check on what run.sh says; containment comes from the sandbox.

    It reads ``code_dir`` in place (``reads_code_in_place``): the job sees it read-only, bound
    by the sandbox or linked (``runner/staging.py``), and a copy only where it could change it.
    """

    reads_code_in_place = True

    def __init__(
        self,
        timeout: float = 600,
        max_output_size: int = 10 * 1024 * 1024,
        blocked_commands: Optional[Iterable[str]] = None,
        allowed_commands: Optional[Iterable[str]] = None,
        **limits: Any,
    ) -> None:
        super().__init__(timeout=timeout, max_output_size=max_output_size)
        self.blocked_commands = normalise_names(blocked_commands or (), "blocked_commands")
        self.allowed_commands = (
            None if allowed_commands is None else normalise_names(allowed_commands, "allowed_commands")
        )
        try:
            self.policy = SandboxPolicy(**limits)
        except ValidationError as exc:
            raise ValueError(_explain(exc)) from None
        self.bubblewrap = Bubblewrap(self.policy)

    # -- acceptance ---------------------------------------------------------------------
    def check_code(self, code_dir: Path, job: Job) -> list[str]:
        problems = super().check_code(code_dir, job)
        if problems:
            return problems
        try:
            text = (code_dir / "run.sh").read_text()
        except UnicodeDecodeError:
            return ["run.sh is not UTF-8 text"]

        def read_script(rel: str) -> Optional[str]:
            path = code_dir / rel
            if not path.is_file():  # links were refused above
                return None
            return path.read_text(errors="replace")

        return policy_violations(text, self.blocked_commands, self.allowed_commands, read_script)

    # -- reporting ----------------------------------------------------------------------
    def describe(self) -> str:
        p = self.policy
        bwrap, problem = self.bubblewrap.status()
        sandbox = "bubblewrap" if bwrap else f"none ({problem})"
        network = "on" if p.allow_network else "off"
        return (
            f"SafeCodeRunner(timeout={self.timeout:g} s, sandbox={sandbox}, network={network}, "
            f"logs={format_size(self.max_output_size or 0)}, outputs={format_size(p.max_outputs_size)}, "
            f"scratch={format_size(p.max_scratch_size)}, cpu={p.max_cpu_time} s, "
            f"memory={format_size(p.max_memory)}/process, processes={p.max_processes}, "
            f"open_files={p.max_open_files}, file_size={format_size(p.max_file_size)})"
        )

    def warnings(self) -> list[str]:
        bwrap, problem = self.bubblewrap.status()
        if bwrap is not None:
            return []
        if self.policy.require_sandbox:
            return [
                f"require_sandbox=True but the sandbox is unavailable ({problem}): every job will "
                "fail until bubblewrap works"
            ]
        who = "their dedicated uid" if os.geteuid() == 0 else "the server's own user"
        notes = [
            f"jobs run WITHOUT a sandbox ({problem}): they can read any file {who} can read, use "
            "the network and see other processes; only the resource limits, the clean environment "
            "and the process-tree kill apply. Install bubblewrap, or set require_sandbox=True to "
            "refuse to run jobs without it."
        ]
        if os.geteuid() != 0:
            notes.append(
                "without the sandbox, the process limit counts the server user's other "
                "processes too, and a job could kill its supervisor, or the supervisor "
                "server and with it the other running jobs, and leave processes behind"
            )
        return notes

    # -- running --------------------------------------------------------------------------
    def run_job(self, job: JobRun) -> RunResult:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        bwrap, problem = self.bubblewrap.status()
        if bwrap is None and self.policy.require_sandbox:
            message = f"not run: the sandbox is required (require_sandbox=True) but unavailable: {problem}"
            job.stderr_path.write_text(message + "\n")
            return RunResult(exit_code=None, error=message)
        if os.geteuid() == 0:
            unreadable = _unreadable_data(job)
            if unreadable is not None:
                job.stderr_path.write_text(unreadable + "\n")
                return RunResult(exit_code=None, error=unreadable)
        with ExitStack() as stack:
            ids = stack.enter_context(lease_job_ids(self.policy.job_uid_base)) if os.geteuid() == 0 else None
            view = code_view(ids, sandboxed=bwrap is not None)
            staging = stack.enter_context(Staging.create(job.code_dir, ids, view))
            data_dir = None if bwrap else stack.enter_context(data_folder(job.data, ids.uid if ids else None))
            launch = self._launch(job, staging, ids, bwrap, data_dir)
            result = self.supervise(
                launch, job, self.effective_timeout(job), watchdog=lambda: staging.over_limit(self.policy)
            )
            refused = staging.collect_outputs(job.output_dir, self.policy.max_outputs_size)
        error = result.error or refused
        if error is None and result.exit_code in LIMIT_EXIT_CODES:
            why = LIMIT_EXIT_CODES[result.exit_code].format(**self.policy.model_dump())
            error = f"run.sh exited with code {result.exit_code}: {why}"
        return RunResult(exit_code=result.exit_code, error=error, truncated=result.truncated)

    def _launch(
        self, job: JobRun, staging: Staging, ids: Optional[JobIds], bwrap: Optional[str], data_dir: Optional[Path]
    ) -> Launch:
        bash = shutil.which("bash", path=MINIMAL_PATH) or "/bin/bash"
        python = job.runtime_python(as_other_user=ids is not None)
        programs = job_programs(python, self.allowed_commands)
        if bwrap is None:
            # Without a user namespace RLIMIT_NPROC counts every process of the uid.
            nproc = self.policy.max_processes + (0 if ids else tasks_of(os.getuid()))
            staging.link_programs(programs)
            path = str(staging.bin) if self.allowed_commands is not None else python.path(str(staging.bin))
            env = job_environment(job, staging.outputs, staging.home, staging.tmp, path, data_dir=data_dir)
            command = shell_command(bash, limits_prologue(self.policy, nproc))
            return Launch(argv=command, cwd=staging.code, env=env, ids=ids)
        path = JOB_BIN if self.allowed_commands is not None else python.path(JOB_BIN)
        env = job_environment(job, f"{INSIDE_ROOT}/outputs", f"{INSIDE_ROOT}/home", "/tmp", path, INSIDE_DATA)
        command = shell_command(bash, limits_prologue(self.policy, self.policy.max_processes))
        hidden = hidden_binaries(self.blocked_commands, bash)
        argv = bwrap_argv(bwrap, self.policy, staging, command, hidden, programs, python, job.data)
        return Launch(argv=argv, cwd=staging.code, env=env, ids=ids)


def _unreadable_data(job: JobRun) -> Optional[str]:
    """A server running as root runs each job as a uid of its own, which reads the datasets
    with the permissions of any other user: why it could not, or None."""
    for name, folder in job.data.items():
        why = unreadable_by_others(folder)
        if why is not None:  # the path is the owner's to see, never the requester's
            log.warning("dataset %r: %s", name, why)
            return (
                f"dataset {name!r} cannot be read by the job's own user (the data owner's log says "
                "why): make its folder readable by other users, or run the server as the data's owner"
            )
    return None


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "options"
        if err["type"] == "extra_forbidden":
            known = ", ".join(SandboxPolicy.model_fields)
            parts.append(f"unknown SafeCodeRunner option {where!r} (known: {known})")
        else:
            parts.append(f"SafeCodeRunner option {where}: {err['msg']}")
    return "; ".join(parts)
