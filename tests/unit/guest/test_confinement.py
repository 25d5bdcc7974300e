"""Confinement from a HostConfig, without containers: Docker's capability rules, the seccomp profile as OCI gets
it, security options, resource limits checked against a host's facts, and the OCI spec they make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guest.containers import caps, cgroups, confinement, ocispec, resources, seccomp
from guest.errors import InvalidInput

MIB = 1 << 20
ALL_CAPS = list(caps.NAMES)
V1 = cgroups.Host(
    v2=False,
    controllers=frozenset({"memory", "cpu", "cpuacct", "cpuset", "pids"}),
    swap=True,
    cpus=frozenset({0, 1}),
    mems=frozenset({0}),
)
V2 = cgroups.Host(v2=True, controllers=V1.controllers, swap=True, cpus=frozenset({0, 1, 2, 3}), mems=frozenset({0}))
HARD = dict.fromkeys(resources.ULIMITS, resources.UNLIMITED) | {"nofile": 20000, "nproc": 4096}


def facts(host: cgroups.Host = V1, can_raise: bool = False) -> resources.Facts:
    return resources.Facts(cgroups=host, hard=HARD, can_raise=can_raise, nr_open=1 << 20, oom_score_adj=0)


def limits(host_config: dict[str, Any], host: cgroups.Host = V1, can_raise: bool = False) -> resources.Limits:
    return resources.of(host_config, facts(host, can_raise))


def refused(host_config: dict[str, Any], host: cgroups.Host = V1) -> str:
    with pytest.raises(InvalidInput) as e:
        confinement.of(host_config, ALL_CAPS, facts(host))
    return e.value.message


# -- capabilities -------------------------------------------------------------------------------


def test_capability_names_are_normalized_and_unknown_ones_refused() -> None:
    assert caps.normalize(["net_admin", "CAP_SYS_TIME", "Chown", "all"], "CapAdd") == [
        "CAP_NET_ADMIN",
        "CAP_SYS_TIME",
        "CAP_CHOWN",
        "ALL",
    ]
    with pytest.raises(InvalidInput, match='unknown capability: "bogus"'):
        caps.normalize(["bogus"], "CapAdd")


def test_cap_add_and_drop_follow_moby() -> None:
    held = [c for c in caps.NAMES if c != "CAP_SYS_RESOURCE"]
    assert caps.tweak([], [], False, held) == sorted(caps.DEFAULT)
    assert caps.tweak(["CAP_NET_RAW"], ["ALL"], False, held) == ["CAP_NET_RAW"]  # drop ALL, then add
    assert caps.tweak(["ALL"], ["CAP_CHOWN"], False, held) == [c for c in held if c != "CAP_CHOWN"]
    assert caps.tweak(["CAP_SYS_ADMIN"], ["CAP_CHOWN"], False, held) == sorted(
        set(caps.DEFAULT) - {"CAP_CHOWN"} | {"CAP_SYS_ADMIN"}
    )
    assert caps.tweak(["CAP_SYS_ADMIN"], [], True, held) == held  # privileged: all the engine holds
    with pytest.raises(InvalidInput, match="cannot add capability CAP_SYS_RESOURCE: the engine does not hold it"):
        caps.tweak(["CAP_SYS_RESOURCE"], [], False, held)


# -- seccomp ------------------------------------------------------------------------------------


def _rule_for(profile: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in profile["syscalls"] if name in r["names"]]


def test_the_default_profile_on_amd64_blocks_namespaces_without_cap_sys_admin() -> None:
    oci = seccomp.oci(seccomp.DEFAULT, caps.DEFAULT, arch="amd64", kernel=(6, 1))
    assert oci is not None
    assert (oci["defaultAction"], oci["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for blocked in ("mount", "unshare", "setns", "keyctl", "add_key", "bpf", "kexec_load", "reboot", "io_uring_setup"):
        assert not _rule_for(oci, blocked), blocked
    clone = _rule_for(oci, "clone")
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [_masked(0)]}]
    assert _rule_for(oci, "clone3") == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    assert _rule_for(oci, "arch_prctl") and _rule_for(oci, "ptrace") and _rule_for(oci, "chroot")
    assert not _rule_for(oci, "riscv_flush_icache")
    assert len(_rule_for(oci, "personality")) == 5 and len(_rule_for(oci, "socket")) == 3


def _masked(index: int) -> dict[str, Any]:
    return {"index": index, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}


def test_capability_arch_and_kernel_conditions() -> None:
    admin = seccomp.oci(seccomp.DEFAULT, [*caps.DEFAULT, "CAP_SYS_ADMIN"], arch="arm64", kernel=(4, 4))
    assert admin is not None
    assert admin["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert _rule_for(admin, "mount") and _rule_for(admin, "unshare")  # CAP_SYS_ADMIN's rule
    assert all("args" not in r for r in _rule_for(admin, "clone"))  # clone with any flags
    assert [r["action"] for r in _rule_for(admin, "clone3")] == ["SCMP_ACT_ALLOW"]  # no ENOSYS rule
    assert not _rule_for(admin, "arch_prctl") and _rule_for(admin, "cacheflush")
    assert not any(r.get("names") == ["process_vm_readv", "process_vm_writev", "ptrace"] for r in admin["syscalls"])
    s390 = seccomp.oci(seccomp.DEFAULT, caps.DEFAULT, arch="s390x", kernel=(6, 1))
    assert s390 is not None and _rule_for(s390, "clone")[0]["args"] == [_masked(1)]


def test_a_clients_profile_is_checked_and_translated() -> None:
    legacy = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "args": []}],
    }
    assert seccomp.oci(seccomp.parse(json.dumps(legacy)), []) == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }
    assert seccomp.oci(seccomp.parse("{}"), []) is None  # nothing asked: Docker runs that unconfined


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        ("not json", "decoding seccomp profile failed"),
        ("[]", "expected a JSON object"),
        ('{"defaultAction": "SCMP_ACT_MAYBE"}', "unknown defaultAction 'SCMP_ACT_MAYBE'"),
        ('{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}', "defaultAction is required"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["a"], "archMap": [{}]}', "use either"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/x"}', "need a seccomp agent"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}', "defaultErrnoRet must be a non-negative"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"]}]}', "use either 'name'"),
        ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_NOTIFY"}]}', "action"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", '
            '"args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
            "argument index of a must be 0 to 5",
        ),
    ],
)
def test_a_bad_profile_is_refused_with_the_reason(profile: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        seccomp.parse(profile)


# -- security options ---------------------------------------------------------------------------


def test_security_options() -> None:
    default = confinement.of({}, ALL_CAPS, facts())
    assert default.seccomp is not None and not default.no_new_privileges and "/proc/kcore" in default.masked_paths
    options = ["seccomp=unconfined", "no-new-privileges", "apparmor=unconfined", "label=disable"]
    loose = confinement.of({"SecurityOpt": options}, ALL_CAPS, facts())
    assert loose.seccomp is None and loose.no_new_privileges
    assert confinement.of({"SecurityOpt": ["no-new-privileges=false"]}, ALL_CAPS, facts()).no_new_privileges is False
    builtin = confinement.of({"SecurityOpt": ["seccomp=builtin"]}, ALL_CAPS, facts())
    assert builtin.seccomp == default.seccomp
    custom = confinement.of({"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_LOG"}']}, ALL_CAPS, facts())
    assert custom.seccomp == {"defaultAction": "SCMP_ACT_LOG", "syscalls": []}
    unmasked = confinement.of({"MaskedPaths": [], "ReadonlyPaths": []}, ALL_CAPS, facts())
    assert unmasked.masked_paths == unmasked.readonly_paths == []  # --security-opt systempaths=unconfined
    assert refused({"SecurityOpt": ["apparmor=docker-default"]}).startswith("--security-opt apparmor=docker-default")
    assert "no SELinux labels" in refused({"SecurityOpt": ["label=level:s0"]})
    assert refused({"SecurityOpt": ["seccomp"]}) == 'invalid --security-opt 1: "seccomp"'
    assert refused({"SecurityOpt": ["bogus=1"]}) == 'invalid --security-opt 2: "bogus=1"'
    assert refused({"SecurityOpt": "no-new-privileges"}) == "HostConfig.SecurityOpt must be a list of strings"


def test_privileged_lifts_every_restriction() -> None:
    privileged = confinement.of(
        {"Privileged": True, "CapDrop": ["ALL"], "SecurityOpt": ["seccomp=builtin"]}, ALL_CAPS, facts()
    )
    assert privileged.caps == ALL_CAPS and privileged.seccomp is None
    assert privileged.masked_paths == privileged.readonly_paths == [] and privileged.writable_cgroups
    spec = _spec(privileged)
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "seccomp" not in spec["linux"] and spec["linux"]["devices"] == privileged.devices
    sys_mounts = {m["destination"]: m["options"] for m in spec["mounts"] if m["destination"].startswith("/sys")}
    assert "ro" not in sys_mounts["/sys"] and "ro" not in sys_mounts["/sys/fs/cgroup"]


def test_host_devices_are_the_device_nodes(tmp_path: Path) -> None:
    assert confinement.host_devices(str(tmp_path)) == []  # regular files are not devices
    devices = confinement.host_devices()
    null = next(d for d in devices if d["path"] == "/dev/null")
    assert (null["type"], null["major"], null["minor"]) == ("c", 1, 3)
    assert not any(d["path"].startswith("/dev/pts/") or d["path"] == "/dev/console" for d in devices)


# -- resource limits ----------------------------------------------------------------------------


def test_no_options_give_docker_defaults() -> None:
    default = limits({"Memory": 0, "NanoCpus": 0, "PidsLimit": 0, "MemorySwappiness": -1, "Ulimits": []})
    assert default.resources == {} and default.shm_size == 64 * MIB and default.oom_score_adj == 0
    assert default.rlimits == [{"type": "RLIMIT_NOFILE", "soft": 20000, "hard": 20000}]  # host's hard limit
    assert limits({}, can_raise=True).rlimits[0]["hard"] == 20000  # never above the engine's own without asking


def test_memory_options() -> None:
    assert limits({"Memory": 32 * MIB}).resources == {"memory": {"limit": 32 * MIB, "swap": 64 * MIB}}
    no_swap = cgroups.Host(v2=False, controllers=V1.controllers, swap=False, cpus=V1.cpus, mems=V1.mems)
    assert limits({"Memory": 32 * MIB}, no_swap).resources == {"memory": {"limit": 32 * MIB}}
    assert limits({"Memory": 32 * MIB, "MemorySwap": -1}).resources["memory"]["swap"] == -1
    both = limits({"Memory": 64 * MIB, "MemorySwap": 100 * MIB, "MemoryReservation": 32 * MIB}).resources
    assert both == {"memory": {"limit": 64 * MIB, "swap": 100 * MIB, "reservation": 32 * MIB}}
    assert limits({"MemorySwappiness": 10}).resources == {"memory": {"swappiness": 10}}
    v1_oom = limits({"OomKillDisable": True})
    assert v1_oom.resources == {"memory": {"disableOOMKiller": True}} and "no memory limit" in v1_oom.warnings[0]


@pytest.mark.parametrize(
    ("host_config", "host", "reason"),
    [
        ({"Memory": 4 * MIB}, V1, "Minimum memory limit allowed is 6MB"),
        ({"MemorySwap": 64 * MIB}, V1, "You should always set the Memory limit"),
        ({"Memory": 64 * MIB, "MemorySwap": 32 * MIB}, V1, "Minimum memoryswap limit should be larger"),
        ({"Memory": 64 * MIB, "MemorySwap": -2}, V1, "invalid --memory-swap -2"),
        ({"Memory": 32 * MIB, "MemoryReservation": 64 * MIB}, V1, "can not be less than memory reservation"),
        ({"MemoryReservation": MIB}, V1, "Minimum memory reservation allowed is 6MB"),
        ({"MemorySwappiness": 101}, V1, "valid memory swappiness range is 0-100"),
        ({"MemorySwappiness": 10}, V2, "cgroup v2 has no per-container swappiness"),
        ({"OomKillDisable": True, "Memory": 32 * MIB}, V2, "cgroup v2 has no way to turn off the OOM killer"),
        ({"Memory": "32m"}, V1, "HostConfig.Memory must be an integer, not '32m'"),
        ({"NanoCpus": 3 * 10**9}, V1, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
        ({"NanoCpus": 10**6}, V1, "Range of CPUs is from 0.01"),
        ({"NanoCpus": 10**9, "CpuPeriod": 50000}, V1, "Nano CPUs and CPU Period cannot both be set"),
        ({"NanoCpus": 10**9, "CpuQuota": 50000}, V1, "Nano CPUs and CPU Quota cannot both be set"),
        ({"CpuPeriod": 999}, V1, "CPU cfs period can not be less than 1ms"),
        ({"CpuQuota": 999}, V1, "CPU cfs quota can not be less than 1ms"),
        ({"CpuShares": 1}, V1, "invalid --cpu-shares 1: the range is 2 to 262144"),
        ({"CpusetCpus": "0-2"}, V1, "Requested CPUs are not available - requested 0-2, available: 0-1"),
        ({"CpusetCpus": "1,,2"}, V1, "Invalid value 1,,2 for cpuset cpus"),
        ({"CpusetMems": "1"}, V1, "Requested memory nodes are not available - requested 1, available: 0"),
        ({"ShmSize": -1}, V1, "SHM size can not be less than 0"),
        ({"OomScoreAdj": -1001}, V1, "range for oom score adj is [-1000, 1000]"),
        ({"OomScoreAdj": -500}, V1, "below the engine's own (0) and the engine lacks CAP_SYS_RESOURCE"),
        ({"Devices": [{"PathOnHost": "/dev/fuse"}]}, V1, "--device (HostConfig.Devices) is not supported"),
        ({"KernelMemory": MIB}, V1, "--kernel-memory (HostConfig.KernelMemory) is not supported"),
    ],
)
def test_limits_that_cannot_be_honoured_are_refused(
    host_config: dict[str, Any], host: cgroups.Host, reason: str
) -> None:
    assert reason in refused(host_config, host)


def test_cpu_options() -> None:
    assert limits({"NanoCpus": 500_000_000}).resources == {"cpu": {"quota": 50000, "period": 100000}}
    assert limits({"NanoCpus": 2 * 10**9}).resources == {"cpu": {"quota": 200000, "period": 100000}}
    assert limits({"CpuQuota": 20000, "CpuPeriod": 40000}).resources == {"cpu": {"quota": 20000, "period": 40000}}
    assert limits({"CpuShares": 512, "CpusetCpus": "0-1", "CpusetMems": "0"}).resources == {
        "cpu": {"shares": 512, "cpus": "0-1", "mems": "0"}
    }
    assert limits({"PidsLimit": 20}).resources == {"pids": {"limit": 20}}
    assert limits({"PidsLimit": -1}).resources == {}


def test_a_missing_controller_is_a_refusal() -> None:
    bare = cgroups.Host(v2=True, controllers=frozenset({"memory"}), swap=False, cpus=V1.cpus, mems=V1.mems)
    with pytest.raises(InvalidInput, match="--pids-limit cannot be applied: this host's cgroups have no pids"):
        limits({"PidsLimit": 5}, bare)
    with pytest.raises(InvalidInput, match="--memory-swap cannot be applied: this host's kernel does not account"):
        limits({"Memory": 32 * MIB, "MemorySwap": 64 * MIB}, bare)


def test_ulimits_stay_within_what_the_host_allows() -> None:
    asked = {
        "Ulimits": [
            {"Name": "nofile", "Soft": 100, "Hard": 200},
            {"Name": "nproc", "Soft": 50, "Hard": 60},
            {"Name": "core", "Soft": -1, "Hard": -1},
        ]
    }
    assert limits(asked).rlimits == [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_NPROC", "soft": 50, "hard": 60},
        {"type": "RLIMIT_CORE", "soft": resources.UNLIMITED, "hard": resources.UNLIMITED},
    ]
    too_high = {"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 30000}]}
    with pytest.raises(InvalidInput, match="this host's hard limit is 20000 and the engine lacks CAP_SYS_RESOURCE"):
        limits(too_high)
    assert limits(too_high, can_raise=True).rlimits[0]["hard"] == 30000
    with pytest.raises(InvalidInput, match="the kernel allows 1048576"):
        limits({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1 << 21}]}, can_raise=True)
    with pytest.raises(InvalidInput, match="invalid ulimit type: files"):
        limits({"Ulimits": [{"Name": "files", "Soft": 1, "Hard": 1}]})
    with pytest.raises(InvalidInput, match="soft limit must be less than or equal to hard limit: 2 > 1"):
        limits({"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]})


def test_the_spec_carries_the_limits() -> None:
    conf = confinement.of(
        {
            "Memory": 32 * MIB,
            "PidsLimit": 20,
            "ShmSize": 16 * MIB,
            "OomScoreAdj": 500,
            "SecurityOpt": ["no-new-privileges"],
        },
        ALL_CAPS,
        facts(),
    )
    spec = _spec(conf)
    assert spec["linux"]["resources"]["memory"] == {"limit": 32 * MIB, "swap": 64 * MIB}
    assert spec["linux"]["resources"]["pids"] == {"limit": 20}
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["process"]["noNewPrivileges"] is True and spec["process"]["oomScoreAdj"] == 500
    assert spec["process"]["capabilities"]["bounding"] == sorted(caps.DEFAULT)
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={16 * MIB}" in shm["options"]
    assert "ro" in next(m for m in spec["mounts"] if m["destination"] == "/sys")["options"]


def _spec(conf: confinement.Confinement) -> dict[str, Any]:
    return ocispec.build(
        rootfs=Path("/r"),
        args=["true"],
        env=[],
        cwd="/",
        user=(0, 0, []),
        tty=False,
        hostname="h",
        mounts=[],
        netns=None,
        conf=conf,
    )


# -- cpu and memory-node lists ------------------------------------------------------------------


def test_cpu_lists() -> None:
    assert cgroups.parse_list("0-3,8") == {0, 1, 2, 3, 8}
    assert cgroups.parse_list("5\n") == {5}
    for bad in ("", "a", "1-", "-1", "1,,2", "0-1-2"):
        with pytest.raises(ValueError):
            cgroups.parse_list(bad)
    assert resources.format_list({0, 1, 2, 3, 8, 10, 11}) == "0-3,8,10-11"


@given(st.sets(st.integers(min_value=0, max_value=512), min_size=1))
def test_cpu_lists_round_trip(numbers: set[int]) -> None:
    assert cgroups.parse_list(resources.format_list(numbers)) == numbers
