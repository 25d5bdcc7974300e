"""The Vagrant driver: a VM made by the user's `vagrant` with any provider (VirtualBox by default; libvirt,
VMware, Parallels, Hyper-V pass through), driven through python-vagrant (machine/vm/vagrantcli.py).

The driver writes its own Vagrantfile in the machine's folder (vagrantfile.py). By default the box is
machine's own, `machine/<image>`, built from the cached guest image for the provider and added to Vagrant
once (machine/vm/vagrantbox.py); it boots through its own bootloader, and a seed disk attached to the VM
carries the machine's SSH host keys (pinned before the first connection), the user's key and the hostname.
Any other box (a name Vagrant holds, a URL or a .box file) works too: the machine's key is authorized by a
provisioner and the host key is pinned at the first connection.

create = up, stop = suspend (`--shutdown`: poweroff over SSH, then halt), start = resume or up,
kill = halt --force, rm = destroy; the state comes from `vagrant status`, the SSH endpoint from
`vagrant ssh-config` (read again after every start).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import paramiko

from machine.vm import bootfiles, guestimage, keys, vagrantbox, vagrantcli
from machine.vm.images import ImageCache, ImageError

from .. import LOCAL_VM_CPUS, Driver, DriverError, Settings, SSHEndpoint, State, recorded, setting
from .vagrantfile import Spec, render

PROVIDERS = ("virtualbox", "libvirt", "vmware_desktop", "parallels", "hyperv")
PLUGINS = {"libvirt": "vagrant-libvirt", "vmware_desktop": "vagrant-vmware-desktop", "parallels": "vagrant-parallels"}
DISK_PROVIDERS = ("libvirt", "virtualbox")
VIRTUALBOX_HOST_ONLY = ipaddress.ip_network("192.168.56.0/21")  # what VirtualBox >= 6.1.28 allows by default
UP_TIMEOUT = 1200.0  # importing a box and booting a guest under emulation, on a loaded host
HALT_TIMEOUT = 300.0
# Vagrant's states (`vagrant status`, any provider) as ours
STATES = {
    "running": State.RUNNING,
    "blocked": State.RUNNING,
    "poweroff": State.STOPPED,
    "shutoff": State.STOPPED,
    "stopped": State.STOPPED,
    "aborted": State.STOPPED,
    "saved": State.PAUSED,
    "paused": State.PAUSED,
    "suspended": State.PAUSED,
    "pmsuspended": State.PAUSED,
    "frozen": State.PAUSED,
    "shutting_down": State.STOPPING,
    "shutdown": State.STOPPING,
    "stopping": State.STOPPING,
    "starting": State.STARTING,
    "preparing": State.STARTING,
    "not_created": State.NOT_FOUND,
}
# the names of boxes Vagrant adds from a URL or a file for one machine (removed with it)
URL_BOXES, FILE_BOXES = "machine-url", "machine-file"
_SIZE = re.compile(r"([1-9][0-9]*)G")
FILES = ("Vagrantfile", "seed.img", "seed.vmdk", "serial.log", "vagrant.log")


@dataclass
class VagrantSettings(Settings):
    provider: str = setting("virtualbox", "Vagrant provider", choices=PROVIDERS)
    box: str = setting(
        "",
        "box name, URL or .box file (default: machine's own box of the cached guest image, built for the provider)",
    )
    cpus: int = setting(LOCAL_VM_CPUS, "virtual CPUs (two where the computer has them)")
    memory: int = setting(1024, "memory in MiB")
    disk_size: str = setting("", "disk size in GiB, e.g. 20G (libvirt and virtualbox; default: the box's, 8G for ours)")
    network: str = setting(
        "", "an extra private network: the VM's IPv4 address (VirtualBox: in 192.168.56.0/21) or dhcp", metavar="IP"
    )
    vagrant_binary: str = setting("", "the vagrant executable (default: vagrant on PATH)", metavar="PATH")
    # recorded by the driver
    box_version: str = recorded("")
    ssh_host: str = recorded("")
    ssh_port: int = recorded(22)
    ssh_user: str = recorded("")
    saved: str = recorded("")  # the context of a suspended state (`vagrant suspend`), while there is one

    def validate(self) -> None:
        if self.cpus < 1:
            raise DriverError(f"--vagrant-cpus {self.cpus}: a VM needs at least one CPU")
        if self.memory < 128:
            raise DriverError(f"--vagrant-memory {self.memory}: a guest needs at least 128 MiB")
        if self.disk_size:
            if not _SIZE.fullmatch(self.disk_size):
                raise DriverError(f"--vagrant-disk-size {self.disk_size!r}: give a size in GiB such as 20G")
            if self.provider not in DISK_PROVIDERS:
                raise DriverError(
                    f"--vagrant-disk-size: the {self.provider} provider cannot resize a box's disk "
                    f"(only {' and '.join(DISK_PROVIDERS)})"
                )
        if self.network and self.network != "dhcp":
            try:
                address = ipaddress.IPv4Address(self.network)
            except ValueError:
                raise DriverError(f"--vagrant-network {self.network!r}: give an IPv4 address or dhcp") from None
            if self.provider == "virtualbox" and address not in VIRTUALBOX_HOST_ONLY:
                raise DriverError(
                    f"--vagrant-network {address}: VirtualBox allows host-only addresses in {VIRTUALBOX_HOST_ONLY} "
                    "only (e.g. 192.168.56.10)"
                )

    @property
    def own_box(self) -> bool:
        """Whether the box is machine's own (built from a cached guest image, with the seed disk)."""
        return not self.box or self.box.startswith(vagrantbox.PREFIX)

    @property
    def disk_gib(self) -> int:
        return int(self.disk_size[:-1]) if self.disk_size else 0


class VagrantDriver(Driver):
    name = "vagrant"
    local_vm = True  # a VM on this computer
    description = "a VM through Vagrant (VirtualBox, libvirt, VMware, Parallels, Hyper-V)"
    settings_class = VagrantSettings
    settings: VagrantSettings
    remove_failed_create: ClassVar[bool] = True  # a failed `vagrant up` is destroyed: nothing is left behind

    _host_keys: tuple[str, ...] = ()
    _installed_agent = ""  # the agent in machine's own box (its image's manifest says)

    @property
    def log(self) -> Path:
        return self.machine.path / "vagrant.log"

    def _vagrant(self) -> vagrantcli.Vagrant:
        virtualbox_disk = self.settings.provider == "virtualbox" and self.settings.disk_gib
        env = {"VAGRANT_EXPERIMENTAL": "disks"} if virtualbox_disk else {}  # config.vm.disk
        binary = self.settings.vagrant_binary
        if vagrantcli.find(binary) is None:
            raise DriverError(f"{vagrantcli.missing(binary)}, or give its path with --vagrant-vagrant-binary")
        try:
            return vagrantcli.Vagrant(self.machine.path, self.log, binary, env, progress=self.progress)
        except vagrantcli.VagrantError as e:  # python-vagrant is missing
            raise DriverError(str(e)) from None

    def precreate_check(self) -> None:
        vagrant = self._vagrant()
        provider = self.settings.provider
        try:
            plugin = PLUGINS.get(provider)
            if plugin and plugin not in vagrant.plugins():
                raise DriverError(
                    f"Vagrant's {provider} provider is not installed: vagrant plugin install {plugin}"
                    + (" (Debian: sudo apt-get install vagrant-libvirt)" if provider == "libvirt" else "")
                )
            if provider == "virtualbox" and not (shutil.which("VBoxManage") or shutil.which("vboxmanage")):
                raise DriverError("VirtualBox is not installed (no VBoxManage): install it from virtualbox.org")
            if not self.settings.own_box:
                self._check_box(vagrant)
        except vagrantcli.VagrantError as e:
            raise DriverError(str(e)) from None

    def _check_box(self, vagrant: vagrantcli.Vagrant) -> None:
        """A box from elsewhere must be a URL, a .box file or a box Vagrant holds: the driver never lets Vagrant
        look a name up on the network by itself."""
        box = self.settings.box
        if _is_url(box):
            return
        if _is_file(box):
            if not Path(box).expanduser().is_file():
                raise DriverError(f"--vagrant-box {box}: no such box file")
            return
        if not any(b.name == box and b.provider == self.settings.provider for b in vagrant.boxes()):
            raise DriverError(
                f"Vagrant holds no box {box!r} for {self.settings.provider}: add it first "
                f"(`vagrant box add {box} --provider {self.settings.provider}`), or give a URL or a .box file"
            )

    def create(self) -> None:
        vagrant = self._vagrant()
        folder, settings = self.machine.path, self.settings
        seed: Path | None = None
        try:
            if settings.own_box:
                box, settings.box_version = self._own_box(vagrant)
                seed = self._write_seed()
            else:
                box = settings.box
            _write_private(folder / "Vagrantfile", render(self._spec(box, seed)))
            self.progress(f"Starting the VM with `vagrant up --provider {settings.provider}`")
            vagrant.up(settings.provider, UP_TIMEOUT)
            self._read_endpoint(vagrant)
        except vagrantcli.VagrantError as e:
            raise DriverError(f"creating the VM failed: {e}") from None

    def _own_box(self, vagrant: vagrantcli.Vagrant) -> tuple[str, str]:
        image = self.settings.box[len(vagrantbox.PREFIX) :] if self.settings.box else guestimage.DEFAULT
        try:
            box = vagrantbox.ensure(vagrant, self.machine.cache, self.settings.provider, self.progress, image)
        except ImageError as e:
            raise DriverError(str(e)) from None
        # the box's version is the image's build time: it has the agent that image's manifest records
        self._installed_agent = str((ImageCache(self.machine.cache).manifest(image) or {}).get("agent", ""))
        return box

    def _write_seed(self) -> Path:
        """The seed disk (machine/vm/bootfiles.py) with new host keys, pinned before the first connection."""
        host_keys = keys.host_keys()
        self._host_keys = tuple(keys.public_lines(host_keys))
        seed = self.machine.path / "seed.img"
        try:
            bootfiles.write_seed(seed, self.machine.name, self.machine.public_key, host_keys)
        except bootfiles.BootFilesError as e:
            raise DriverError(str(e)) from None
        seed.chmod(0o600)  # it holds the private host keys
        if self.settings.provider != "virtualbox":
            return seed
        vmdk = seed.with_suffix(".vmdk")  # VirtualBox attaches no raw file
        made = subprocess.run(
            ["qemu-img", "convert", "-f", "raw", "-O", "vmdk", str(seed), str(vmdk)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode != 0:
            raise DriverError(f"making the seed disk for VirtualBox failed: {made.stderr.strip()}")
        vmdk.chmod(0o600)
        seed.unlink()
        return vmdk

    def _spec(self, box: str, seed: Path | None) -> Spec:
        settings = self.settings
        url = ""
        if not settings.own_box and _is_url(box):
            url, box = box, f"{URL_BOXES}/{self.machine.name}"
        elif not settings.own_box and _is_file(box):
            url, box = Path(box).expanduser().resolve().as_uri(), f"{FILE_BOXES}/{self.machine.name}"
        return Spec(
            name=self.machine.name,
            provider=settings.provider,
            box=box,
            key=self.machine.key_path,
            public_key=self.machine.public_key,
            cpus=settings.cpus,
            memory=settings.memory,
            disk_gib=settings.disk_gib,
            network=settings.network,
            box_version=settings.box_version if settings.own_box else "",
            box_url=url,
            seed=seed,
            serial_log=self.machine.path / "serial.log",
        )

    def _read_endpoint(self, vagrant: vagrantcli.Vagrant) -> None:
        endpoint = parse_ssh_config(vagrant.ssh_config())
        self.settings.ssh_host, self.settings.ssh_port, self.settings.ssh_user = (
            endpoint.host,
            endpoint.port,
            endpoint.user,
        )

    def host_public_keys(self) -> list[str]:
        return list(self._host_keys)

    def installed_agent(self) -> str:
        return self._installed_agent

    def ssh_endpoint(self) -> SSHEndpoint:
        if not self.settings.ssh_host:
            raise DriverError(f"{self.machine.name} has no SSH address yet: is it running? (machine start)")
        return SSHEndpoint(self.settings.ssh_host, self.settings.ssh_port, self.settings.ssh_user)

    def _act(self, action: str, run: str) -> None:
        """Run a lifecycle command on an existing machine, with a clear error."""
        if not (self.machine.path / "Vagrantfile").exists():
            raise DriverError(
                f"the Vagrant machine of {self.machine.name} is gone (no Vagrantfile in {self.machine.path}): "
                f"remove it with `machine rm -f {self.machine.name}`"
            )
        vagrant = self._vagrant()
        try:
            if run == "up":
                vagrant.up(self.settings.provider, UP_TIMEOUT)
            elif run == "suspend":
                vagrant.suspend(HALT_TIMEOUT)
            elif run == "resume":
                vagrant.resume(UP_TIMEOUT)
            else:
                vagrant.halt(force=run == "halt --force", timeout=HALT_TIMEOUT)
            if run in ("up", "resume"):
                self._read_endpoint(vagrant)  # a VM may get another address at each boot
        except vagrantcli.VagrantError as e:
            raise DriverError(f"{action} failed: {e} (Vagrant's log: {self.log})") from None

    def start(self) -> None:
        if self.state() is State.PAUSED:
            self._act("resuming the VM", "resume")
        else:
            self._act("starting the VM", "up")
        self.settings.saved = ""

    def save(self, context: str) -> None:
        """`vagrant suspend` (providers that cannot suspend say so in the error)."""
        self._act("suspending the VM", "suspend")
        self.settings.saved = context

    def resumes(self, context: str) -> bool:
        if self.state() is not State.PAUSED:
            return False
        if self.settings.saved != context:
            self.progress(
                "The machine's suspended state no longer fits this version of machine: discarding it, it boots"
            )
            self._act("discarding the suspended state", "halt --force")
            self.settings.saved = ""
            return False
        return True

    def stop(self) -> None:
        self._act("stopping the VM", "halt")

    def kill(self) -> None:
        self._act("powering the VM off", "halt --force")

    def state(self) -> State:
        if not (self.machine.path / "Vagrantfile").exists():
            return State.NOT_FOUND
        try:
            return STATES.get(self._vagrant().state(), State.ERROR)
        except vagrantcli.VagrantError as e:
            raise DriverError(f"reading the VM's state failed: {e}") from None

    def remove(self) -> None:
        """`vagrant destroy -f`, the box Vagrant added for this machine alone (from a URL or a file), then
        Vagrant's files in the machine's folder."""
        folder = self.machine.path
        if (folder / "Vagrantfile").exists():
            vagrant = self._vagrant()
            try:
                vagrant.destroy(HALT_TIMEOUT)
                own = {f"{prefix}/{self.machine.name}" for prefix in (URL_BOXES, FILE_BOXES)}
                for box in {b.name for b in vagrant.boxes()} & own:
                    vagrant.remove_box(box)
            except vagrantcli.VagrantError as e:
                raise DriverError(f"destroying the VM failed: {e} (Vagrant's log: {self.log})") from None
        shutil.rmtree(folder / ".vagrant", ignore_errors=True)
        for name in FILES:
            (folder / name).unlink(missing_ok=True)


def parse_ssh_config(text: str) -> SSHEndpoint:
    """The endpoint of the first host in `vagrant ssh-config` output, read as OpenSSH does (paramiko)."""
    config = paramiko.SSHConfig.from_text(text)
    hosts = sorted(host for host in config.get_hostnames() if host != "*")
    if not hosts:
        raise DriverError(f"`vagrant ssh-config` named no host: {text.strip()[:200]!r}")
    entry = config.lookup(hosts[0])
    try:
        port = int(entry.get("port", 22))
    except ValueError:
        raise DriverError(f"`vagrant ssh-config` gave no usable port: {entry.get('port')!r}") from None
    return SSHEndpoint(str(entry["hostname"]), port, str(entry.get("user", "root")))


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)  # a file made 0644 before (the runner's placeholder) keeps its mode otherwise
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _is_url(box: str) -> bool:
    return urlparse(box).scheme in ("http", "https", "file")


def _is_file(box: str) -> bool:
    """Whether --vagrant-box names a box file rather than a box Vagrant holds."""
    return box.endswith(".box") or Path(box).expanduser().exists()
