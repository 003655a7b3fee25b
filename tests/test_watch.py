"""The inotify change feed: what ``sync()`` publishes, and when it stops claiming exactness."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Iterator, Optional

import pytest

from syft_code_queue.watch import InotifyFeed, inotify

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Optional[frozenset[str]]] = []

    def __call__(self, changes: Optional[frozenset[str]]) -> None:
        self.batches.append(changes)

    def paths(self) -> set[str]:
        return {p for batch in self.batches if batch for p in batch}

    def everything(self) -> bool:
        return None in self.batches


@pytest.fixture
def feed() -> Iterator[InotifyFeed]:
    feed = InotifyFeed()
    yield feed
    feed.close()


@pytest.fixture
def recorder(feed: InotifyFeed) -> Recorder:
    recorder = Recorder()
    feed.subscribe(recorder)
    return recorder


def test_a_change_is_published_by_the_next_sync(tmp_path: Path, feed: InotifyFeed, recorder: Recorder) -> None:
    (tmp_path / "a.json").write_text("1")
    feed.watch(tmp_path)
    (tmp_path / "a.json").write_text("2")
    feed.sync()
    assert str(tmp_path / "a.json") in recorder.paths()


def test_folders_created_later_are_watched_too(tmp_path: Path, feed: InotifyFeed, recorder: Recorder) -> None:
    feed.watch(tmp_path)
    (tmp_path / "job" / "code").mkdir(parents=True)  # created and filled before the feed looks
    (tmp_path / "job" / "code" / "run.sh").write_text("echo")
    feed.sync()
    assert str(tmp_path / "job") in recorder.paths()
    recorder.batches.clear()
    (tmp_path / "job" / "code" / "run.sh").write_text("echo again")
    feed.sync()
    assert recorder.paths() == {str(tmp_path / "job" / "code" / "run.sh")}


def test_a_root_that_does_not_exist_yet_is_reported_when_it_appears(
    tmp_path: Path, feed: InotifyFeed, recorder: Recorder
) -> None:
    root = tmp_path / "review" / "alice@example.com"
    feed.watch(root)
    feed.sync()
    assert recorder.paths() == set()
    (root / "job").mkdir(parents=True)
    feed.sync()
    assert str(root) in recorder.paths()
    recorder.batches.clear()
    (root / "job" / "state.json").write_text("{}")
    feed.sync()
    assert str(root / "job" / "state.json") in recorder.paths()


def test_a_deleted_root_is_reported_and_watched_again_when_recreated(
    tmp_path: Path, feed: InotifyFeed, recorder: Recorder
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    feed.watch(root)
    root.rmdir()
    feed.sync()
    assert str(root) in recorder.paths()
    root.mkdir()
    feed.sync()
    recorder.batches.clear()
    (root / "x").write_text("1")
    feed.sync()
    assert str(root / "x") in recorder.paths()


def test_max_depth_and_sync_artifacts(tmp_path: Path, feed: InotifyFeed, recorder: Recorder) -> None:
    (tmp_path / "req" / "uid" / "outputs").mkdir(parents=True)
    feed.watch(tmp_path, max_depth=2)
    (tmp_path / "req" / "uid" / "outputs" / "big.csv").write_text("not watched this deep")
    (tmp_path / "req" / "uid" / ".state.json.abcd.tmp").write_text("half written")
    feed.sync()
    assert recorder.paths() == set()
    (tmp_path / "req" / "uid" / "state.json").write_text("{}")
    feed.sync()
    assert recorder.paths() == {str(tmp_path / "req" / "uid" / "state.json")}


def test_a_folder_moved_away_stops_reporting_under_its_old_name(
    tmp_path: Path, feed: InotifyFeed, recorder: Recorder
) -> None:
    (tmp_path / "a").mkdir()
    feed.watch(tmp_path)
    (tmp_path / "a").rename(tmp_path / "b")
    (tmp_path / "b" / "f").write_text("1")
    feed.sync()
    assert str(tmp_path / "b" / "f") in recorder.paths() or str(tmp_path / "b") in recorder.paths()
    assert not any(p.startswith(str(tmp_path / "a") + os.sep) for p in recorder.paths())


def test_a_watch_that_cannot_be_added_makes_the_feed_inexact(
    tmp_path: Path, feed: InotifyFeed, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed.watch(tmp_path)
    assert feed.exact

    def full(path: str, mask: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(feed._inotify, "add_watch", full)
    (tmp_path / "new").mkdir()
    feed.sync()
    assert not feed.exact
    assert recorder.everything()


def test_running_pushes_changes_from_a_thread(tmp_path: Path, feed: InotifyFeed) -> None:
    feed.watch(tmp_path)
    seen = threading.Event()
    feed.subscribe(lambda changes: seen.set())
    with feed.running():
        (tmp_path / "a").write_text("1")
        assert seen.wait(10)


def test_listeners_that_are_methods_do_not_keep_their_object_alive(tmp_path: Path, feed: InotifyFeed) -> None:
    recorder = Recorder()
    feed.subscribe(recorder.__call__)
    feed.watch(tmp_path)
    del recorder
    (tmp_path / "a").write_text("1")
    feed.sync()  # publishing to a collected listener is a no-op, not an error
    assert not feed._listeners
