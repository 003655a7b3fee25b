"""The command policy: ``run.sh`` (and every script it runs) may not invoke a blocked
command, and, when an allow-list is set, only allowed ones and harmless builtins. Anything
whose command cannot be known before it runs is refused whenever a policy is set.

A policy check on what the script says, not containment: that is the sandbox's job.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .bashlex import HARMLESS_BUILTINS, ScriptReader, invocations


def normalise_names(names: Iterable[str], what: str) -> frozenset[str]:
    """Command names as the policy compares them; a path counts as its last component."""
    if isinstance(names, str):
        raise ValueError(f"{what} must be a list of command names, not the string {names!r}")
    out = set()
    for name in names:
        if not isinstance(name, str) or not name.strip() or any(ch.isspace() for ch in name.strip()):
            raise ValueError(f"{what} must hold single command names; got {name!r}")
        base = name.strip().rstrip("/").rsplit("/", 1)[-1]
        if not base:
            raise ValueError(f"{what} must hold command names; got {name!r}")
        out.add(base)
    return frozenset(out)


def policy_violations(
    script: str,
    blocked: Iterable[str],
    allowed: Optional[Iterable[str]],
    read_script: Optional[ScriptReader] = None,
    name: str = "run.sh",
) -> list[str]:
    """Reasons the script breaks the command policy, each naming the script and line (empty if
    it doesn't, or if no policy is set). Functions the script defines count as allowed, but a
    blocked name stays blocked even when a function shadows it."""
    blocked_set = normalise_names(blocked, "blocked_commands")
    allowed_set = None if allowed is None else normalise_names(allowed, "allowed_commands")
    if not blocked_set and allowed_set is None:
        return []
    problems: list[str] = []
    for call in invocations(script, read_script, name):
        where = f"{call.script} line {call.line}"
        if call.name is None:
            problems.append(f"{where}: {call.text!r} {call.unchecked}")
        elif call.name in blocked_set:
            problems.append(f"{where}: {call.name!r} is a blocked command")
        elif allowed_set is not None and not (
            call.name in allowed_set or call.name in HARMLESS_BUILTINS or call.function
        ):
            problems.append(f"{where}: {call.name!r} is not in the allowed commands")
    return problems
