"""The embedded DNS server's wire format: questions read, answers and NXDOMAIN built from them."""

from __future__ import annotations

import socket
import struct

import pytest

from guest.network import dns


def query(name: str, qtype: int = 1, ident: int = 0x1234) -> bytes:
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".") if part)
    return header + labels + b"\x00" + struct.pack(">HH", qtype, 1)


def test_question_reads_the_name_lowercased_and_the_type() -> None:
    packet = query("Web.AppNet.", 28)
    assert dns.question(packet) == ("web.appnet", 28, len(packet))


def test_answer_carries_one_a_record_for_the_question() -> None:
    packet = query("db")
    reply = dns.answer(packet, "10.89.1.7")
    ident, flags, questions, answers, _, _ = struct.unpack(">HHHHHH", reply[:12])
    assert (ident, flags, questions, answers) == (0x1234, 0x8180, 1, 1)
    assert reply[12 : len(packet)] == packet[12:]  # the question, echoed
    pointer, rtype, rclass, ttl, length = struct.unpack(">HHHIH", reply[len(packet) : len(packet) + 12])
    assert (pointer, rtype, rclass, ttl, length) == (0xC00C, 1, 1, 60, 4)
    assert socket.inet_ntoa(reply[-4:]) == "10.89.1.7"


def test_not_found_is_nxdomain_without_answers() -> None:
    packet = query("nowhere.example", ident=7)
    reply = dns.not_found(packet)
    assert struct.unpack(">HHHHHH", reply[:12]) == (7, 0x8183, 1, 0, 0, 0)
    assert reply[12:] == packet[12:]


@pytest.mark.parametrize("packet", [query("x")[:14], b"\x00" * 12 + b"\xc0\x0c\x00\x01\x00\x01"])
def test_truncated_or_compressed_questions_are_refused(packet: bytes) -> None:
    with pytest.raises((ValueError, IndexError, struct.error)):
        dns.question(packet)
