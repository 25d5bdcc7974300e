"""Log drivers: json-file and local keep the container's output where logs and attach read it (conmon's log
file), none keeps nothing; other drivers, and log options this engine cannot honour, are refused.

json-file and local take dockerd's max-size, max-file and compress options, with its defaults (json-file: one
file, no cap; local: 20 MB, 5 files) and its error messages; compressing the rotated files is refused (they stay
plain, local's included)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..errors import InvalidInput, Unsupported

DRIVERS = ("json-file", "local", "none")
OPTIONS = ("max-size", "max-file", "compress")

_SIZE = re.compile(r"^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")  # go-units' FromHumanSize: decimal units
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True}
_BOOLS.update({"0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False})


class Limits(NamedTuple):
    """How the log is capped: each file up to `size` bytes, `files` files in all (the rotated ones included)."""

    size: int
    files: int


def checked(log_config: Any) -> dict[str, Any]:
    """The LogConfig to record for a create request's (json-file when none is given)."""
    log_config = log_config or {}
    driver = log_config.get("Type") or "json-file"
    if driver not in DRIVERS:
        raise InvalidInput(
            f"failed to get logging factory: logger: no log driver named '{driver}' is registered "
            f"(this engine has {', '.join(DRIVERS)})"
        )
    options = dict(log_config.get("Config") or {})
    if driver != "none":  # dockerd ignores the options of none, which logs nothing
        for key in options:
            if key not in OPTIONS:
                raise InvalidInput(
                    f"unknown log opt '{key}' for json-file log driver"
                    if driver == "json-file"
                    else f"unknown log opt '{key}' for log driver local"
                )
        _parsed(driver, options)
    return {"Type": driver, "Config": options}


def kept(host_config: dict[str, Any]) -> bool:
    """Whether the container's output is kept (readable by logs)."""
    return (host_config.get("LogConfig") or {}).get("Type") != "none"


def limits(host_config: dict[str, Any]) -> Limits | None:
    """The cap on a kept log (None: it grows without one)."""
    log_config = host_config.get("LogConfig") or {}
    driver = log_config.get("Type") or "json-file"
    if driver == "none":
        return None
    return _parsed(driver, log_config.get("Config") or {})


def _parsed(driver: str, options: dict[str, str]) -> Limits | None:
    """The options' cap, checked as dockerd checks them (its messages)."""
    if driver == "local":
        size, files, compress = 20 * 1024 * 1024, 5, None
        if "max-size" in options:
            try:
                size = _size(options["max-size"])
            except ValueError as e:
                raise InvalidInput(f"invalid value for max-size: {options['max-size']}: {e}") from None
        if "max-file" in options:
            try:
                files = _int(options["max-file"])
            except ValueError as e:
                raise InvalidInput(f"invalid value for max-file: {options['max-file']}: {e}") from None
        if "compress" in options:
            try:
                compress = _bool(options["compress"])
            except ValueError as e:
                raise InvalidInput(f"invalid boolean value for compress: {e}") from None
        if size < 0:
            raise InvalidInput("max-size must not be negative")
        if files < 0:
            raise InvalidInput("max-file must not be negative")
        if compress is not False and files <= 1:  # dockerd's local compresses unless told not to
            raise InvalidInput("compression cannot be enabled when max file count is 1")
    else:
        size, files, compress = -1, 1, False
        if "max-size" in options:
            size = _checked(_size, options["max-size"])
            if size <= 0:
                raise InvalidInput("max-size must be a positive number")
        if "max-file" in options:
            files = _checked(_int, options["max-file"])
            if files < 1:
                raise InvalidInput("max-file cannot be less than 1")
        if "compress" in options:
            compress = _checked(_bool, options["compress"])
            if compress and (files == 1 or size == -1):
                raise InvalidInput("compress cannot be true when max-file is less than 2 or max-size is not set")
    if compress:
        raise Unsupported(
            f"compress=true is not supported by this engine's {driver} log driver (rotated files stay "
            "uncompressed): use --log-opt compress=false"
        )
    return Limits(size, max(files, 1)) if size > 0 else None


def _checked(parse: Any, value: str) -> Any:
    try:
        return parse(value)
    except ValueError as e:
        raise InvalidInput(str(e)) from None


def _size(value: str) -> int:
    """A size as go-units' FromHumanSize reads it: 10k is 10000 bytes."""
    match = _SIZE.match(value)
    try:
        number = float(match.group(1)) if match else None
    except ValueError:  # 1.2.3
        number = None
    if number is None:
        raise ValueError(f"invalid size: '{value}'")
    return int(number * _UNITS[(match.group(3) or "").lower() if match else ""])


def _int(value: str) -> int:
    """An integer as Go's strconv.Atoi reads it."""
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        raise ValueError(f'strconv.Atoi: parsing "{value}": invalid syntax')
    return int(value)


def _bool(value: str) -> bool:
    """A boolean as Go's strconv.ParseBool reads it."""
    if value not in _BOOLS:
        raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')
    return _BOOLS[value]
