"""The Engine API's request shapes (API 1.45, moby's api/swagger.yaml): JSON bodies and typed query parameters.

Each route declares what it accepts with these (`router.route(..., query=..., body=...)`); the request is checked
before the handler runs, so a malformed one is a 400 naming its field and changes nothing. Only types and shapes
live here; names (of containers, volumes, networks, images) are checked where they are used.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..containers import signals
from ..containers.config import RESTART_POLICIES
from ..network import ports
from . import filters
from .http.schema import (
    ANY,
    BOOL,
    INT,
    STR,
    Grammar,
    JsonQuery,
    Kind,
    ListOf,
    MapOf,
    Query,
    Shape,
    StrSlice,
    integer,
)


def _ip(text: str) -> bool:
    try:
        return text == "" or bool(ipaddress.ip_address(text))
    except ValueError:
        return False


def _env(text: str) -> bool:
    return not text.startswith("=") and text != ""


def _unix_time(text: str) -> float:
    """dockerd's `seconds[.nanoseconds]` (what the CLI sends for --since and --until)."""
    if not re.fullmatch(r"\d{1,12}(\.\d{1,9})?", text):
        raise ValueError(text)
    return float(text)


def _tail(text: str) -> str:
    if text != "all":
        integer(0).parse(text)
    return text


class FilterMap(Kind):
    """The decoded `filters` parameter (guest/api/filters.py reads it)."""

    expected = "an object"

    def normal(self, value: Any, path: str) -> Any:
        return filters.parse(value, path)


SIGNAL = Grammar("a signal", signals.valid)
PORT = Grammar("a port", ports.valid)
HOST_PORT = Grammar("a port", ports.valid_host_port)
IP = Grammar("an IP address", _ip)
ENV = Grammar("KEY=value", _env)
STRINGS = ListOf(STR)
LABELS = MapOf(STR)
COMMAND = StrSlice()

# -- query parameters ---------------------------------------------------------------------------
FILTERS = JsonQuery(FilterMap())
TIME = Query("a unix time (seconds[.nanoseconds])", _unix_time)
TAIL = Query('"all" or a number of lines', _tail)
SIZE = integer(0, 65535)  # a terminal's height or width
INTEGER = integer()
LIST_QUERY = {"filters": FILTERS, "limit": INTEGER}
STOP_QUERY = {"t": INTEGER, "timeout": INTEGER, "signal": SIGNAL}
RESIZE_QUERY = {"h": SIZE, "w": SIZE}
LOGS_QUERY = {"since": TIME, "until": TIME, "tail": TAIL}
EVENTS_QUERY = {"since": TIME, "until": TIME, "filters": FILTERS}
BUILD_QUERY = {
    "buildargs": JsonQuery(MapOf(STR)),
    "labels": JsonQuery(LABELS),
    "cachefrom": JsonQuery(STRINGS),
    "ulimits": JsonQuery(ListOf(Shape(Name=STR, Soft=INT, Hard=INT))),
    **{n: INTEGER for n in ("memory", "memswap", "cpushares", "cpuperiod", "cpuquota", "shmsize")},
}

# -- bodies -------------------------------------------------------------------------------------
HEALTHCHECK = Shape(Test=STRINGS, Interval=INT, Timeout=INT, Retries=INT, StartPeriod=INT, StartInterval=INT)
CONTAINER_CONFIG = dict(
    Hostname=STR,
    Domainname=STR,
    User=STR,
    AttachStdin=BOOL,
    AttachStdout=BOOL,
    AttachStderr=BOOL,
    ExposedPorts=MapOf(ANY, key=PORT),
    Tty=BOOL,
    OpenStdin=BOOL,
    StdinOnce=BOOL,
    Env=ListOf(ENV),
    Cmd=COMMAND,
    Healthcheck=HEALTHCHECK,
    ArgsEscaped=BOOL,
    Image=STR,
    Volumes=MapOf(ANY),
    WorkingDir=STR,
    Entrypoint=COMMAND,
    NetworkDisabled=BOOL,
    MacAddress=STR,
    OnBuild=STRINGS,
    Labels=LABELS,
    StopSignal=SIGNAL,
    StopTimeout=INT,
    Shell=COMMAND,
)
THROTTLE = ListOf(Shape(Path=STR, Rate=INT))
RESOURCES = dict(
    CpuShares=INT,
    Memory=INT,
    CgroupParent=STR,
    BlkioWeight=INT,
    BlkioWeightDevice=ListOf(Shape(Path=STR, Weight=INT)),
    BlkioDeviceReadBps=THROTTLE,
    BlkioDeviceWriteBps=THROTTLE,
    BlkioDeviceReadIOps=THROTTLE,
    BlkioDeviceWriteIOps=THROTTLE,
    CpuPeriod=INT,
    CpuQuota=INT,
    CpuRealtimePeriod=INT,
    CpuRealtimeRuntime=INT,
    CpusetCpus=STR,
    CpusetMems=STR,
    Devices=ListOf(Shape(PathOnHost=STR, PathInContainer=STR, CgroupPermissions=STR)),
    DeviceCgroupRules=STRINGS,
    DeviceRequests=ListOf(Shape(Driver=STR, Count=INT, DeviceIDs=STRINGS, Capabilities=ListOf(STRINGS))),
    KernelMemoryTCP=INT,
    MemoryReservation=INT,
    MemorySwap=INT,
    MemorySwappiness=INT,
    NanoCpus=INT,
    OomKillDisable=BOOL,
    Init=BOOL,
    PidsLimit=INT,
    Ulimits=ListOf(Shape(Name=STR, Soft=INT, Hard=INT)),
    CpuCount=INT,
    CpuPercent=INT,
    IOMaximumIOps=INT,
    IOMaximumBandwidth=INT,
)
RESTART_POLICY = Shape(
    Name=Grammar("a restart policy (no, always, unless-stopped, on-failure)", lambda n: n in ("", *RESTART_POLICIES)),
    MaximumRetryCount=INT,
)
MOUNT = Shape(
    Target=STR,
    Source=STR,
    Type=STR,
    ReadOnly=BOOL,
    Consistency=STR,
    BindOptions=Shape(Propagation=STR, NonRecursive=BOOL, CreateMountpoint=BOOL),
    VolumeOptions=Shape(NoCopy=BOOL, Labels=LABELS, DriverConfig=Shape(Name=STR, Options=MapOf(STR)), Subpath=STR),
    TmpfsOptions=Shape(SizeBytes=INT, Mode=INT),
)
HOST_CONFIG = Shape(
    **RESOURCES,
    Binds=STRINGS,
    ContainerIDFile=STR,
    LogConfig=Shape(Type=STR, Config=MapOf(STR)),
    NetworkMode=STR,
    PortBindings=MapOf(ListOf(Shape(HostIp=IP, HostPort=HOST_PORT)), key=PORT),
    RestartPolicy=RESTART_POLICY,
    AutoRemove=BOOL,
    VolumeDriver=STR,
    VolumesFrom=STRINGS,
    Mounts=ListOf(MOUNT),
    ConsoleSize=ListOf(INT),
    Annotations=MapOf(STR),
    CapAdd=STRINGS,
    CapDrop=STRINGS,
    CgroupnsMode=STR,
    Dns=STRINGS,
    DnsOptions=STRINGS,
    DnsSearch=STRINGS,
    ExtraHosts=STRINGS,
    GroupAdd=STRINGS,
    IpcMode=STR,
    Cgroup=STR,
    Links=STRINGS,
    OomScoreAdj=INT,
    PidMode=STR,
    Privileged=BOOL,
    PublishAllPorts=BOOL,
    ReadonlyRootfs=BOOL,
    SecurityOpt=STRINGS,
    StorageOpt=MapOf(STR),
    Tmpfs=MapOf(STR),
    UTSMode=STR,
    UsernsMode=STR,
    ShmSize=INT,
    Sysctls=MapOf(STR),
    Runtime=STR,
    Isolation=STR,
    MaskedPaths=STRINGS,
    ReadonlyPaths=STRINGS,
)
CONTAINER_UPDATE = Shape(**RESOURCES, KernelMemory=INT, RestartPolicy=RESTART_POLICY)
ENDPOINT = Shape(
    IPAMConfig=Shape(IPv4Address=IP, IPv6Address=IP, LinkLocalIPs=STRINGS),
    Links=STRINGS,
    MacAddress=STR,
    Aliases=STRINGS,
    DriverOpts=MapOf(STR),
    NetworkID=STR,
    EndpointID=STR,
    Gateway=STR,
    IPAddress=STR,
    IPPrefixLen=INT,
    IPv6Gateway=STR,
    GlobalIPv6Address=STR,
    GlobalIPv6PrefixLen=INT,
    DNSNames=STRINGS,
)
CONTAINER_CREATE = Shape(
    **CONTAINER_CONFIG,
    HostConfig=HOST_CONFIG,
    NetworkingConfig=Shape(EndpointsConfig=MapOf(ENDPOINT)),
)
EXEC_CREATE = Shape(
    AttachStdin=BOOL,
    AttachStdout=BOOL,
    AttachStderr=BOOL,
    ConsoleSize=ListOf(INT),
    DetachKeys=STR,
    Tty=BOOL,
    Env=ListOf(ENV),
    Cmd=STRINGS,
    Privileged=BOOL,
    User=STR,
    WorkingDir=STR,
)
EXEC_START = Shape(Detach=BOOL, Tty=BOOL, ConsoleSize=ListOf(INT))
NETWORK_CREATE = Shape(
    Name=STR,
    CheckDuplicate=BOOL,
    Driver=STR,
    Scope=STR,
    Internal=BOOL,
    Attachable=BOOL,
    Ingress=BOOL,
    ConfigOnly=BOOL,
    ConfigFrom=Shape(Network=STR),
    IPAM=Shape(
        Driver=STR,
        Config=ListOf(Shape(Subnet=STR, IPRange=STR, Gateway=STR, AuxiliaryAddresses=MapOf(STR))),
        Options=MapOf(STR),
    ),
    EnableIPv6=BOOL,
    Options=MapOf(STR),
    Labels=LABELS,
)
NETWORK_CONNECT = Shape(Container=STR, EndpointConfig=ENDPOINT)
NETWORK_DISCONNECT = Shape(Container=STR, Force=BOOL)
VOLUME_CREATE = Shape(Name=STR, Driver=STR, DriverOpts=MapOf(STR), Labels=LABELS, ClusterVolumeSpec=MapOf(ANY))
AUTH = Shape(username=STR, password=STR, email=STR, serveraddress=STR, identitytoken=STR, registrytoken=STR, auth=STR)
