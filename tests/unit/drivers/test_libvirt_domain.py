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
