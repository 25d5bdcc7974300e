"""The amazonec2 driver: a Debian 12 instance on AWS EC2 through boto3, reached over SSH only.

precreate_check finds what the instance is made from (credentials, region, instance type, AMI, VPC and
subnet, an existing group or key pair) before anything is made. create imports the machine's key as a
key pair, makes the machine's own security group (22/tcp from --amazonec2-ssh-cidr, no Docker port) and
runs the instance with cloud-init user data that creates the SSH user and installs the machine's own SSH
host keys (pinned before the first connection), merged with the user's --amazonec2-userdata. Everything
it makes carries the machine's token tag: a failed create and `rm` remove exactly that, and a resource
already gone is not an error. Stop/start give the instance a new public address; the record follows it.
"""

from __future__ import annotations

import functools
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from machine.vm import cloudinit, keys

from .. import Driver, DriverError, NotSupported, SSHEndpoint, State
from . import aws, instances, resources
from .aws import error_code
from .instances import LIVE, STATES
from .resources import TOKEN_TAG, tag_list
from .settings import AmazonEC2Settings, cidrs, ssh_address, tags

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, RunInstancesRequestTypeDef

__all__ = ["AmazonEC2Driver", "AmazonEC2Settings"]
USER_DATA_LIMIT = 16384  # bytes EC2 takes, before base64


class AmazonEC2Driver(Driver):
    name = "amazonec2"
    description = "a cloud instance on AWS EC2 (Debian 12), reached over SSH"
    settings_class = AmazonEC2Settings
    settings: AmazonEC2Settings
    remove_failed_create = True  # an instance costs money: a failed create removes what it made
    # EC2 instances answer SSH about a minute after running; metal types boot for many minutes
    ssh_timeout: ClassVar[float] = 600.0
    # seconds between EC2 state polls, and how long each wait may take (stopping can take minutes)
    poll_interval: ClassVar[float] = 5.0
    wait_timeout: ClassVar[float] = 900.0

    _host_keys: tuple[str, ...] = ()  # the public host keys create put into the instance

    @functools.cached_property
    def ec2(self) -> EC2Client:
        return aws.client(self.settings, self.machine.path)

    @property
    def resource_name(self) -> str:
        return f"machine-{self.machine.name}"

    def _errors(self, action: str) -> Any:
        return aws.errors(action, self.settings)

    def precreate_check(self) -> None:
        """Resolve and record what the instance is made from; fail before anything is made when it cannot work."""
        s = self.settings
        with self._errors("checking the options against AWS"):
            aws.adopt_credentials(s, self.machine.path)
            s.region = aws.region(s, self.machine.path)
            arch = resources.architecture(self.ec2, s.instance_type)
            ami = resources.image(self.ec2, s.ami, arch, s.region)
            s.ami = ami["ImageId"]
            self.progress(f"Using {s.ami} ({ami.get('Name', 'unnamed')}) in {s.region}")
            subnet = resources.subnet(self.ec2, s)
            s.subnet_id, s.vpc_id, s.zone = subnet["SubnetId"], subnet["VpcId"], subnet["AvailabilityZone"]
            if s.security_group:
                group = resources.find_group(self.ec2, s.security_group, s.vpc_id)
                if group is None:
                    raise DriverError(f"security group {s.security_group} does not exist in {s.vpc_id}")
                s.security_group_id = group
            elif resources.find_group(self.ec2, self.resource_name, s.vpc_id):
                raise DriverError(
                    f"a security group {self.resource_name} already exists in {s.vpc_id} (left by an earlier machine "
                    f"of this name?): delete it, or pick another machine name"
                )
            if s.keypair_name and resources.key_pair_public_key(self.ec2, s.keypair_name) is None:
                raise DriverError(
                    f"key pair {s.keypair_name} does not exist in {s.region}: check --amazonec2-keypair-name"
                )
            if not s.keypair_name and resources.key_pair_public_key(self.ec2, self.resource_name) is not None:
                raise DriverError(
                    f"a key pair {self.resource_name} already exists in {s.region} (left by an earlier machine of "
                    f"this name?): delete it, or pick another machine name"
                )
        self._user_data_file()
        s.token = uuid.uuid4().hex
        if {"0.0.0.0/0", "::/0"} & set(cidrs(s.ssh_cidr)):
            self.progress(
                "Warning: SSH (port 22) will be open to the whole internet; limit it with --amazonec2-ssh-cidr "
                "YOUR.ADDRESS/32 (the machine's key is the only way in: no passwords)"
            )

    def _user_data_file(self) -> bytes:
        """The user's --amazonec2-userdata (b"" without), checked to be something cloud-init reads."""
        if not self.settings.userdata:
            return b""
        path = Path(self.settings.userdata).expanduser()
        try:
            data = path.read_bytes()
            cloudinit.merge("#cloud-config\n{}\n", data)
        except OSError as e:
            raise DriverError(f"cannot read --amazonec2-userdata {path}: {e.strerror}") from None
        except cloudinit.UserDataError as e:
            raise DriverError(f"--amazonec2-userdata {path}: {e}") from None
        return data

    def _user_data(self, host_keys: keys.HostKeys, extra_keys: list[str]) -> str:
        ours = cloudinit.user_data(
            self.machine.name, self.machine.public_key, host_keys, user=self.settings.ssh_user, extra_keys=extra_keys
        )
        theirs = self._user_data_file()
        data = cloudinit.merge(ours, theirs) if theirs else ours
        if len(data.encode()) > USER_DATA_LIMIT:
            raise DriverError(
                f"the user data is {len(data.encode())} bytes with --amazonec2-userdata, EC2 takes "
                f"{USER_DATA_LIMIT}: shorten it, or have it #include the rest from a URL"
            )
        return data

    def create(self) -> None:
        try:
            with self._errors("creating the instance"):
                self._create()
        except BaseException:
            self.progress("Removing what this create made...")
            try:
                self.remove()
            except DriverError as e:
                self.progress(f"Could not remove everything: {e}")
            raise

    def _create(self) -> None:
        s = self.settings
        made = {"Name": self.resource_name, "machine-name": self.machine.name, TOKEN_TAG: s.token, **tags(s.tags)}
        extra_keys = []
        if s.keypair_name:  # the user's own key pair: their key is authorized too
            extra_keys = [k for k in [resources.key_pair_public_key(self.ec2, s.keypair_name)] if k]
        host_keys = keys.host_keys()
        user_data = self._user_data(host_keys, extra_keys)
        if not s.keypair_name:
            self.progress(f"Importing the machine's SSH key as key pair {self.resource_name}")
            resources.import_key_pair(self.ec2, self.resource_name, self.machine.public_key, made)
        s.key_pair = s.keypair_name or self.resource_name
        if not s.security_group:
            self.progress(f"Creating security group {self.resource_name} (SSH from {', '.join(s.ssh_cidr)})")
            s.security_group_id = resources.create_group(self.ec2, s, self.resource_name, made)
        image = self.ec2.describe_images(ImageIds=[s.ami])["Images"][0]
        self.progress(f"Launching a {s.instance_type} instance in {s.zone}")
        instance = self.ec2.run_instances(
            **self._run_request(image.get("RootDeviceName", "/dev/xvda"), user_data, made)
        )
        s.instance_id = instance["Instances"][0]["InstanceId"]
        self._host_keys = tuple(keys.public_lines(host_keys))
        self._record(self._wait("running"))

    def _run_request(self, root_device: str, user_data: str, made: dict[str, str]) -> RunInstancesRequestTypeDef:
        s = self.settings
        request: RunInstancesRequestTypeDef = {
            "ImageId": s.ami,
            "InstanceType": s.instance_type,  # type: ignore[typeddict-item]
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": s.token,  # a retried call launches no second instance
            "KeyName": s.key_pair,
            "UserData": user_data,
            "NetworkInterfaces": [
                {
                    "DeviceIndex": 0,
                    "SubnetId": s.subnet_id,
                    "Groups": [s.security_group_id],
                    "AssociatePublicIpAddress": not s.private_address_only,
                    "DeleteOnTermination": True,
                }
            ],
            "BlockDeviceMappings": [
                {
                    "DeviceName": root_device,
                    "Ebs": {"VolumeSize": s.root_size, "VolumeType": s.volume_type, "DeleteOnTermination": True},  # type: ignore[typeddict-item]
                }
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tag_list(made)},
                {"ResourceType": "volume", "Tags": tag_list(made)},
            ],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        }
        if s.iam_instance_profile:
            profile = s.iam_instance_profile
            request["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
        if s.request_spot_instance:
            spot: dict[str, Any] = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
            if s.spot_price:
                spot["MaxPrice"] = s.spot_price
            request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": spot}  # type: ignore[typeddict-item]
        return request

    def _wait(self, wanted: str) -> InstanceTypeDef | None:
        return instances.wait(
            self.ec2, self.settings.instance_id, wanted, self.wait_timeout, self.progress, self.poll_interval
        )

    def _record(self, instance: InstanceTypeDef | None) -> None:
        """Record the instance's addresses (a new public one after each start)."""
        self.settings.public_ip = instance.get("PublicIpAddress", "") if instance else ""
        self.settings.private_ip = instance.get("PrivateIpAddress", "") if instance else ""

    def host_public_keys(self) -> list[str]:
        return list(self._host_keys)

    def _private(self) -> bool:
        return self.settings.private_address_only or self.settings.use_private_address

    def ip(self) -> str:
        address = self.settings.private_ip if self._private() else self.settings.public_ip
        if not address:
            raise DriverError(
                f"{self.machine.name} has no {'private' if self._private() else 'public'} address now: "
                f"is it running? (machine start {self.machine.name})"
            )
        return address

    def ssh_endpoint(self) -> SSHEndpoint:
        given = ssh_address(self.settings.ssh_address)
        host, port = given or (self.ip(), 22)
        return SSHEndpoint(host, port, self.settings.ssh_user)

    def state(self) -> State:
        if not self.settings.instance_id:
            return State.NOT_FOUND
        with self._errors("reading the instance's state"):
            instance = instances.describe(self.ec2, self.settings.instance_id)
        return STATES.get(instances.state_name(instance), State.ERROR)

    def _require_stoppable(self, verb: str) -> None:
        if self.settings.request_spot_instance:
            raise NotSupported(
                f"cannot {verb} {self.machine.name}: a one-time spot instance cannot be stopped, only removed "
                f"(machine rm {self.machine.name})"
            )

    def start(self) -> None:
        with self._errors("starting the instance"):
            self.ec2.start_instances(InstanceIds=[self.settings.instance_id])
            self._record(self._wait("running"))

    def stop(self) -> None:
        self._require_stoppable("stop")
        with self._errors("stopping the instance"):
            self.ec2.stop_instances(InstanceIds=[self.settings.instance_id])
            self._record(self._wait("stopped"))

    def kill(self) -> None:
        self._require_stoppable("kill")
        with self._errors("stopping the instance by force"):
            self.ec2.stop_instances(InstanceIds=[self.settings.instance_id], Force=True)
            self._record(self._wait("stopped"))

    def remove(self) -> None:
        """Terminate the instance and delete the group and key pair this machine made (found by its token tag)."""
        with self._errors("removing the instance"):
            for instance_id in self._instances():
                self.progress(f"Terminating instance {instance_id}")
                try:
                    self.ec2.terminate_instances(InstanceIds=[instance_id])
                except Exception as e:
                    if error_code(e) != "InvalidInstanceID.NotFound":
                        raise
                instances.wait(
                    self.ec2, instance_id, "terminated", self.wait_timeout, self.progress, self.poll_interval
                )
            for group in self._tagged("security-group"):
                self.progress(f"Deleting security group {group}")
                self._delete_group(group)
            for pair in self._tagged("key-pair"):
                self.progress(f"Deleting key pair {pair}")
                self.ec2.delete_key_pair(KeyName=pair)
        self._record(None)

    def _instances(self) -> list[str]:
        """The machine's instances not yet terminated: the recorded one and any with its token."""
        found = {self.settings.instance_id} - {""}
        if self.settings.token:
            reservations = self.ec2.describe_instances(
                Filters=[
                    {"Name": f"tag:{TOKEN_TAG}", "Values": [self.settings.token]},
                    {"Name": "instance-state-name", "Values": LIVE},
                ]
            )["Reservations"]
            found |= {i["InstanceId"] for r in reservations for i in r.get("Instances", [])}
        return sorted(found)

    def _tagged(self, kind: str) -> list[str]:
        """Security group ids or key pair names with the machine's token."""
        if not self.settings.token:
            return []
        token = [{"Name": f"tag:{TOKEN_TAG}", "Values": [self.settings.token]}]
        if kind == "security-group":
            return [g["GroupId"] for g in self.ec2.describe_security_groups(Filters=token)["SecurityGroups"]]  # type: ignore[arg-type]
        return [p["KeyName"] for p in self.ec2.describe_key_pairs(Filters=token)["KeyPairs"]]  # type: ignore[arg-type]

    def _delete_group(self, group: str) -> None:
        """Delete a security group; right after termination EC2 may still count it in use for a while."""
        deadline = time.monotonic() + self.wait_timeout
        while True:
            try:
                self.ec2.delete_security_group(GroupId=group)
                return
            except Exception as e:
                code = error_code(e)
                if code == "InvalidGroup.NotFound":
                    return
                if code != "DependencyViolation" or time.monotonic() > deadline:
                    raise
                self.progress(f"Security group {group} is still in use, retrying...")
                time.sleep(self.poll_interval)
