"""A submission's ``requirements.txt``, read as the owner accepts it: package names and
version specifiers only, resolved against the owner's index.

Anything that would reach past the owner's index is refused with the line that says it: URLs
and VCS references (``name @ https://...``, ``git+https://...``), local paths, and pip options
(``-e``, ``-r``, ``--index-url``, ``--find-links``, ...). So are packages on the owner's
forbidden list, named directly or pulled in by the resolution.
"""

from __future__ import annotations

import re
from typing import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import RequirementsRefused

URL_OR_VCS = re.compile(r"(://|^(git|hg|svn|bzr)\+|^file:)", re.IGNORECASE)
LOCAL_PATH = re.compile(r"^(\.|/|~|[A-Za-z]:\\)|[/\\]")


def requirement_lines(text: str, source: str = "requirements.txt") -> list[str]:
    """The requirements in ``text``, one per entry (comments and continuations removed)."""
    found: list[str] = []
    for number, line in _logical_lines(text):
        found.append(_check(line, f"{source} line {number}"))
    return found


def package_requirements(packages: Iterable[str]) -> list[str]:
    """A runtime's declared packages, held to the same rules as a submission's."""
    return [_check(package.strip(), f"package {package!r}") for package in packages]


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw if raw.lstrip().startswith("#") else re.sub(r"\s+#.*$", "", raw)
        line = "" if line.lstrip().startswith("#") else line.strip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def _check(line: str, where: str) -> str:
    if line.startswith("-"):
        raise RequirementsRefused(
            f"{where}: pip options such as {line.split()[0]!r} are not accepted (no other indexes, "
            "files or editable installs); list packages by name and version only"
        )
    if URL_OR_VCS.search(line) or "@" in line.split(";")[0]:
        raise RequirementsRefused(
            f"{where} is a URL or VCS reference ({line!r}): only packages from the owner's index "
            "are installed; name the package and its version instead"
        )
    if LOCAL_PATH.search(line.split(";")[0]):
        raise RequirementsRefused(
            f"{where} is a local path ({line!r}): only packages from the owner's index are "
            "installed; name the package and its version instead"
        )
    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        raise RequirementsRefused(f"{where} is not a valid requirement ({line!r}): {exc}") from None
    return str(requirement)


def refuse_forbidden(requirements: Iterable[str], forbidden: Iterable[str], how: str) -> None:
    """Refuse when any of ``requirements`` (requirements or ``name==version`` pins) names a
    forbidden package; ``how`` says where they came from."""
    banned = {canonicalize_name(name) for name in forbidden}
    named = sorted({canonicalize_name(Requirement(r).name) for r in requirements} & banned)
    if named:
        raise RequirementsRefused(
            f"{', '.join(named)} {'is' if len(named) == 1 else 'are'} on the owner's list of forbidden "
            f"packages ({how}); remove {'it' if len(named) == 1 else 'them'} from requirements.txt"
        )
