"""The machine store: atomic writes with a backup, permissions, corruption, names, locks."""

from __future__ import annotations

import json
import multiprocessing
import stat
import time
from pathlib import Path

import pytest

from machine.store import CorruptConfig, Machine, Store, StoreError


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


@pytest.mark.parametrize("name", ["", "-x", "a/b", "..", "a" * 64, "sp ace"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="invalid machine name"):
        Store(tmp_path).reserve(name)


def test_reserve_twice_fails(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.reserve("dev")
    with pytest.raises(StoreError, match="already exists"):
        store.reserve("dev")


def _hold_lock(root: str, held: "multiprocessing.synchronize.Event") -> None:
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
    with pytest.raises(StoreError, match="busy"):
        with store.lock("dev", timeout=0.2):
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
