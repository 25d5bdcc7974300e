"""The Vagrant driver's failures with the real `vagrant` (no VM boots): a clear error, never a traceback, and
nothing left behind; a hung vagrant is stopped at its timeout with everything it started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from drivers import MachineDir
from drivers.vagrant import VagrantDriver, VagrantSettings
from drivers.vagrant.vagrantfile import render
from machine.vm import keys, vagrantcli

needs_vagrant = pytest.mark.skipif(not shutil.which("vagrant"), reason="needs vagrant (tests/run installs it)")


def machine(store: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MACHINE_STORAGE_PATH=str(store / "store"), VAGRANT_HOME=str(store / "vagrant.d"))
    env.update(vagrantcli.NO_NETWORK)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "machine", *args], env=env, capture_output=True, text=True, timeout=300
    )


def assert_refused(result: subprocess.CompletedProcess[str], store: Path, message: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {message}"), result.stderr
    assert not list((store / "store/machines").glob("*"))  # the name is free again


def test_no_vagrant_on_path(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = machine(tmp_path, "create", "-d", "vagrant", "dev", path=str(empty))
    assert_refused(result, tmp_path, "Vagrant is needed and `vagrant` is not on PATH: install it from")
    assert "--vagrant-vagrant-binary" in result.stderr
    result = machine(tmp_path, "create", "-d", "vagrant", "--vagrant-vagrant-binary", str(tmp_path / "nope"), "dev")
    assert_refused(result, tmp_path, f"Vagrant is needed and {str(tmp_path / 'nope')!r} is not an executable")


@needs_vagrant
def test_missing_box_and_missing_provider(tmp_path: Path) -> None:
    libvirt = ["create", "-d", "vagrant", "--vagrant-provider", "libvirt"]
    result = machine(tmp_path, *libvirt, "--vagrant-box", "nosuch/box", "dev")
    assert_refused(result, tmp_path, "Vagrant holds no box 'nosuch/box' for libvirt: add it first")
    result = machine(tmp_path, *libvirt, "--vagrant-box", str(tmp_path / "gone.box"), "dev")
    assert_refused(result, tmp_path, f"--vagrant-box {tmp_path / 'gone.box'}: no such box file")
    if not shutil.which("VBoxManage"):
        result = machine(tmp_path, "create", "-d", "vagrant", "dev")
        assert_refused(result, tmp_path, "VirtualBox is not installed (no VBoxManage)")
    assert not (tmp_path / "vagrant.d/boxes").exists() or not list((tmp_path / "vagrant.d/boxes").iterdir())


def processes_in(folder: Path) -> list[int]:
    """The processes whose working directory is `folder` (vagrant runs in the machine's folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == folder:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@needs_vagrant
def test_a_hung_vagrant_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    (tmp_path / "Vagrantfile").write_text("sleep 120\nVagrant.configure('2') { |config| config.vm.box = 'x' }\n")
    vagrant = vagrantcli.Vagrant(tmp_path, tmp_path / "vagrant.log")
    started = time.monotonic()
    with pytest.raises(vagrantcli.VagrantError, match=r"`vagrant status --machine-readable` did not finish within 5s"):
        vagrant.state(timeout=5)
    assert time.monotonic() - started < 30
    assert processes_in(tmp_path) == []  # ruby and whatever it started are gone
    assert "(killed: no answer in time)" in (tmp_path / "vagrant.log").read_text()


@needs_vagrant
def test_vagrants_own_error_is_shown_and_logged(tmp_path: Path) -> None:
    (tmp_path / "Vagrantfile").write_text("raise 'this Vagrantfile is broken on purpose'\n")
    vagrant = vagrantcli.Vagrant(tmp_path, tmp_path / "vagrant.log")
    with pytest.raises(vagrantcli.VagrantError) as failed:
        vagrant.state()
    assert "`vagrant status --machine-readable` failed:" in str(failed.value)
    assert "this Vagrantfile is broken on purpose" in str(failed.value)
    assert "this Vagrantfile is broken on purpose" in (tmp_path / "vagrant.log").read_text()
    assert (tmp_path / "vagrant.log").stat().st_mode & 0o777 == 0o600


@needs_vagrant
def test_rm_removes_the_box_vagrant_added_for_the_machine(
    libvirtd: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A box given as a file is added by Vagrant under a name of the machine's own; rm removes it too."""
    monkeypatch.setenv("VAGRANT_HOME", str(tmp_path / "vagrant.d"))
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "metadata.json").write_text('{"provider": "libvirt", "format": "qcow2", "virtual_size": 1}')
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(parts / "box.img"), "1M"], check=True)
    box = tmp_path / "tiny.box"
    with tarfile.open(box, "w") as tar:
        for name in ("metadata.json", "box.img"):
            tar.add(parts / name, arcname=name)
    folder = tmp_path / "fb"
    folder.mkdir()
    keys.generate_key(folder / "ssh_key", "test")
    driver = VagrantDriver(
        MachineDir("fb", folder, tmp_path / "cache"), VagrantSettings(provider="libvirt", box=str(box))
    )
    (folder / "Vagrantfile").write_text(render(driver._spec(str(box), None)))
    assert f"config.vm.box_url = '{box.as_uri()}'" in (folder / "Vagrantfile").read_text()
    added = subprocess.run(
        ["vagrant", "box", "add", "--name", "machine-file/fb", str(box)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )  # as `vagrant up` does from the box_url
    assert added.returncode == 0, added.stderr
    vagrant = vagrantcli.Vagrant(folder, tmp_path / "check.log")
    assert [b.name for b in vagrant.boxes()] == ["machine-file/fb"]
    driver.remove()
    assert vagrant.boxes() == []
    assert not (folder / "Vagrantfile").exists() and not (folder / ".vagrant").exists()
