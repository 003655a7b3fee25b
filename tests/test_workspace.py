"""Finding who we are, the way SyftBox does, and the models at the file boundary."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import syft_code_queue as scq
from syft_code_queue.models import FileEntry, JobRequest
from syft_code_queue.protocol.permissions import legacy_permissions_yaml
from syft_code_queue.syftbox import Workspace


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("SYFTBOX_EMAIL", "SYFTBOX_DATA_DIR", "SYFTBOX_CLIENT_CONFIG_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_explicit_arguments_win(tmp_path, monkeypatch):
    monkeypatch.setenv("SYFTBOX_EMAIL", "env@example.com")
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(tmp_path / "env"))
    ws = Workspace.discover(email="me@example.com", data_dir=tmp_path / "mine")
    assert (ws.email, ws.data_dir) == ("me@example.com", (tmp_path / "mine").resolve())


def test_config_path_env_then_email_env_then_home_config(tmp_path, monkeypatch):
    home_config = tmp_path / "home" / ".syftbox" / "config.json"
    home_config.parent.mkdir(parents=True)
    home_config.write_text(
        json.dumps(
            {"email": "home@example.com", "data_dir": str(tmp_path / "h"), "server_url": "https://example.invalid"}
        )
    )
    assert Workspace.discover().email == "home@example.com"

    monkeypatch.setenv("SYFTBOX_EMAIL", "env@example.com")
    monkeypatch.setenv("SYFTBOX_DATA_DIR", str(tmp_path / "env"))
    assert Workspace.discover().email == "env@example.com"

    explicit = tmp_path / "client.json"
    explicit.write_text(json.dumps({"email": "cfg@example.com", "data_dir": str(tmp_path / "c")}))
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(explicit))
    assert Workspace.discover().email == "cfg@example.com"


def test_no_identity_says_how_to_configure():
    with pytest.raises(scq.ConfigurationError, match="SYFTBOX_EMAIL and SYFTBOX_DATA_DIR"):
        scq.create_client()


def test_broken_config_files_are_clear_errors(tmp_path, monkeypatch):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(bad))
    with pytest.raises(scq.ConfigurationError, match="needs 'email' and 'data_dir'"):
        Workspace.discover()
    monkeypatch.setenv("SYFTBOX_CLIENT_CONFIG_PATH", str(tmp_path / "missing.json"))
    with pytest.raises(scq.ConfigurationError, match="not found"):
        Workspace.discover()


def test_emails_that_could_be_paths_are_refused(tmp_path):
    for bad in ("../x@y", "a/b@c", "nobody", "a@b/../../c"):
        with pytest.raises(ValueError):
            Workspace(email=bad, data_dir=tmp_path)


def test_queue_config_validates_its_fields():
    config = scq.QueueConfig(
        queue_name="my-custom-queue",
        max_concurrent_jobs=5,
        job_timeout=1800,
        cleanup_completed_after=86400,
        auto_approval_enabled=True,
    )
    assert config.max_concurrent_jobs == 5
    for bad in ({"queue_name": "../etc"}, {"max_concurrent_jobs": 0}, {"job_timeout": -1}, {"nope": 1}):
        with pytest.raises(ValidationError):
            scq.QueueConfig(**bad)


def test_manifest_entries_must_stay_inside_the_folder():
    for bad in ("../x", "/etc/passwd", "a/../../b", "a\\b", "", "a//b"):
        with pytest.raises(ValidationError):
            FileEntry(path=bad, size=0, sha256="0" * 64)


def test_job_request_requires_run_sh_and_unique_paths():
    entry = {"size": 1, "sha256": "0" * 64}
    base = dict(
        uid="a" * 32, name="n", requester_email="a@b.c", target_email="d@e.f", created_at="2026-01-01T00:00:00Z"
    )
    with pytest.raises(ValidationError, match="run.sh"):
        JobRequest(**base, files=[{"path": "x.py", **entry}])
    with pytest.raises(ValidationError, match="twice"):
        JobRequest(**base, files=[{"path": "run.sh", **entry}, {"path": "run.sh", **entry}])


def test_legacy_permissions_name_each_requester_explicitly():
    text = legacy_permissions_yaml(["b@example.com", "a@example.com"])
    assert "review/a@example.com/**" in text and "user: 'a@example.com'" in text
    assert text.index("a@example.com") < text.index("b@example.com")
