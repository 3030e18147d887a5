"""The state file: written atomically, read strictly, locked while a command changes it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from compiler.deploy.local.state import (
    EndpointRecord,
    LocalState,
    StateError,
    load_state,
    save_state,
    state_lock,
)


def sample_state() -> LocalState:
    state = LocalState(environment="local", spec_hash="abc")
    state.endpoints["fraud/fraud-scorer"] = EndpointRecord(
        team="fraud", name="fraud-scorer", status="serving", hash="h1", port=8700, pid=42
    )
    return state


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, sample_state())
    loaded = load_state(path)
    assert loaded == sample_state()
    assert loaded is not None
    assert loaded.endpoints["fraud/fraud-scorer"].url == (
        "http://127.0.0.1:8700/v2/models/fraud-scorer"
    )


def test_missing_file_means_nothing_deployed(tmp_path: Path) -> None:
    assert load_state(tmp_path / "state.json") is None


def test_a_failed_write_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    save_state(path, sample_state())
    before = path.read_bytes()

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    changed = sample_state()
    changed.spec_hash = "def"
    with pytest.raises(KeyboardInterrupt):
        save_state(path, changed)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_the_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, sample_state())
    inode = path.stat().st_ino
    save_state(path, LocalState(environment="local"))
    assert path.stat().st_ino != inode  # a new file was renamed over the old one
    assert json.loads(path.read_text())["endpoints"] == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("{not json", "unreadable", id="not-json"),
        pytest.param('{"kind": "other"}', "not an mlplat state file", id="foreign-json"),
        pytest.param(
            '{"kind": "mlplat-local-state", "schema_version": 99, "environment": "local"}',
            "schema version 99",
            id="newer-schema",
        ),
    ],
)
def test_bad_state_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StateError, match=message) as caught:
        load_state(path)
    assert caught.value.hint is not None and "mlplat destroy" in caught.value.hint


def test_one_command_at_a_time(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with (
        state_lock(lock),
        pytest.raises(StateError, match="another mlplat command"),
        state_lock(lock),
    ):
        pass
    with state_lock(lock):  # released again
        pass
