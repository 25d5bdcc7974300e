"""The Vagrantfile the driver writes in the machine's folder (never `vagrant init`): the box, the provider's
resources, no synced folder, the machine's own SSH key instead of Vagrant's insecure one, and for machine's
own boxes the seed disk that carries the machine's SSH host keys, the user's key and the hostname."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The controller VirtualBox names the SATA (AHCI) controller of an imported OVF (box.ovf, see machine/vm/ovf.py)
VIRTUALBOX_CONTROLLER = "SATA Controller"
# The libvirt PCI slot of the seed disk: the last of the bus, never one libvirt hands out first
SEED_PCI_SLOT = "0x1f"
# Vagrant's insecure keys, which a box from elsewhere authorizes until the provisioner below replaces them
_INSECURE_KEYS = "*Dir.glob(Vagrant.source_root.join('keys', 'vagrant*').to_s).reject { |key| key.end_with?('.pub') }"
# For a box from elsewhere: authorize the machine's key instead of Vagrant's insecure one
_AUTHORIZE = (
    "mkdir -p ~/.ssh && chmod 700 ~/.ssh && printf '%s\\n' \"$1\" > ~/.ssh/authorized_keys "
    "&& chmod 600 ~/.ssh/authorized_keys"
)


@dataclass(frozen=True)
class Spec:
    """What the Vagrantfile says about one machine."""

    name: str
    provider: str
    box: str
    key: Path  # the machine's private SSH key
    public_key: str
    cpus: int = 1
    memory: int = 1024
    disk_gib: int = 0  # 0: the box's size
    network: str = ""  # "", "dhcp" or an IPv4 address of a private network
    box_version: str = ""  # machine's own box: pinned
    box_url: str = ""  # a box given as URL or file
    seed: Path | None = None  # machine's own box: the seed disk (raw; VirtualBox: a VMDK of it)
    serial_log: Path | None = None


def ruby(value: str) -> str:
    """A Ruby single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(spec: Spec) -> str:
    lines = [
        f"# Written by machine for the machine {spec.name}: it is rewritten, change `machine create` options instead.",
        'Vagrant.configure("2") do |config|',
        f"  config.vm.box = {ruby(spec.box)}",
    ]
    if spec.box_version:
        lines.append(f"  config.vm.box_version = {ruby(spec.box_version)}")
    if spec.box_url:
        lines.append(f"  config.vm.box_url = {ruby(spec.box_url)}")
    lines += [
        "  config.vm.box_check_update = false",
        '  config.vm.synced_folder ".", "/vagrant", disabled: true',
        "  config.ssh.insert_key = false",
    ]
    if spec.seed is not None:  # machine's own box: root with the machine's key, which the seed authorizes
        lines += [
            f"  config.ssh.private_key_path = [{ruby(str(spec.key))}]",
            "  config.ssh.username = 'root'",
            "  config.ssh.sudo_command = '%c'",
        ]
    else:  # a box from elsewhere: its user, Vagrant's insecure key until the provisioner authorizes the machine's
        lines += [
            f"  config.ssh.private_key_path = [{ruby(str(spec.key))}, {_INSECURE_KEYS}]",
            f"  config.vm.hostname = {ruby(spec.name)}",
            f"  config.vm.provision 'machine-key', type: 'shell', privileged: false, inline: {ruby(_AUTHORIZE)}, "
            f"args: [{ruby(spec.public_key)}]",
        ]
    if spec.network == "dhcp":
        lines.append("  config.vm.network :private_network, type: 'dhcp'")
    elif spec.network:
        lines.append(f"  config.vm.network :private_network, ip: {ruby(spec.network)}")
    if spec.disk_gib and spec.provider == "virtualbox":  # Vagrant's disks feature (VAGRANT_EXPERIMENTAL=disks)
        lines.append(f"  config.vm.disk :disk, name: 'machine-root', size: '{spec.disk_gib}GB', primary: true")
    lines += _provider(spec)
    lines.append("end")
    return "\n".join(lines) + "\n"


def _provider(spec: Spec) -> list[str]:
    block = [f"  config.vm.provider :{spec.provider} do |p|"]
    if spec.provider == "libvirt":
        block += [
            f"    p.default_prefix = {ruby(f'machine-{spec.name}-')}",
            f"    p.cpus = {spec.cpus}",
            f"    p.memory = {spec.memory}",
            "    p.random model: 'random'",
            "    p.graphics_type = 'none'",
            "    p.video_type = 'none'",
        ]
        if spec.disk_gib:
            block.append(f"    p.machine_virtual_size = {spec.disk_gib}")
        if spec.serial_log is not None:
            block.append(f"    p.serial type: 'file', source: {{path: {ruby(str(spec.serial_log))}}}")
        if spec.seed is not None:
            drive = f"file={str(spec.seed).replace(',', ',,')},if=none,id=machine-seed,format=raw,readonly=on"
            block += [
                "    p.qemuargs value: '-drive'",
                f"    p.qemuargs value: {ruby(drive)}",
                "    p.qemuargs value: '-device'",
                f"    p.qemuargs value: 'virtio-blk-pci,drive=machine-seed,addr={SEED_PCI_SLOT}'",
            ]
    elif spec.provider == "virtualbox":
        block += [
            f"    p.name = {ruby(f'machine-{spec.name}')}",
            f"    p.cpus = {spec.cpus}",
            f"    p.memory = {spec.memory}",
        ]
        if spec.seed is not None:
            attach = ["storageattach", ":id", "--storagectl", VIRTUALBOX_CONTROLLER, "--port", "1", "--device", "0"]
            attach += ["--type", "hdd", "--medium", str(spec.seed)]
            block.append(f"    p.customize [{', '.join(w if w == ':id' else ruby(w) for w in attach)}]")
    elif spec.provider == "vmware_desktop":
        block += [f"    p.vmx['numvcpus'] = '{spec.cpus}'", f"    p.vmx['memsize'] = '{spec.memory}'"]
    else:  # parallels, hyperv
        block += [f"    p.cpus = {spec.cpus}", f"    p.memory = {spec.memory}"]
    block.append("  end")
    return block
