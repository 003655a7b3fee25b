"""A SyftBox sync simulator: several SyftBox roots (one identity each) and a syncer between
them that behaves like the real network, hazards included.

Each peer is a SyftBox client root (``<data_dir>/datasites/<email>/...``). The syncer plays
the SyftBox server: it keeps the canonical copy of every file ("the hub"), uploads what a
peer wrote if the ACLs the owner wrote (``syft.pub.yaml``) allow it, and downloads to every
peer that may read it. What it does on purpose, as measured on a real SyftBox server:

- empty files, ``*.log``, ``*.tmp``, hidden files and anything under ``logs/`` never sync;
- the exec bit is lost on delivery;
- a write the ACLs refuse is renamed ``<stem>.rejected<suffix>`` on the writer's side and
  never propagates (the hub's version, if the writer may read one, is put back);
- two writers of one file between two syncs: the last upload wins, the other is lost
  (counted in ``stats.conflicts``: the queue's protocol must never cause one);
- on demand (``Hazards``): deliveries reordered, delayed for some rounds, or written in two
  steps so a prefix of the file is visible first; a file "lost in transit" until released.

``step()`` runs one deterministic round (seeded); ``start()`` runs rounds in a thread.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import re
import stat
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional

import yaml

PERMISSION_FILE = "syft.pub.yaml"


@dataclass(frozen=True)
class Hazards:
    """Which faults to inject and how often (probabilities are per delivery)."""

    reorder: bool = False
    delay: float = 0.0
    max_delay_rounds: int = 6
    partial: float = 0.0

    @classmethod
    def all(cls) -> "Hazards":
        return cls(reorder=True, delay=0.3, partial=0.3)

    @classmethod
    def random_mix(cls, rng: random.Random) -> "Hazards":
        return cls(
            reorder=rng.random() < 0.7,
            delay=rng.choice([0.0, 0.1, 0.3, 0.6]),
            max_delay_rounds=rng.randint(1, 10),
            partial=rng.choice([0.0, 0.2, 0.5, 0.9]),
        )


@dataclass(frozen=True)
class Peer:
    """One SyftBox client: a root folder and the identity it syncs as."""

    name: str
    email: str
    data_dir: Path

    @property
    def datasites(self) -> Path:
        return self.data_dir / "datasites"


@dataclass
class _Blob:
    data: bytes
    version: int


@dataclass
class _Delivery:
    peer: str
    rel: str
    version: int  # 0: a deletion
    ready_round: int
    prefix_done: bool = False


@dataclass
class _Known:
    """What a peer's copy of a file was when the syncer last saw it in sync."""

    version: int
    sha256: str
    fingerprint: tuple[int, int, int]


def never_synced(rel: str, size: int) -> bool:
    """What SyftBox does not carry: empty files, temp and log files, hidden files, logs/."""
    parts = PurePosixPath(rel).parts
    name = parts[-1]
    return (
        size == 0
        or name.endswith((".tmp", ".log"))
        or any(p.startswith(".") or p == "logs" for p in parts)
        or ".rejected" in name
        or ".syftrejected" in name
    )


def rejected_name(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected{path.suffix}" if path.suffix else f"{path.name}.rejected")


@functools.lru_cache(maxsize=None)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


class Acl:
    """``syft.pub.yaml`` semantics: the nearest permission file above a path governs it
    (a ``terminal`` one hides any below it); its first matching rule decides; no rule, no
    access. The datasite's owner may do anything; only the owner may write ACL files."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._rules: dict[str, tuple[bool, list[dict]]] = {}
        self._cache: dict[tuple[str, str, str], bool] = {}
        for rel, data in files.items():
            if PurePosixPath(rel).name == PERMISSION_FILE:
                doc = yaml.safe_load(data) or {}
                self._rules[str(PurePosixPath(rel).parent)] = (bool(doc.get("terminal")), doc.get("rules") or [])

    def allows(self, user: str, rel: str, access: str) -> bool:
        key = (user, rel, access)
        if key not in self._cache:
            self._cache[key] = self._allows(user, rel, access)
        return self._cache[key]

    def _allows(self, user: str, rel: str, access: str) -> bool:
        parts = PurePosixPath(rel).parts
        if parts[0] == user:
            return True
        if parts[-1] == PERMISSION_FILE and access == "write":
            return False
        governing: Optional[tuple[str, list[dict]]] = None
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in self._rules:
                terminal, rules = self._rules[folder]
                governing = (folder, rules)
                if terminal:
                    break
        if governing is None:
            return False
        folder, rules = governing
        inside = rel[len(folder) + 1 :]
        for rule in rules:
            pattern = str(rule.get("pattern", "")).replace("{{.UserEmail}}", user)
            if _glob_regex(pattern).match(inside):
                who = (rule.get("access") or {}).get(access) or []
                return "*" in who or user in who or ("USER" in who and "{{.UserEmail}}" in str(rule["pattern"]))
        return False


@dataclass
class SyncStats:
    uploads: int = 0
    deliveries: int = 0
    deletions: int = 0
    hazards: Counter = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (peer, rel)
    conflicts: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        h = ", ".join(f"{k}={v}" for k, v in sorted(self.hazards.items()))
        return (
            f"uploads={self.uploads} deliveries={self.deliveries} deletions={self.deletions} "
            f"rejected={len(self.rejected)} conflicts={len(self.conflicts)} hazards: {h}"
        )


class SyncSim:
    """The network between peers. Not thread-safe by itself: use ``step`` from one thread,
    or ``start``/``stop`` to run it in its own."""

    def __init__(self, peers: Iterable[Peer], hazards: Hazards = Hazards(), seed: int = 0) -> None:
        self.peers = {p.name: p for p in peers}
        self.hazards = hazards
        self.rng = random.Random(seed)
        self.round = 0
        self.stats = SyncStats()
        self._hub: dict[str, _Blob] = {}
        self._clock = 0  # versions are global, so a re-created file never looks unchanged
        self._acl_cache: Optional[Acl] = None
        self._known: dict[str, dict[str, _Known]] = {name: {} for name in self.peers}
        self._pending: list[_Delivery] = []
        self._held: set[str] = set()  # "lost in transit" until released
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        for peer in self.peers.values():
            peer.datasites.mkdir(parents=True, exist_ok=True)

    # -- control ------------------------------------------------------------------------
    def hold(self, pattern: str) -> None:
        """Keep files whose path matches ``pattern`` (a regex) from being delivered."""
        with self._lock:
            self._held.add(pattern)

    def release(self, pattern: str) -> None:
        with self._lock:
            self._held.discard(pattern)

    def start(self, interval: float = 0.01) -> "SyncSim":
        def loop() -> None:
            while not self._stop.is_set():
                busy = self.step()
                self._stop.wait(0 if busy else interval)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="syncsim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def settle(self, max_rounds: int = 1000) -> int:
        """Step until nothing is left to sync (held files aside); returns rounds taken."""
        for n in range(1, max_rounds + 1):
            if not self.step() and not self._deliverable():
                return n
        raise RuntimeError(f"sync did not settle in {max_rounds} rounds: {len(self._pending)} pending")

    def hub_paths(self) -> set[str]:
        with self._lock:
            return set(self._hub)

    # -- one round ----------------------------------------------------------------------
    def step(self) -> bool:
        """Upload every peer's local changes, then make this round's deliveries. Returns
        whether anything moved."""
        with self._lock:
            self.round += 1
            moved = False
            for name in sorted(self.peers):
                moved |= self._upload(self.peers[name])
            self._schedule()
            moved |= self._deliver()
            return moved

    def _deliverable(self) -> bool:
        with self._lock:
            return any(not self._is_held(d.rel) for d in self._pending)

    def _is_held(self, rel: str) -> bool:
        return any(re.search(p, rel) for p in self._held)

    def _acl(self) -> Acl:
        if self._acl_cache is None:
            self._acl_cache = Acl({rel: b.data for rel, b in self._hub.items() if rel.endswith(PERMISSION_FILE)})
        return self._acl_cache

    def _scan(self, peer: Peer) -> dict[str, tuple[str, os.stat_result]]:
        found: dict[str, tuple[str, os.stat_result]] = {}
        stack = [(str(peer.datasites), "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/"))
                    continue
                try:
                    found[rel] = (entry.path, entry.stat(follow_symlinks=False))
                except FileNotFoundError:
                    continue
        return found

    def _upload(self, peer: Peer) -> bool:
        known = self._known[peer.name]
        local = self._scan(peer)
        moved = False
        for rel, (path, st) in sorted(local.items()):
            fingerprint = (st.st_size, st.st_mtime_ns, st.st_ino)
            mine = known.get(rel)
            if mine is not None and mine.fingerprint == fingerprint:
                continue
            if never_synced(rel, st.st_size) or not stat.S_ISREG(st.st_mode):
                continue
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if mine is not None and mine.sha256 == digest:
                mine.fingerprint = fingerprint
                continue
            if not self._acl().allows(peer.email, rel, "write"):
                self._reject(peer, rel, Path(path))
                moved = True
                continue
            current = self._hub.get(rel)
            base = mine.version if mine else 0
            if current is not None and current.version != base:
                self.stats.conflicts.append((peer.name, rel))  # the other writer's data is lost
            self._clock += 1
            version = self._clock
            self._hub[rel] = _Blob(data, version)
            known[rel] = _Known(version, digest, fingerprint)
            self.stats.uploads += 1
            moved = True
            if rel.endswith(PERMISSION_FILE):
                self._acl_cache = None
        for rel in sorted(set(known) - set(local)):
            if any(d.peer == peer.name and d.rel == rel for d in self._pending):
                continue  # it is on its way back
            del known[rel]
            if rel in self._hub and self._acl().allows(peer.email, rel, "write"):
                del self._hub[rel]
                if rel.endswith(PERMISSION_FILE):
                    self._acl_cache = None
                self.stats.deletions += 1
                moved = True
        return moved

    def _reject(self, peer: Peer, rel: str, path: Path) -> None:
        os.replace(path, rejected_name(path))
        self.stats.rejected.append((peer.name, rel))
        self.stats.hazards["acl_rejection"] += 1
        self._known[peer.name].pop(rel, None)

    def _schedule(self) -> None:
        acl = self._acl()
        queued = {(d.peer, d.rel, d.version) for d in self._pending}
        for name, peer in sorted(self.peers.items()):
            known = self._known[name]
            for rel, blob in sorted(self._hub.items()):
                mine = known.get(rel)
                if mine is not None and mine.version == blob.version:
                    continue
                if (name, rel, blob.version) in queued or not acl.allows(peer.email, rel, "read"):
                    continue
                self._pending.append(_Delivery(name, rel, blob.version, self._ready_round()))
            for rel in sorted(set(known) - set(self._hub)):
                if (name, rel, 0) not in queued:
                    self._pending.append(_Delivery(name, rel, 0, self._ready_round()))

    def _ready_round(self) -> int:
        if self.hazards.delay and self.rng.random() < self.hazards.delay:
            self.stats.hazards["delayed"] += 1
            return self.round + self.rng.randint(1, self.hazards.max_delay_rounds)
        return self.round

    def _deliver(self) -> bool:
        ready: list[_Delivery] = []
        waiting: list[_Delivery] = []
        for d in self._pending:
            (ready if d.ready_round <= self.round and not self._is_held(d.rel) else waiting).append(d)
        self._pending = waiting
        if self.hazards.reorder and len(ready) > 1:
            self.rng.shuffle(ready)
            self.stats.hazards["reordered_batches"] += 1
        for delivery in ready:
            self._apply(delivery)
        return bool(ready)

    def _apply(self, d: _Delivery) -> None:
        peer = self.peers[d.peer]
        path = peer.datasites / d.rel
        known = self._known[d.peer]
        blob = self._hub.get(d.rel)
        if d.version == 0:
            if blob is None and d.rel in known:
                path.unlink(missing_ok=True)
                del known[d.rel]
                self.stats.deliveries += 1
            return
        if blob is None or blob.version != d.version:
            return  # superseded: a newer version (or a deletion) is scheduled instead
        mine = known.get(d.rel)
        if path.exists() and (mine is None or _fingerprint(path) != mine.fingerprint):
            return  # changed locally: the peer's upload next round decides (last writer wins)
        path.parent.mkdir(parents=True, exist_ok=True)
        if (
            not d.prefix_done
            and self.hazards.partial
            and len(blob.data) > 1
            and self.rng.random() < self.hazards.partial
        ):
            cut = self.rng.randint(0, len(blob.data) - 1)
            _write_in_place(path, blob.data[:cut])
            d.prefix_done = True
            d.ready_round = self.round + self.rng.randint(1, 3)
            self._pending.append(d)
            known[d.rel] = _Known(-1, "", _fingerprint(path))  # ours, not a local write
            self.stats.hazards["partial"] += 1
            return
        _write_in_place(path, blob.data)
        known[d.rel] = _Known(blob.version, hashlib.sha256(blob.data).hexdigest(), _fingerprint(path))
        self.stats.deliveries += 1


def _fingerprint(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _write_in_place(path: Path, data: bytes) -> None:
    """Like a sync client writing into the final name: readers may see it half done. The
    mode is plain 0644 whatever it was: the exec bit does not travel."""
    with open(path, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o644)
