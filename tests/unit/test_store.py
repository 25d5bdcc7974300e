"""The machine store: atomic writes with a backup, permissions, corruption, names, locks."""

from __future__ import annotations

import json
import multiprocessing
import stat
import time
from pathlib import Path

import pytest

from machine.store import VERSION, CorruptConfig, Machine, Store, StoreError


def _machine(store: Store, name: str = "dev") -> Machine:
    store.reserve(name)
    machine = Machine(name=name, driver="generic", driver_settings={"ip_address": "192.0.2.1"})
    store.save(machine)
    return machine


def test_save_is_private_and_keeps_the_previous_version(tmp_path: Path) -> None:
    store = Store(tmp_path)
    machine = _machine(store)
    machine.state = "running"
    store.save(machine)
    config = tmp_path / "machines" / "dev" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert json.loads(config.read_text())["state"] == "running"
    assert json.loads(Path(f"{config}.bak").read_text())["state"] == "creating"
    assert store.load("dev") == machine
    assert [p.name for p in config.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("content", ["", "{", '{"name": "dev"}', "[]", '{"name": "other", "driver": {"name": "x"}}'])
def test_corrupt_config_is_a_clear_error_with_a_hint(tmp_path: Path, content: str) -> None:
    store = Store(tmp_path)
    _machine(store)
    (tmp_path / "machines" / "dev" / "config.json").write_text(content)
    with pytest.raises(CorruptConfig, match="corrupt") as error:
        store.load("dev")
    assert "config.json.bak" in str(error.value) or "machine rm -f dev" in str(error.value)


@pytest.mark.parametrize("name", ["", "-x", "a/b", "..", "a" * 64, "sp ace", "dev\n"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="invalid machine name"):
        Store(tmp_path).reserve(name)


def test_reserve_twice_fails(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.reserve("dev")
    with pytest.raises(StoreError, match="already exists"):
        store.reserve("dev")


def _hold_lock(root: str, held: multiprocessing.synchronize.Event) -> None:
    with Store(Path(root)).lock("dev"):
        held.set()
        time.sleep(1.5)
        (Path(root) / "released").touch()  # the last thing done while still holding the lock


def test_lock_serialises_commands(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _machine(store)
    held = multiprocessing.Event()
    other = multiprocessing.Process(target=_hold_lock, args=(str(tmp_path), held))
    other.start()
    held.wait(10)
    with pytest.raises(StoreError, match="busy"), store.lock("dev", timeout=0.2):
        pass
    with store.lock("dev", timeout=10):
        assert (tmp_path / "released").exists()  # we got it only once the other command let go
    other.join(10)


def test_active_machine_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MACHINE_NAME", raising=False)
    store = Store(tmp_path)
    assert store.active() is None
    store.set_active("dev")
    assert store.active() == "dev"
    monkeypatch.setenv("MACHINE_NAME", "other")
    assert store.active() == "other"


def _v1(name: str = "dev") -> dict:
    """A config.json as version 1 wrote it (libvirt kept the injected host keys in its settings too)."""
    return {
        "version": 1,
        "name": name,
        "driver": {
            "name": "libvirt",
            "settings": {"cpus": 1, "ip": "192.168.123.5", "host_keys": ["ssh-ed25519 AAAAhost"]},
        },
        "ssh": {"host": "192.168.123.5", "port": 22, "user": "root", "host_keys": ["ssh-ed25519 AAAAhost"]},
        "state": "running",
        "created": "2026-11-01T10:00:00+00:00",
        "agent": {"version": "0.1.0"},
    }


def test_version_1_is_migrated_when_read_and_written_in_the_current_format(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.reserve("dev")
    config = tmp_path / "machines/dev/config.json"
    config.write_text(json.dumps(_v1()))
    machine = store.load("dev")
    assert machine.driver_settings == {"cpus": 1, "ip": "192.168.123.5"}
    assert machine.host_keys == ["ssh-ed25519 AAAAhost"] and machine.state == "running"
    assert json.loads(config.read_text())["version"] == 1  # reading changes nothing on disk
    store.save(machine)
    saved = json.loads(config.read_text())
    assert saved["version"] == VERSION and "host_keys" not in saved["driver"]["settings"]
    assert json.loads(Path(f"{config}.bak").read_text())["version"] == 1  # the old format stays as the backup


def test_a_config_without_version_is_version_1(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.reserve("dev")
    data = _v1()
    del data["version"]
    (tmp_path / "machines/dev/config.json").write_text(json.dumps(data))
    assert store.load("dev").driver_settings == {"cpus": 1, "ip": "192.168.123.5"}


def test_a_newer_format_is_refused_with_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.reserve("dev")
    (tmp_path / "machines/dev/config.json").write_text(json.dumps({**_v1(), "version": VERSION + 1}))
    with pytest.raises(StoreError, match="written by a newer version of machine .*upgrade machine"):
        store.load("dev")


@pytest.mark.parametrize("version", ["2", 0, None])
def test_a_version_that_is_no_version_is_corrupt(tmp_path: Path, version: object) -> None:
    store = Store(tmp_path)
    store.reserve("dev")
    (tmp_path / "machines/dev/config.json").write_text(json.dumps({**_v1(), "version": version}))
    with pytest.raises(CorruptConfig, match="is not a format version"):
        store.load("dev")
