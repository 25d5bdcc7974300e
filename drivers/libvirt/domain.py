"""The libvirt XML of a machine: its NAT network and its domain, and libvirt's domain states as ours."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from machine.vm.bootfiles import KERNEL_ARGS

from .. import State

NETWORK = "machine"
NETWORK_XML = """<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='machinebr0' stp='off' delay='0'/>
  <ip address='192.168.123.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.123.10' end='192.168.123.250'/></dhcp>
  </ip>
  <dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options>
</network>
"""


def domain_xml(
    name: str, folder: Path, cpus: int, memory_mib: int, network: str, accel: str, seed: str = "seed.img"
) -> str:
    """The libvirt domain: virtio disks and net, serial log, and direct boot of the kernel in the machine's
    folder (or, for a cloud image with its seed.iso, the disk's own bootloader)."""
    if seed.endswith(".iso"):
        boot = "<boot dev='hd'/>"
    else:
        boot = (
            f"<kernel>{escape(str(folder / 'vmlinux'))}</kernel>\n"
            f"    <initrd>{escape(str(folder / 'initrd.img'))}</initrd>\n    <cmdline>{KERNEL_ARGS}</cmdline>"
        )
    return f"""<domain type='{"kvm" if accel == "kvm" else "qemu"}'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{cpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    {boot}
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='{escape(str(folder / "disk.qcow2"))}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{escape(str(folder / seed))}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network='{escape(network)}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='{escape(str(folder / "serial.log"))}'/>
      <target port='0'/>
    </serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def map_state(code: int) -> State:
    """libvirt's domain state code -> our State."""
    return {
        0: State.STOPPED,
        1: State.RUNNING,
        2: State.RUNNING,
        3: State.PAUSED,
        4: State.STOPPING,
        5: State.STOPPED,
        6: State.STOPPED,
        7: State.PAUSED,
    }.get(code, State.ERROR)
