"""What an instance is made from, found or made in the account: the AMI, the VPC and subnet, the security
group and the key pair. Things this driver makes carry the machine's token tag, so `remove` finds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import DriverError
from .aws import error_code
from .settings import AmazonEC2Settings, cidrs, ports

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import ImageTypeDef, IpPermissionTypeDef, SubnetTypeDef, TagTypeDef

DEBIAN_OWNER = "136693071363"  # the Debian cloud team's AWS account, which publishes the official images
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
TOKEN_TAG = "machine-token"


def tag_list(tags: dict[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def architecture(ec2: EC2Client, instance_type: str) -> str:
    """The CPU architecture of an instance type (x86_64 or arm64)."""
    found = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]  # type: ignore[list-item]
    supported = found[0].get("ProcessorInfo", {}).get("SupportedArchitectures", []) if found else []
    for arch in DEBIAN_ARCH:
        if arch in supported:
            return arch
    raise DriverError(f"instance type {instance_type} runs {', '.join(supported) or 'no known CPU'}: pick another")


def image(ec2: EC2Client, ami: str, arch: str, region: str) -> ImageTypeDef:
    """The AMI given, else the newest official Debian 12 image for `arch`."""
    if ami:
        given = ec2.describe_images(ImageIds=[ami])["Images"]
        if not given:
            raise DriverError(f"AMI {ami} does not exist in {region}: AMIs are per region, check --amazonec2-ami")
        return given[0]
    found = ec2.describe_images(
        Owners=[DEBIAN_OWNER],
        Filters=[
            {"Name": "name", "Values": [f"debian-12-{DEBIAN_ARCH[arch]}-*"]},
            {"Name": "architecture", "Values": [arch]},
            {"Name": "state", "Values": ["available"]},
        ],
    )["Images"]
    if not found:
        raise DriverError(
            f"no official Debian 12 image for {arch} in {region} (owner {DEBIAN_OWNER}): give one with --amazonec2-ami"
        )
    return max(found, key=lambda i: i.get("CreationDate", ""))


def subnet(ec2: EC2Client, settings: AmazonEC2Settings) -> SubnetTypeDef:
    """The subnet given, else a default subnet of the VPC (given or the region's default) in the zone given,
    else in a zone that offers the instance type."""
    if settings.subnet_id:
        given = ec2.describe_subnets(SubnetIds=[settings.subnet_id])["Subnets"]
        if settings.vpc_id and given[0]["VpcId"] != settings.vpc_id:
            raise DriverError(f"subnet {settings.subnet_id} is not in VPC {settings.vpc_id}: check the two options")
        return given[0]
    vpc = settings.vpc_id or _default_vpc(ec2, settings.region)
    filters: list[Any] = [{"Name": "vpc-id", "Values": [vpc]}]
    if settings.zone:
        filters.append({"Name": "availability-zone", "Values": [zone(settings)]})
    subnets = ec2.describe_subnets(Filters=filters)["Subnets"]
    offered = _zones_offering(ec2, settings.instance_type)
    usable = [s for s in subnets if not offered or s["AvailabilityZone"] in offered]
    if not usable:
        where = f"zone {zone(settings)}" if settings.zone else "any zone offering " + settings.instance_type
        raise DriverError(f"VPC {vpc} has no subnet in {where}: give --amazonec2-subnet-id or another --amazonec2-zone")
    return sorted(usable, key=lambda s: (not s.get("DefaultForAz"), s["AvailabilityZone"], s["SubnetId"]))[0]


def zone(settings: AmazonEC2Settings) -> str:
    """--amazonec2-zone as a full zone name ('a' -> 'eu-west-1a')."""
    return settings.region + settings.zone if len(settings.zone) == 1 else settings.zone


def _default_vpc(ec2: EC2Client, region: str) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise DriverError(f"{region} has no default VPC: give --amazonec2-vpc-id and --amazonec2-subnet-id")
    return vpcs[0]["VpcId"]


def _zones_offering(ec2: EC2Client, instance_type: str) -> set[str]:
    offerings = ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}]
    )["InstanceTypeOfferings"]
    return {o["Location"] for o in offerings}


def find_group(ec2: EC2Client, name_or_id: str, vpc: str) -> str | None:
    """The id of a security group of `vpc` by name or id, None when there is none."""
    try:
        if name_or_id.startswith("sg-"):
            groups = ec2.describe_security_groups(GroupIds=[name_or_id])["SecurityGroups"]
        else:
            groups = ec2.describe_security_groups(
                Filters=[{"Name": "group-name", "Values": [name_or_id]}, {"Name": "vpc-id", "Values": [vpc]}]
            )["SecurityGroups"]
    except Exception as e:
        if error_code(e) == "InvalidGroup.NotFound":
            return None
        raise
    matching = [g["GroupId"] for g in groups if g.get("VpcId") == vpc]
    return matching[0] if matching else None


def create_group(ec2: EC2Client, settings: AmazonEC2Settings, name: str, tags: dict[str, str]) -> str:
    """The machine's own security group: SSH from --amazonec2-ssh-cidr, --amazonec2-open-port from anywhere,
    every outgoing connection (the instance installs packages)."""
    group = ec2.create_security_group(
        GroupName=name,
        Description=f"{name}: SSH only, and the ports given with --amazonec2-open-port",
        VpcId=settings.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(tags)}],
    )["GroupId"]
    rules: list[IpPermissionTypeDef] = [_rule("tcp", 22, 22, cidrs(settings.ssh_cidr), "SSH")]
    rules += [_rule(p, first, last, ["0.0.0.0/0", "::/0"], "open port") for p, first, last in ports(settings.open_port)]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=rules)
    return group


def _rule(protocol: str, first: int, last: int, networks: list[str], what: str) -> IpPermissionTypeDef:
    return {
        "IpProtocol": protocol,
        "FromPort": first,
        "ToPort": last,
        "IpRanges": [{"CidrIp": n, "Description": what} for n in networks if ":" not in n],
        "Ipv6Ranges": [{"CidrIpv6": n, "Description": what} for n in networks if ":" in n],
    }


def key_pair_public_key(ec2: EC2Client, name: str) -> str | None:
    """The public key of an existing key pair ("" when EC2 does not say it), None when there is no such pair."""
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    except Exception as e:
        if error_code(e) == "InvalidKeyPair.NotFound":
            return None
        raise
    return pairs[0].get("PublicKey", "").strip() if pairs else None


def import_key_pair(ec2: EC2Client, name: str, public_key: str, tags: dict[str, str]) -> None:
    ec2.import_key_pair(
        KeyName=name,
        PublicKeyMaterial=public_key.encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tag_list(tags)}],
    )
