"""Per-file diffs between two jobs' code, for the owner's review of a new version.

Manifests decide what changed (path, size and hash), so a diff reads only the files that
differ, and "identical" needs no file at all (it still holds after the code was cleaned
up). Changed text files get a unified diff; binary files, files too large to show and files
whose bytes are gone get their sizes and hashes only. A job is compared with the job it
supersedes, and with the last approved job of the same name from the same requester.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Callable, Iterable, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict

from ..models import FileEntry, Job, JobStatus

MAX_DIFF_BYTES = 256 * 1024  # a file larger than this is compared by size and hash only

# The bytes of one file of one job, or a note why there are none to show (binary files are
# told apart here, from the bytes).
Reader = Callable[[Job, FileEntry], Union[bytes, str]]
Change = Literal["added", "removed", "changed"]
# Why a job was compared with that one: the job it supersedes, the last approved of its name,
# or the one the caller named.
Basis = Literal["supersedes", "approved", "chosen"]
BASIS_NAMES = {"supersedes": "superseded job", "approved": "approved job", "chosen": "job"}


class FileDiff(BaseModel):
    """One file that differs. ``diff``: a unified diff of the text (None with a ``note``
    saying why not: binary, too large, no longer on disk)."""

    model_config = ConfigDict(frozen=True)

    path: str
    change: Change
    old: Optional[FileEntry] = None
    new: Optional[FileEntry] = None
    diff: Optional[str] = None
    note: Optional[str] = None


class CodeDiff(BaseModel):
    """How job ``uid``'s code differs from job ``against``'s (``basis``: why that job)."""

    model_config = ConfigDict(frozen=True)

    uid: str
    against: str
    basis: Basis
    files: tuple[FileDiff, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        return not self.files

    def paths(self, change: Change) -> list[str]:
        return [f.path for f in self.files if f.change == change]

    def summary(self) -> str:
        """One line: "identical to approved job 1a2b3c4d", or what changed."""
        if self.identical:
            return f"identical to {BASIS_NAMES[self.basis]} {self.against[:8]}"
        counts = [f"{len(self.paths(c))} {c}" for c in ("added", "removed", "changed") if self.paths(c)]
        return f"{', '.join(counts)} against job {self.against[:8]} ({len(self.unchanged)} unchanged)"

    def text(self) -> str:
        """The whole diff as text: a line per file, then each text diff."""
        lines = [self.summary()]
        for f in self.files:
            sizes = " -> ".join(f"{e.size} bytes" for e in (f.old, f.new) if e is not None)
            lines.append(f"{f.change:8} {f.path}  ({sizes}{'; ' + f.note if f.note else ''})")
        for f in self.files:
            if f.diff:
                lines.append(f.diff)
        return "\n".join(lines) + "\n"


class JobDiffs(BaseModel):
    """What the approval panel shows for one job: its diff against the job it supersedes
    (``previous``) and against the last approved job of its name (``approved``), each None
    when there is no such job."""

    model_config = ConfigDict(frozen=True)

    uid: str
    previous: Optional[CodeDiff] = None
    approved: Optional[CodeDiff] = None

    @property
    def chip(self) -> Optional[str]:
        """ "identical to approved job X" when nothing changed since the last approval."""
        return self.approved.summary() if self.approved is not None and self.approved.identical else None


def last_approved(job: Job, jobs: Iterable[Job]) -> Optional[Job]:
    """The same requester's most recently approved other job with ``job``'s name."""
    best: Optional[tuple[datetime, Job]] = None
    for other in jobs:
        if other.uid == job.uid or other.requester_email != job.requester_email or other.name != job.name:
            continue
        at = other.state.entered(JobStatus.approved) if other.state else None
        if at is not None and (best is None or at > best[0]):
            best = (at, other)
    return best[1] if best else None


def compare(new: Job, old: Job, read: Reader, basis: Basis) -> CodeDiff:
    before = {f.path: f for f in old.files}
    after = {f.path: f for f in new.files}
    files: list[FileDiff] = []
    unchanged: list[str] = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a is not None and b is not None and (a.size, a.sha256) == (b.size, b.sha256):
            unchanged.append(path)
            continue
        change: Change = "added" if a is None else "removed" if b is None else "changed"
        old_text, old_note = _text(read(old, a)) if a is not None else ("", None)
        new_text, new_note = _text(read(new, b)) if b is not None else ("", None)
        note = old_note or new_note
        diff = None if note else _unified(old_text, new_text, f"{old.short_uid}/{path}", f"{new.short_uid}/{path}")
        files.append(FileDiff(path=path, change=change, old=a, new=b, diff=diff, note=note))
    return CodeDiff(uid=new.uid, against=old.uid, basis=basis, files=tuple(files), unchanged=tuple(unchanged))


BINARY = "binary file: sizes and hashes only"


def _text(content: Union[bytes, str]) -> tuple[str, Optional[str]]:
    """A file's text, or a note why it has none to show (a reader's note, or binary)."""
    if isinstance(content, str):
        return "", content
    if b"\0" in content:
        return "", BINARY
    try:
        return content.decode("utf-8"), None
    except UnicodeDecodeError:
        return "", BINARY


def _unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{old_name}", f"b/{new_name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
