"""Trusted code: rules the owner sets when approving, under which a later submission of the
same bytes approves itself.

A rule pins the approved job's manifest (path, size and hash of every file) minus its
``variable_files``, which may differ or be missing (a parameters file), and the runtime it
ran in: the runtime's name and the hash of the lock its packages resolved into. A submission
matches when it comes from one of the rule's requesters, asks only for datasets the rule
names, its other files are exactly the pinned ones, it asks for the same runtime and its
requirements resolved into the same lock (so a variable ``requirements.txt`` may vary only in
ways that change no package), and the rule has not expired. The rules live in the
owner's private ``<queue>.trust.json``, changed under a lock file by whichever owner process
acts, and every change is recorded in the audit log.
"""

from __future__ import annotations

import fcntl
import logging
import uuid
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator, Optional, Union

from pydantic import ValidationError

from ..errors import ConfigurationError, TrustRuleNotFound, describe
from ..models import JobRef, JobRequest, ResolvedRuntime, TrustRule, TrustRules, utcnow
from ..protocol.audit import AuditLog
from ..protocol.layout import PrivateLayout
from ..syftbox import atomic_write_json

log = logging.getLogger(__name__)

TRUST_APPROVER = "trust-rule"
Trust = Union[bool, TrustRule]  # what ``approve_job(trust=...)`` takes


def requested_datasets(request: JobRequest) -> tuple[str, ...]:
    """The datasets a request asks for, in a stable order."""
    return tuple(sorted(request.datasets))


def lock_of(runtime: Optional[ResolvedRuntime]) -> Optional[str]:
    return runtime.lock_sha256 if runtime is not None else None


def matches(
    rule: TrustRule, request: JobRequest, runtime: Optional[ResolvedRuntime], now: Optional[datetime] = None
) -> bool:
    """``runtime``: what the request's runtime and requirements resolved into at acceptance."""
    if rule.expired(now) or request.requester_email not in (rule.requesters or ()):
        return False
    if request.runtime != rule.runtime or lock_of(runtime) != rule.lock_sha256:
        return False
    if not set(requested_datasets(request)) <= set(rule.datasets or ()):
        return False
    variable = set(rule.variable_files)
    submitted = {(f.path, f.size, f.sha256) for f in request.files if f.path not in variable}
    return submitted == {(f.path, f.size, f.sha256) for f in rule.files}


def approval_reason(rule: TrustRule) -> str:
    """How a job approved by ``rule`` names it in its history."""
    return f"approved by trust rule {rule.id} (the code of job {rule.source_uid}, approved by {rule.created_by})"


class TrustStore:
    """One queue's trust rules."""

    def __init__(self, private: PrivateLayout, audit: AuditLog) -> None:
        self.private = private
        self.audit = audit

    def rules(self) -> list[TrustRule]:
        """Every rule in force, expired ones included (they match nothing)."""
        try:
            raw = self.private.trust_rules.read_bytes()
        except FileNotFoundError:
            return []
        try:
            return list(TrustRules.model_validate_json(raw).rules)
        except ValidationError as exc:
            raise ConfigurationError(
                f"the trust rules in {self.private.trust_rules} are unreadable ({describe(exc, subject='document')});"
                " fix or remove the file (no job is approved by trust until then)"
            ) from None

    def match(self, request: JobRequest, runtime: Optional[ResolvedRuntime]) -> Optional[TrustRule]:
        """The rule that approves ``request`` (whose packages resolved into ``runtime``), if one
        does; unreadable rules approve nothing."""
        try:
            rules = self.rules()
        except ConfigurationError as exc:
            log.error("%s", exc)
            return None
        now = utcnow()
        return next((rule for rule in rules if matches(rule, request, runtime, now)), None)

    def pin(
        self, trust: Trust, request: JobRequest, runtime: Optional[ResolvedRuntime], by: str
    ) -> Optional[TrustRule]:
        """The rule approving ``request`` with ``trust`` creates (None for ``False``): the
        terms given, and the request's requester, datasets, files and resolved runtime for
        the rest."""
        if trust is False:
            return None
        terms = TrustRule() if trust is True else trust
        if not isinstance(terms, TrustRule):
            raise TypeError(f"trust must be True, False or a TrustRule, not {type(trust).__name__}")
        paths = {f.path for f in request.files}
        unknown = sorted(set(terms.variable_files) - paths)
        if unknown:
            raise ValueError(
                f"variable files {', '.join(unknown)} are not part of job {request.uid}; name files it has"
            )
        return terms.model_copy(
            update={
                "id": uuid.uuid4().hex[:12],
                "requesters": terms.requesters or (request.requester_email,),
                "datasets": terms.datasets if terms.datasets is not None else requested_datasets(request),
                "files": tuple(f for f in request.files if f.path not in set(terms.variable_files)),
                "runtime": request.runtime,
                "lock_sha256": lock_of(runtime),
                "source_uid": request.uid,
                "created_at": utcnow(),
                "created_by": by,
            }
        )

    def add(self, rule: TrustRule, source: JobRef) -> TrustRule:
        """Store a rule ``pin`` made from job ``source``."""
        with self._locked():
            self._save([*self.rules(), rule])
        self.audit.record(
            "trust_added",
            by=rule.created_by or "",
            job=source,
            rule=rule.id,
            requesters=", ".join(rule.requesters or ()),
            datasets=", ".join(rule.datasets or ()),
            variable_files=", ".join(rule.variable_files),
            expires=rule.expires.isoformat() if rule.expires else None,
        )
        return rule

    def revoke(self, rule_id: str, by: str) -> TrustRule:
        with self._locked():
            rules = self.rules()
            found = next((rule for rule in rules if rule.id == rule_id), None)
            if found is None:
                raise TrustRuleNotFound(
                    f"no trust rule {rule_id!r} in this queue; list_trust_rules() (scq trust list) shows the ids"
                )
            self._save([rule for rule in rules if rule is not found])
        self.audit.record("trust_revoked", by=by, rule=rule_id, source_uid=found.source_uid)
        return found

    def _save(self, rules: list[TrustRule]) -> None:
        self.private.private_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.private.trust_rules, TrustRules(rules=tuple(rules)).model_dump_json(indent=2))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.private.private_dir.mkdir(parents=True, exist_ok=True)
        with open(self.private.trust_lock, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
