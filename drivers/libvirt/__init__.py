"""The libvirt driver: a local VM (qemu, KVM or TCG) from the cached guest image, on a NAT network.

Each machine gets hard links to the cached image's files (so rebuilding or removing the cache never
breaks it), a qcow2 overlay of that base, a seed disk with its own SSH host keys and the user's key,
and a domain that boots the image's kernel directly. With `--libvirt-cloud-image` the base is a
cloud image instead (Debian's official one, say), booted by its own bootloader and configured by
cloud-init from a NoCloud seed ISO. The IP comes from the network's DHCP lease.
`remove` deletes the domain, the disks and the lease.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from machine.vm import accel, bootfiles, cloudimage, cloudinit, guestimage, keys
from machine.vm.images import ImageCache, ImageError

from .. import LOCAL_VM_CPUS, Driver, DriverError, Settings, SSHEndpoint, State, recorded, setting
from . import dhcprelease
from .domain import NETWORK, NETWORK_XML, domain_xml, map_state

F = TypeVar("F", bound=Callable[..., Any])
# the machine's own links to the cached image's files (its name -> the cache's); the first is the disk's base
IMAGE_FILES = {"base.qcow2": "disk.qcow2", "vmlinux": "vmlinux", "initrd.img": "initrd.img"}
CLOUD_BASE = "base.img"
_SIZE = re.compile(r"[1-9][0-9]*[KMGT]?")


@dataclass
class LibvirtSettings(Settings):
    uri: str = setting("qemu:///system", "libvirt connection URI")
    cpus: int = setting(LOCAL_VM_CPUS, "virtual CPUs (two where the computer has them)")
    memory: int = setting(1024, "memory in MiB")
    disk_size: str = setting("8G", "disk size (grows the image's 2 GB root)")
    network: str = setting(NETWORK, f"libvirt network (the default, {NETWORK!r}, is created when missing: NAT + DHCP)")
    accel: str = setting(
        "auto",
        "CPU accelerator; auto uses KVM only once a KVM boot has worked on this computer",
        choices=("auto", "kvm", "tcg"),
    )
    image: str = setting(guestimage.DEFAULT, "cached guest image (see `machine image ls`)")
    cloud_image: str = setting(
        "",
        "path or http(s) URL of a cloud image with cloud-init (qcow2 or raw), used instead of --libvirt-image, "
        "e.g. https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
    )
    # recorded by the driver
    ip: str = recorded("")
    saved: str = recorded("")  # what the saved memory state fits (domain, image, context), while there is one
    ssh_user: str = recorded("root")
    accel_used: str = recorded("")

    def validate(self) -> None:
        if self.cpus < 1:
            raise DriverError(f"--libvirt-cpus {self.cpus}: a VM needs at least one CPU")
        if self.memory < 128:
            raise DriverError(f"--libvirt-memory {self.memory}: a guest needs at least 128 MiB")
        if not _SIZE.fullmatch(self.disk_size):
            raise DriverError(f"--libvirt-disk-size {self.disk_size!r}: give a size such as 8G or 20480M")


def _errors(action: str) -> Callable[[F], F]:
    """Turn libvirt's exceptions into DriverErrors that say what failed."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            libvirt = _libvirt()
            try:
                return method(*args, **kwargs)
            except libvirt.libvirtError as e:
                raise DriverError(f"{action} failed: {e.get_error_message()}") from None

        return wrapped  # type: ignore[return-value]

    return wrap


def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError:
        raise DriverError(
            "the libvirt driver needs libvirt-python: pip install libvirt-python "
            "(after: sudo apt-get install libvirt-dev pkg-config gcc)"
        ) from None
    libvirt.registerErrorHandler(lambda ctx, err: None, None)  # errors come back as exceptions
    return libvirt


class LibvirtDriver(Driver):
    name = "libvirt"
    local_vm = True  # a VM on this computer
    description = "a local VM (qemu/KVM) through libvirt"
    settings_class = LibvirtSettings
    settings: LibvirtSettings

    _host_keys: tuple[str, ...] = ()  # the public host keys create put into the guest
    _installed_agent = ""  # the agent installed in the image create used (its manifest says)

    @property
    def domain_name(self) -> str:
        return f"machine-{self.machine.name}"

    def _connect(self) -> Any:
        libvirt = _libvirt()
        uri = self.settings.uri
        try:
            return libvirt.open(uri)
        except libvirt.libvirtError as e:
            raise DriverError(
                f"cannot connect to libvirt at {uri}: {e.get_error_message()}. Start libvirtd: "
                f"`sudo systemctl start libvirtd`, or without systemd `sudo virtlogd -d && sudo libvirtd -d`"
            ) from None

    def _domain(self, conn: Any) -> Any:
        libvirt = _libvirt()
        try:
            return conn.lookupByName(self.domain_name)
        except libvirt.libvirtError:
            return None

    def precreate_check(self) -> None:
        conn = self._connect()
        try:
            if self._domain(conn) is not None:
                raise DriverError(
                    f"a libvirt domain {self.domain_name} already exists: remove it with "
                    f"`virsh undefine {self.domain_name}` or pick another name"
                )
        finally:
            conn.close()
        for tool in ("qemu-img",) if self.settings.cloud_image else ("qemu-img", "mke2fs"):
            if not shutil.which(tool):
                raise DriverError(f"{tool} is missing: sudo apt-get install qemu-utils e2fsprogs")

    def _accel(self) -> str:
        if self.settings.accel != "auto":
            return self.settings.accel
        if accel.kvm_works(self.machine.cache):
            return "kvm"
        if os.path.exists("/dev/kvm"):
            self.progress(
                "Using qemu TCG: /dev/kvm exists, but KVM is only used once a VM has booted with it "
                "here (some hosts hang under it); try `--libvirt-accel kvm` once"
            )
        return "tcg"

    @_errors("creating the VM")
    def create(self) -> None:
        cache, cloud = ImageCache(self.machine.cache), self.settings.cloud_image
        try:
            if cloud:
                image = cloudimage.ensure(cache, cloud, self.progress)
                files = {CLOUD_BASE: image / cloudimage.DISK}
                base_format, seed = cloudimage.disk_format(image), "seed.iso"
            else:
                image = guestimage.ensure(cache, self.progress, self.settings.image)
                files = {pinned: image / cached for pinned, cached in IMAGE_FILES.items()}
                self._installed_agent = str((cache.manifest(self.settings.image) or {}).get("agent", ""))
                base_format, seed = "qcow2", "seed.img"
        except ImageError as e:
            raise DriverError(str(e)) from None
        folder = self.machine.path
        self.progress("Creating the machine's disk")
        for name, cached in files.items():
            _pin(cached, folder / name)
        base = folder / next(iter(files))
        subprocess.run(
            [
                "qemu-img",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-b",
                str(base),
                "-F",
                base_format,
                str(folder / "disk.qcow2"),
                self.settings.disk_size,
            ],
            check=True,
            capture_output=True,
        )
        host_keys = keys.host_keys()
        self._host_keys = tuple(keys.public_lines(host_keys))
        if cloud:
            self.settings.ssh_user = cloudinit.USER
            cloudinit.write_seed(folder / seed, self.domain_name, self.machine.name, self.machine.public_key, host_keys)
        else:
            try:
                bootfiles.write_seed(folder / seed, self.machine.name, self.machine.public_key, host_keys)
            except bootfiles.BootFilesError as e:
                raise DriverError(str(e)) from None
        chosen = self._accel()
        self.settings.accel_used = chosen
        conn = self._connect()
        try:
            self._ensure_network(conn, self.settings.network)
            xml = domain_xml(
                self.domain_name, folder, self.settings.cpus, self.settings.memory, self.settings.network, chosen, seed
            )
            (folder / "domain.xml").write_text(xml)
            domain = conn.defineXML(xml)
            self.progress(
                f"Booting the VM ({'KVM' if chosen == 'kvm' else 'qemu TCG, no hardware acceleration'})"
                + ("; cloud-init configures it at this first boot" if cloud else "")
            )
            domain.create()
            self.settings.ip = self._wait_ip(domain, timeout=120 if chosen == "kvm" else 300)
            if chosen == "kvm":  # it booted far enough to ask for an address: auto may pick KVM from now on
                accel.record_kvm_works(self.machine.cache)
        finally:
            conn.close()

    def _ensure_network(self, conn: Any, name: str) -> None:
        libvirt = _libvirt()
        try:
            net = conn.networkLookupByName(name)
        except libvirt.libvirtError:
            if name != NETWORK:
                raise DriverError(
                    f"libvirt network {name!r} does not exist: create it, or omit --libvirt-network"
                ) from None
            self.progress(f"Creating the libvirt network {name} (NAT, DHCP on 192.168.123.0/24)")
            net = conn.networkDefineXML(NETWORK_XML.format(name=name))
            net.setAutostart(True)
        if not net.isActive():
            net.create()

    def _wait_ip(self, domain: Any, timeout: float = 300) -> str:
        libvirt = _libvirt()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                addresses = domain.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
            except libvirt.libvirtError:
                addresses = {}
            for iface in addresses.values():
                for addr in iface.get("addrs") or []:
                    if addr.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4:
                        return str(addr["addr"])
            if not domain.isActive():
                raise DriverError(f"the VM stopped while booting: see {self.machine.path / 'serial.log'}")
            time.sleep(0.2)
        raise DriverError(f"the VM got no IP address within {timeout:.0f}s: see {self.machine.path / 'serial.log'}")

    def host_public_keys(self) -> list[str]:
        return list(self._host_keys)

    def installed_agent(self) -> str:
        return self._installed_agent

    @_errors("reading the VM's state")
    def state(self) -> State:
        conn = self._connect()
        try:
            domain = self._domain(conn)
            return State.NOT_FOUND if domain is None else map_state(domain.state()[0])
        finally:
            conn.close()

    def ssh_endpoint(self) -> SSHEndpoint:
        if not self.settings.ip:
            raise DriverError(f"{self.machine.name} has no IP address yet: is it running? (machine start)")
        return SSHEndpoint(self.settings.ip, 22, self.settings.ssh_user)

    @_errors("starting the VM")
    def start(self) -> None:
        libvirt = _libvirt()
        conn = self._connect()
        try:
            domain = self._require(conn)
            resuming = bool(domain.hasManagedSaveImage(0))
            if not domain.isActive():
                self._ensure_network(conn, self.settings.network)
                try:
                    domain.create()  # from the saved state when there is one
                except libvirt.libvirtError as e:
                    if not resuming:
                        raise
                    self.progress(f"The saved state could not be restored ({e}): discarding it, the machine boots")
                    domain.managedSaveRemove(0)
                    resuming = False
                    domain.create()
            self.settings.saved = ""
            # a resumed guest keeps the address it had (its lease may have lapsed meanwhile: it renews it)
            self.settings.ip = self.settings.ip if resuming and self.settings.ip else self._wait_ip(domain)
        finally:
            conn.close()

    @_errors("saving the VM's state")
    def save(self, context: str) -> None:
        conn = self._connect()
        try:
            domain = self._require(conn)
            if domain.isActive():
                fits = self._fingerprint(domain, context)
                domain.managedSave(0)
                self.settings.saved = fits
        finally:
            conn.close()

    @_errors("reading the VM's saved state")
    def resumes(self, context: str) -> bool:
        conn = self._connect()
        try:
            domain = self._require(conn)
            if domain.isActive() or not domain.hasManagedSaveImage(0):
                return False
            if self.settings.saved != self._fingerprint(domain, context):
                self.progress(
                    "The machine's saved state no longer fits it (its definition, image or agent changed): "
                    "discarding it, the machine boots"
                )
                domain.managedSaveRemove(0)
                self.settings.saved = ""
                return False
            return True
        finally:
            conn.close()

    def _fingerprint(self, domain: Any, context: str) -> str:
        """What a saved state depends on: the domain's definition, the boot files and disk it uses, `context`."""
        digest = hashlib.sha256(domain.XMLDesc(_libvirt().VIR_DOMAIN_XML_INACTIVE).encode())
        for name in (*IMAGE_FILES, CLOUD_BASE):
            path = self.machine.path / name
            if path.exists():
                st = path.stat()
                digest.update(f"{name} {st.st_ino} {st.st_size} {st.st_mtime_ns}".encode())
        digest.update(context.encode())
        return digest.hexdigest()

    @_errors("stopping the VM")
    def stop(self, timeout: float = 60) -> None:
        libvirt = _libvirt()
        conn = self._connect()
        try:
            domain = self._require(conn)
            try:
                if domain.isActive():
                    domain.shutdown()
                    deadline = time.monotonic() + timeout
                    while domain.isActive() and time.monotonic() < deadline:
                        time.sleep(0.5)
                    if domain.isActive():
                        self.progress("The VM did not shut down in time: powering it off")
                        domain.destroy()
            except libvirt.libvirtError:
                if domain.isActive():
                    raise
                # it went off by itself meanwhile (asked over SSH to power off): stopped, as asked
            if domain.hasManagedSaveImage(0):
                domain.managedSaveRemove(0)  # stopped for good: a later start boots
                self.settings.saved = ""
        finally:
            conn.close()

    @_errors("powering the VM off")
    def kill(self) -> None:
        conn = self._connect()
        try:
            domain = self._require(conn)
            if domain.isActive():
                domain.destroy()
        finally:
            conn.close()

    @_errors("removing the VM")
    def remove(self) -> None:
        libvirt = _libvirt()
        conn = self._connect()
        try:
            domain = self._domain(conn)
            if domain is not None:
                mac = _mac(domain.XMLDesc())
                if domain.isActive():
                    domain.destroy()
                if domain.hasManagedSaveImage(0):
                    domain.managedSaveRemove(0)  # libvirt keeps a domain that has a saved state
                domain.undefineFlags(
                    libvirt.VIR_DOMAIN_UNDEFINE_NVRAM if hasattr(libvirt, "VIR_DOMAIN_UNDEFINE_NVRAM") else 0
                )
                self._forget_lease(conn, mac)
        finally:
            conn.close()
        for name in ("disk.qcow2", *IMAGE_FILES, CLOUD_BASE, "seed.img", "seed.iso", "serial.log", "domain.xml"):
            (self.machine.path / name).unlink(missing_ok=True)

    def _forget_lease(self, conn: Any, mac: str | None) -> None:
        """Release the machine's DHCP lease at dnsmasq (root only), so nothing of it stays behind."""
        if not mac:
            return
        libvirt = _libvirt()
        try:
            network = conn.networkLookupByName(self.settings.network)
            server = re.search(r"<ip address='([0-9.]+)'", network.XMLDesc())
            leases = network.DHCPLeases(mac)
            if server is None or not leases:
                return
            for lease in leases:
                dhcprelease.release(network.bridgeName(), server.group(1), lease["ipaddr"], mac, lease.get("clientid"))
            deadline = time.monotonic() + 2
            while network.DHCPLeases(mac) and time.monotonic() < deadline:
                time.sleep(0.05)  # dnsmasq tells libvirt's lease helper, which rewrites its status file
        except (libvirt.libvirtError, OSError) as e:
            self.progress(f"Could not release the machine's DHCP lease ({e}): it expires within an hour")

    def _require(self, conn: Any) -> Any:
        domain = self._domain(conn)
        if domain is None:
            raise DriverError(
                f"the VM of {self.machine.name} ({self.domain_name}) no longer exists in libvirt: "
                f"remove the machine with `machine rm -f {self.machine.name}`"
            )
        return domain


def _pin(cached: Path, pinned: Path) -> None:
    """Give the machine its own link to a cached image file, so rebuilding or removing the cache never pulls
    the base from under its disk (a copy where the cache is on another filesystem)."""
    pinned.unlink(missing_ok=True)
    try:
        os.link(cached, pinned)
    except OSError:
        shutil.copyfile(cached, pinned)


def _mac(xml: str) -> str | None:
    found = re.search(r"<mac address='([0-9a-f:]+)'", xml)
    return found.group(1) if found else None
