"""The libvirt driver's XML, checked by libvirt's own test driver (test:///default: no daemon, no VM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers import State
from drivers.libvirt.domain import domain_xml, map_state


def test_domain_xml_is_accepted_by_libvirt(tmp_path: Path) -> None:
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")
    try:
        xml = domain_xml("machine-unit", tmp_path, 2, 512, "default", "tcg")
        domain = conn.defineXML(xml)
        assert domain.name() == "machine-unit"
        assert domain.maxMemory() == 512 * 1024 and "<kernel>" in domain.XMLDesc()
        domain.create()
        assert map_state(domain.state()[0]) is State.RUNNING
        domain.destroy()
        assert map_state(domain.state()[0]) is State.STOPPED
        domain.undefine()
    finally:
        conn.close()


def test_kvm_domain_type_only_when_asked(tmp_path: Path) -> None:
    assert "<domain type='kvm'>" in domain_xml("x", tmp_path, 1, 256, "n", "kvm")
    assert "<domain type='qemu'>" in domain_xml("x", tmp_path, 1, 256, "n", "tcg")


def test_cloud_domain_boots_its_own_bootloader_with_the_seed_iso(tmp_path: Path) -> None:
    xml = domain_xml("machine-c", tmp_path, 1, 512, "default", "tcg", "seed.iso")
    assert "<boot dev='hd'/>" in xml and "<kernel>" not in xml and str(tmp_path / "seed.iso") in xml
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")
    try:
        domain = conn.defineXML(xml)
        assert "seed.iso" in domain.XMLDesc()
        domain.undefine()
    finally:
        conn.close()


def test_saved_state_resumes_only_while_it_fits(tmp_path: Path) -> None:
    libvirt = pytest.importorskip("libvirt")
    from drivers import MachineDir
    from drivers.libvirt import LibvirtDriver, LibvirtSettings

    said: list[str] = []
    settings = LibvirtSettings(uri="test:///default", network="default", ip="192.0.2.5")
    driver = LibvirtDriver(MachineDir("saved", tmp_path, tmp_path), settings, said.append)
    conn = libvirt.open("test:///default")  # the test driver keeps its state while a connection is open
    try:
        domain = conn.defineXML(domain_xml("machine-saved", tmp_path, 1, 256, "default", "tcg"))
        domain.create()
        driver.save("agent 1")
        assert domain.hasManagedSaveImage(0) and not domain.isActive() and settings.saved
        assert driver.resumes("agent 1")
        driver.start()
        assert domain.isActive() and settings.ip == "192.0.2.5" and not settings.saved  # resumed, same address
        driver.save("agent 1")
        assert not driver.resumes("agent 2")  # another agent: the state is discarded, the machine will boot
        assert not domain.hasManagedSaveImage(0) and not settings.saved
        assert any("no longer fits" in line for line in said)
        domain.create()
        driver.save("agent 2")
        driver.stop()  # stopped for good: nothing is left to resume
        assert not domain.hasManagedSaveImage(0) and not driver.resumes("agent 2")
        domain.undefine()
    finally:
        conn.close()
