"""Docker's confinement on real containers: the default seccomp profile, --security-opt seccomp/no-new-privileges,
--privileged, --cap-add/--cap-drop, and the security options the agent cannot honour (docker CLI, docker-py)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import docker
import pytest

from guest.containers import caps
from tests.support.agent import IMAGE, Agent

pytestmark = pytest.mark.containers

# Raw syscalls through the host's python, chrooted from a container that has the host's root mounted at /host:
# prints `name result` with -errno on failure (x86_64 numbers).
SYSCALLS = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
calls = {"keyctl": (250, 0, -3, 0), "add_key": (248, 0, 0, 0, 0, 0), "mount": (165, 0, 0, 0, 0, 0),
         "bpf": (321, 0, 0, 0), "getpid": (39,)}
for name, (number, *args) in calls.items():
    ctypes.set_errno(0)
    result = libc.syscall(number, *args)
    print(name, result if result >= 0 else -ctypes.get_errno())
"""
EPERM = -1


def _syscalls(agent: Agent, *options: str) -> dict[str, int]:
    if platform.machine() != "x86_64" or not Path("/usr/bin/python3").exists():
        pytest.skip("needs an x86_64 host with /usr/bin/python3")
    out = agent.docker(
        "run", "--rm", "-v", "/:/host:ro", *options, IMAGE, "chroot", "/host", "/usr/bin/python3", "-c", SYSCALLS
    ).stdout
    return {name: int(result) for name, result in (line.split() for line in out.splitlines())}


def _status(agent: Agent, *options: str) -> dict[str, str]:
    """/proc/self/status of a container's process, as a dict."""
    out = agent.docker("run", "--rm", *options, IMAGE, "cat", "/proc/self/status").stdout
    return {k: v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _mask(names: list[str]) -> str:
    return f"{sum(1 << caps.NAMES.index(n) for n in names):016x}"


def test_default_seccomp_profile_blocks_what_docker_blocks(agent: Agent) -> None:
    assert _status(agent)["Seccomp"] == "2"  # a filter is installed
    unshare = agent.docker("run", "--rm", IMAGE, "unshare", "-Urm", "sh", "-c", "mount -t tmpfs x /tmp", check=False)
    assert unshare.returncode != 0 and "Operation not permitted" in unshare.stderr
    confined = _syscalls(agent)
    assert confined == {"keyctl": EPERM, "add_key": EPERM, "mount": EPERM, "bpf": EPERM, "getpid": 1}
    unconfined = _syscalls(agent, "--security-opt", "seccomp=unconfined")
    assert unconfined["keyctl"] > 0 and unconfined["add_key"] != EPERM and unconfined["bpf"] != EPERM
    # capability-conditional rules: with CAP_SYS_ADMIN, mount reaches the kernel (EFAULT for its null arguments)
    assert _syscalls(agent, "--cap-add", "SYS_ADMIN")["mount"] == -14


def test_ordinary_programs_work_under_the_default_profile(agent: Agent) -> None:
    script = (
        "httpd -p 127.0.0.1:8080 -h /var/www && wget -q -O - http://127.0.0.1:8080/ && "
        "ping -c 1 -W 5 127.0.0.1 >/dev/null && echo pinged && "
        "sh -c 'echo forked' && mkdir /tmp/d && ls /tmp && date +%Y >/dev/null && echo done"
    )
    out = agent.docker("run", "--rm", IMAGE, "sh", "-c", script).stdout
    assert out == "hello from busybox httpd\npinged\nforked\nd\ndone\n"


def test_unconfined_and_custom_profiles(agent: Agent, tmp_path: Path) -> None:
    unconfined = agent.docker(
        "run", "--rm", "--security-opt", "seccomp=unconfined", IMAGE, "sh", "-c", "grep Seccomp: /proc/self/status"
    )
    assert unconfined.stdout.split() == ["Seccomp:", "0"]
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
            }
        )
    )
    custom = agent.docker(  # the CLI sends the file's content
        "run",
        "--rm",
        "--security-opt",
        f"seccomp={profile}",
        IMAGE,
        "sh",
        "-c",
        "touch /f && echo ok && mkdir /d",
        check=False,
    )
    assert custom.returncode == 1 and custom.stdout == "ok\n"
    assert "Permission denied" in custom.stderr  # errno 13, as the profile says
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_NOPE"}))
    bad = agent.docker("create", "--security-opt", f"seccomp={profile}", IMAGE, check=False)
    assert bad.returncode != 0 and "invalid seccomp profile: unknown defaultAction 'SCMP_ACT_NOPE'" in bad.stderr


def test_no_new_privileges(agent: Agent, client: docker.DockerClient) -> None:
    assert _status(agent)["NoNewPrivs"] == "0"
    assert _status(agent, "--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert _status(agent, "--security-opt", "no-new-privileges=true")["NoNewPrivs"] == "1"
    out = client.containers.run(
        IMAGE, ["grep", "NoNewPrivs", "/proc/self/status"], security_opt=["no-new-privileges"], remove=True
    )
    assert out.split() == [b"NoNewPrivs:", b"1"]


def test_privileged_gets_every_capability_device_and_path(agent: Agent) -> None:
    status = _status(agent, "--privileged")
    assert status["CapEff"] == status["CapBnd"] == _mask(caps.held())  # all the agent holds
    assert status["Seccomp"] == "0"
    script = (  # the hostname sysctl is the container's own (UTS namespace): writing it touches nothing outside
        "grep -c ' /proc/timer_list ' /proc/self/mountinfo; "
        "hostname > /proc/sys/kernel/hostname && echo sys-rw; ls /dev"
    )
    privileged = agent.docker("run", "--rm", "--privileged", IMAGE, "sh", "-c", script).stdout.split()
    assert privileged[:2] == ["0", "sys-rw"]  # /proc/timer_list not masked, /proc/sys writable
    host_devices = {p.name for p in Path("/dev").iterdir() if p.is_char_device() or p.is_block_device()}
    assert host_devices - {"console"} <= set(privileged[2:])
    default = agent.docker("run", "--rm", IMAGE, "sh", "-c", script, check=False).stdout.split()
    assert default[0] == "1" and "sys-rw" not in default and len(default) < len(privileged)


def test_cap_add_and_cap_drop_follow_docker(agent: Agent, client: docker.DockerClient) -> None:
    net_raw = _mask(["CAP_NET_RAW"])
    assert _status(agent, "--cap-drop", "ALL", "--cap-add", "NET_RAW")["CapEff"] == net_raw
    assert _status(agent, "--cap-add", "ALL", "--cap-drop", "net_raw")["CapEff"] == _mask(
        [c for c in caps.held() if c != "CAP_NET_RAW"]
    )
    assert _status(agent, "--cap-drop", "CHOWN", "--cap-add", "sys_admin")["CapEff"] == _mask(
        sorted(set(caps.DEFAULT) - {"CAP_CHOWN"} | {"CAP_SYS_ADMIN"})
    )
    bogus = agent.docker("create", "--cap-add", "BOGUS", IMAGE, check=False)
    assert bogus.returncode != 0 and 'unknown capability: "CAP_BOGUS"' in bogus.stderr
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.create(IMAGE, cap_add=["NOT_A_CAP"])
    assert refused.value.status_code == 400 and "unknown capability" in str(refused.value)
    missing = [c for c in caps.NAMES if c not in caps.held()]
    if missing:  # this host keeps CAP_SYS_RESOURCE from the agent: asking for it is refused, not a failed start
        lacking = agent.docker("create", "--cap-add", missing[0], IMAGE, check=False)
        assert lacking.returncode != 0 and f"cannot add capability {missing[0]}" in lacking.stderr


def test_exec_privileged_gets_every_capability_and_keeps_the_filter(agent: Agent) -> None:
    agent.docker("run", "-d", "--name", "execpriv", IMAGE, "sleep", "60")
    try:
        out = agent.docker("exec", "--privileged", "execpriv", "grep", "-E", "CapEff|Seccomp:", "/proc/self/status")
        fields = dict(line.split(":") for line in out.stdout.splitlines())
        assert fields["CapEff"].strip() == _mask(caps.held()) and fields["Seccomp"].strip() == "2"
    finally:
        agent.docker("rm", "-f", "execpriv")


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("apparmor=docker-default", "this engine applies no AppArmor profile"),
        ("label=user:system_u", "this engine applies no SELinux labels"),
        ("nosuch=1", 'invalid --security-opt 2: "nosuch=1"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ],
)
def test_security_options_that_cannot_be_honoured_are_refused(agent: Agent, option: str, reason: str) -> None:
    refused = agent.docker("create", "--security-opt", option, IMAGE, check=False)
    assert refused.returncode != 0 and reason in refused.stderr


def test_options_that_ask_for_no_confinement_are_accepted(agent: Agent) -> None:
    out = agent.docker(
        "run",
        "--rm",
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "label=disable",
        "--security-opt",
        "systempaths=unconfined",
        IMAGE,
        "grep",
        "-c",
        " /proc/timer_list ",
        "/proc/self/mountinfo",
        check=False,
    )
    assert out.stdout.strip() == "0"  # systempaths=unconfined: nothing masked


def test_crun_applies_the_same_confinement(crun_agent: Agent) -> None:
    assert _status(crun_agent)["Seccomp"] == "2"
    assert _syscalls(crun_agent) == {"keyctl": EPERM, "add_key": EPERM, "mount": EPERM, "bpf": EPERM, "getpid": 1}
    assert _status(crun_agent, "--security-opt", "seccomp=unconfined")["Seccomp"] == "0"
    privileged = _status(crun_agent, "--privileged")
    assert privileged["CapEff"] == _mask(caps.held()) and privileged["Seccomp"] == "0"
    assert _status(crun_agent, "--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
