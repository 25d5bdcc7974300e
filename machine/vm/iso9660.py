"""A minimal ISO 9660 image writer: a few small files in the root directory, as a NoCloud seed needs.

No Rock Ridge or Joliet: Linux shows plain ISO 9660 names in lower case without the ";1" version,
so "USER-DATA;1" reads as "user-data", which is what cloud-init looks for.
"""

from __future__ import annotations

import struct
from pathlib import Path

SECTOR = 2048
_ROOT_SECTOR = 20  # 0-15 system area, 16 primary descriptor, 17 terminator, 18-19 path tables


def _both16(value: int) -> bytes:
    return struct.pack("<H", value) + struct.pack(">H", value)


def _both32(value: int) -> bytes:
    return struct.pack("<I", value) + struct.pack(">I", value)


def _record(name: bytes, sector: int, size: int, directory: bool) -> bytes:
    padding = b"\0" * (1 - len(name) % 2)  # the record's length must be even
    length = 33 + len(name) + len(padding)
    return (
        bytes([length, 0])
        + _both32(sector)
        + _both32(size)
        + bytes([126, 1, 1, 0, 0, 0, 0])
        + bytes([2 if directory else 0, 0, 0])
        + _both16(1)
        + bytes([len(name)])
        + name
        + padding
    )


def _sectors(size: int) -> int:
    return max(1, -(-size // SECTOR))


def write(path: Path, volume_id: str, files: dict[str, bytes]) -> None:
    """Write an ISO image holding `files` (name -> content) in its root directory, labelled `volume_id`."""
    names = sorted(files)
    sector = _ROOT_SECTOR + 1
    records = [_record(b"\0", _ROOT_SECTOR, SECTOR, True), _record(b"\1", _ROOT_SECTOR, SECTOR, True)]
    extents = []
    for name in names:
        records.append(_record(name.upper().encode("ascii") + b";1", sector, len(files[name]), False))
        extents.append(sector)
        sector += _sectors(len(files[name]))
    root = b"".join(records)
    if len(root) > SECTOR:
        raise ValueError("too many files for a one-sector root directory")
    path_table = bytes([1, 0]) + struct.pack("<IH", _ROOT_SECTOR, 1) + b"\0\0"
    path_table_be = bytes([1, 0]) + struct.pack(">IH", _ROOT_SECTOR, 1) + b"\0\0"
    no_date = b"0" * 16 + b"\0"
    descriptor = (
        b"\1CD001\1\0"
        + b" " * 32
        + volume_id.encode("ascii").ljust(32)
        + b"\0" * 8
        + _both32(sector)
        + b"\0" * 32
        + _both16(1)
        + _both16(1)
        + _both16(SECTOR)
        + _both32(len(path_table))
        + struct.pack("<II", 18, 0)
        + struct.pack(">II", 19, 0)
        + _record(b"\0", _ROOT_SECTOR, SECTOR, True)
        + b" " * (128 * 4 + 37 * 3)
        + no_date * 4
        + b"\1\0"
    )
    terminator = b"\xffCD001\1"
    with open(path, "wb") as f:
        for block in (b"", descriptor, terminator, path_table, path_table_be, root):
            f.write(block.ljust(SECTOR if block else 16 * SECTOR, b"\0"))
        for name in names:
            f.write(files[name].ljust(_sectors(len(files[name])) * SECTOR, b"\0"))
