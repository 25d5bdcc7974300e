"""Seccomp: a profile in Docker's format (the default, or one given with `--security-opt seccomp=FILE`) turned
into the OCI `linux.seccomp` section for this host, as moby's profiles/seccomp does it.

Docker's format adds to OCI's: `archMap` (the architectures to list for each native one) and, per rule,
`includes`/`excludes` conditions on the architecture, the container's capabilities and the kernel version.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Collection
from typing import Any

from ..errors import InvalidInput
from . import seccomp_default

DEFAULT = seccomp_default.PROFILE  # Docker's default profile

ACTIONS = {
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
}
OPERATORS = {
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}

# uname's machine => the architecture name Docker's profiles use (libseccomp's); the others are the same
_NATIVE = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "i386": "x86",
    "i686": "x86",
    "armv7l": "arm",
    "armv6l": "arm",
}
# that name => its seccomp architecture, where it is not SCMP_ARCH_ and the name in capitals
_SECCOMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}


def native_arch() -> str:
    """This host's architecture as Docker's profiles name it (amd64, arm64, ppc64le, s390x, riscv64...)."""
    return _NATIVE.get(platform.machine(), platform.machine())


def kernel_version(release: str = "") -> tuple[int, int]:
    """(major, minor) of a kernel release such as `6.1.0-13-amd64`."""
    found = re.match(r"(\d+)\.(\d+)", release or platform.release())
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def parse(text: str) -> dict[str, Any]:
    """A profile given by a client (the docker CLI sends the file's content), checked so that it cannot fail later."""
    try:
        profile = json.loads(text)
    except ValueError as e:
        raise InvalidInput(f"decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidInput("decoding seccomp profile failed: expected a JSON object")
    _check(profile)
    return profile


def _fail(why: str) -> InvalidInput:
    return InvalidInput(f"invalid seccomp profile: {why}")


def _check(profile: dict[str, Any]) -> None:
    if profile.get("syscalls") and not profile.get("defaultAction"):
        raise _fail("defaultAction is required")
    if profile.get("defaultAction") not in ACTIONS | {None}:
        raise _fail(f"unknown defaultAction {profile['defaultAction']!r}")
    errno = profile.get("defaultErrnoRet", 0)
    if not isinstance(errno, int) or isinstance(errno, bool) or errno < 0:
        raise _fail("defaultErrnoRet must be a non-negative integer")
    if profile.get("architectures") and profile.get("archMap"):
        raise _fail("both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'")
    if profile.get("listenerPath"):
        raise _fail("SCMP_ACT_NOTIFY and listenerPath need a seccomp agent, which this engine does not run")
    for flag in _strings(profile.get("flags"), "flags"):
        if flag not in FLAGS:
            raise _fail(f"unknown flag {flag!r}")
    _strings(profile.get("architectures"), "architectures")
    if not isinstance(profile.get("archMap") or [], list):
        raise _fail("archMap must be a list")
    for entry in profile.get("archMap") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _fail("each archMap entry needs an architecture")
        _strings(entry.get("subArchitectures"), "subArchitectures")
    if not isinstance(profile.get("syscalls") or [], list):
        raise _fail("syscalls must be a list")
    for rule in profile.get("syscalls") or []:
        _check_rule(rule)


def _check_rule(rule: object) -> None:
    if not isinstance(rule, dict):
        raise _fail("each syscalls entry must be an object")
    if rule.get("name") and rule.get("names"):
        raise _fail("both 'name' and 'names' are specified, use either 'name' or 'names'")
    names = [rule["name"]] if rule.get("name") else _strings(rule.get("names"), "names")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise _fail("each syscalls entry needs the names of its syscalls")
    if rule.get("action") not in ACTIONS:
        raise _fail(f"unknown action {rule.get('action')!r} for {names[0]}")
    errno = rule.get("errnoRet", 0)
    if not isinstance(errno, int) or isinstance(errno, bool) or errno < 0:
        raise _fail(f"errnoRet of {names[0]} must be a non-negative integer")
    args = rule.get("args") or []
    if not isinstance(args, list):
        raise _fail(f"args of {names[0]} must be a list")
    for arg in args:
        if not isinstance(arg, dict) or arg.get("op") not in OPERATORS:
            raise _fail(f"each argument of {names[0]} needs a known op")
        if not isinstance(arg.get("index"), int) or not 0 <= arg["index"] <= 5:
            raise _fail(f"argument index of {names[0]} must be 0 to 5")
        for key in ("value", "valueTwo"):
            if not isinstance(arg.get(key, 0), int) or not 0 <= arg.get(key, 0) < 2**64:
                raise _fail(f"argument {key} of {names[0]} must be an unsigned 64-bit integer")
    for key in ("includes", "excludes"):
        condition = rule.get(key) or {}
        if not isinstance(condition, dict):
            raise _fail(f"{key} of {names[0]} must be an object")
        _strings(condition.get("arches"), "arches")
        _strings(condition.get("caps"), "caps")
        if condition.get("minKernel") and not re.fullmatch(r"\d+\.\d+", str(condition["minKernel"])):
            raise _fail(f"minKernel of {names[0]} must look like 4.8")


def _strings(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"{field} must be a list of strings")
    return value


def oci(
    profile: dict[str, Any], caps: Collection[str], arch: str = "", kernel: tuple[int, int] | None = None
) -> dict[str, Any] | None:
    """The OCI `linux.seccomp` of `profile` for a container holding `caps`, on this host (or `arch`/`kernel`).

    None when the profile has neither a default action nor rules (Docker runs that unconfined)."""
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    arch = arch or native_arch()
    kernel = kernel or kernel_version()
    result: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    for key in ("defaultErrnoRet", "flags"):
        if profile.get(key) is not None:
            result[key] = profile[key]
    architectures = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == _SECCOMP_ARCH.get(arch, f"SCMP_ARCH_{arch.upper()}"):
            architectures += [entry["architecture"], *(entry.get("subArchitectures") or [])]
            break
    if architectures:
        result["architectures"] = architectures
    result["syscalls"] = [_oci_rule(r) for r in profile.get("syscalls") or [] if _applies(r, caps, arch, kernel)]
    return result


def _applies(rule: dict[str, Any], caps: Collection[str], arch: str, kernel: tuple[int, int]) -> bool:
    """Whether a rule's `includes` all hold and none of its `excludes` does."""
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    if arch in (excludes.get("arches") or []) or any(c in caps for c in excludes.get("caps") or []):
        return False
    if excludes.get("minKernel") and kernel >= kernel_version(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not all(c in caps for c in includes.get("caps") or []):
        return False
    return not (includes.get("minKernel") and kernel < kernel_version(includes["minKernel"]))


def _oci_rule(rule: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"names": [rule["name"]] if rule.get("name") else list(rule["names"])}
    result["action"] = rule["action"]
    if rule.get("errnoRet") is not None:
        result["errnoRet"] = rule["errnoRet"]
    if rule.get("args"):
        result["args"] = [
            {"index": a["index"], "value": a.get("value", 0), "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
            for a in rule["args"]
        ]
    return result
