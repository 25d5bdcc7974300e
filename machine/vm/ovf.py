"""The OVF descriptor of a VirtualBox box: one VM with its CPUs, memory, a SATA (AHCI) controller holding the
box's disk (a streamOptimized VMDK), and a virtio network adapter on NAT, as VirtualBox imports it."""

from __future__ import annotations

from xml.sax.saxutils import escape

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VMDK_STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
DEBIAN_64 = "96"  # the CIM operating system id VirtualBox exports for Debian_64


def _item(**fields: str) -> str:
    """One rasd Item, its fields in the schema's (alphabetical) order."""
    return (
        "      <Item>\n"
        + "".join(f"        <rasd:{key}>{escape(value)}</rasd:{key}>\n" for key, value in sorted(fields.items()))
        + "      </Item>\n"
    )


def descriptor(name: str, disk_file: str, disk_bytes: int, capacity: int, cpus: int = 1, memory_mib: int = 1024) -> str:
    """The box.ovf of VM `name` whose disk is `disk_file` (`disk_bytes` long, `capacity` bytes as a disk)."""
    hardware = (
        _item(
            Caption=f"{cpus} virtual CPU",
            Description="Number of virtual CPUs",
            ElementName=f"{cpus} virtual CPU",
            InstanceID="1",
            ResourceType="3",
            VirtualQuantity=str(cpus),
        )
        + _item(
            AllocationUnits="MegaBytes",
            Caption=f"{memory_mib} MB of memory",
            Description="Memory Size",
            ElementName=f"{memory_mib} MB of memory",
            InstanceID="2",
            ResourceType="4",
            VirtualQuantity=str(memory_mib),
        )
        + _item(
            Address="0",
            Caption="sataController0",
            Description="SATA Controller",
            ElementName="sataController0",
            InstanceID="3",
            ResourceSubType="AHCI",
            ResourceType="20",
        )
        + _item(
            AddressOnParent="0",
            Caption="disk1",
            Description="Disk Image",
            ElementName="disk1",
            HostResource="ovf:/disk/vmdisk1",
            InstanceID="4",
            Parent="3",
            ResourceType="17",
        )
        + _item(
            AutomaticAllocation="true",
            Caption="Ethernet adapter on 'NAT'",
            Connection="NAT",
            ElementName="Ethernet adapter on 'NAT'",
            InstanceID="5",
            ResourceSubType="virtio",
            ResourceType="10",
        )
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="{OVF}" xmlns:ovf="{OVF}" xmlns:rasd="{RASD}" xmlns:vssd="{VSSD}">
  <References>
    <File ovf:id="file1" ovf:href="{escape(disk_file)}" ovf:size="{disk_bytes}"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="{capacity}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="{VMDK_STREAM}"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{escape(name)}">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="{DEBIAN_64}">
      <Info>The kind of installed guest operating system</Info>
      <Description>Debian_64</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{escape(name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
{hardware}    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""
