"""Confinement from a HostConfig, without containers: Docker's capability rules, the seccomp profile as OCI gets
it, security options, and the OCI spec they make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guest.containers import caps, confinement, ocispec, seccomp
from guest.errors import InvalidInput

ALL_CAPS = list(caps.NAMES)


def refused(host_config: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as e:
        confinement.of(host_config, ALL_CAPS)
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
    default = confinement.of({}, ALL_CAPS)
    assert default.seccomp is not None and not default.no_new_privileges and "/proc/kcore" in default.masked_paths
    options = ["seccomp=unconfined", "no-new-privileges", "apparmor=unconfined", "label=disable"]
    loose = confinement.of({"SecurityOpt": options}, ALL_CAPS)
    assert loose.seccomp is None and loose.no_new_privileges
    assert confinement.of({"SecurityOpt": ["no-new-privileges=false"]}, ALL_CAPS).no_new_privileges is False
    builtin = confinement.of({"SecurityOpt": ["seccomp=builtin"]}, ALL_CAPS)
    assert builtin.seccomp == default.seccomp
    custom = confinement.of({"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_LOG"}']}, ALL_CAPS)
    assert custom.seccomp == {"defaultAction": "SCMP_ACT_LOG", "syscalls": []}
    unmasked = confinement.of({"MaskedPaths": [], "ReadonlyPaths": []}, ALL_CAPS)
    assert unmasked.masked_paths == unmasked.readonly_paths == []  # --security-opt systempaths=unconfined
    assert refused({"SecurityOpt": ["apparmor=docker-default"]}).startswith("--security-opt apparmor=docker-default")
    assert "no SELinux labels" in refused({"SecurityOpt": ["label=level:s0"]})
    assert refused({"SecurityOpt": ["seccomp"]}) == 'invalid --security-opt 1: "seccomp"'
    assert refused({"SecurityOpt": ["bogus=1"]}) == 'invalid --security-opt 2: "bogus=1"'
    assert refused({"SecurityOpt": "no-new-privileges"}) == "HostConfig.SecurityOpt must be a list of strings"


def test_privileged_lifts_every_restriction() -> None:
    privileged = confinement.of({"Privileged": True, "CapDrop": ["ALL"], "SecurityOpt": ["seccomp=builtin"]}, ALL_CAPS)
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


def test_the_spec_carries_the_confinement() -> None:
    spec = _spec(confinement.of({"SecurityOpt": ["no-new-privileges"]}, ALL_CAPS))
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["capabilities"]["bounding"] == sorted(caps.DEFAULT)
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
