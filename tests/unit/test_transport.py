"""The transport's pure parts on real sockets: the relay (half-closes passed through), the Engine API stream
demultiplexer, and which container ports the tunnel forwards."""

from __future__ import annotations

import socket
import threading

from machine.transport.ports import published_ports
from machine.transport.relay import between
from machine.transport.terminal import Demuxer


def test_relay_passes_data_and_half_closes_both_ways() -> None:
    client, near = socket.socketpair()
    far, server = socket.socketpair()
    relay = threading.Thread(target=between, args=(near, far))
    relay.start()
    client.sendall(b"request")
    client.shutdown(socket.SHUT_WR)  # the client is done sending: the server must see EOF
    received = b""
    while chunk := server.recv(100):
        received += chunk
    assert received == b"request"
    server.sendall(b"answer after the request ended")
    server.close()
    answer = b""
    while chunk := client.recv(100):
        answer += chunk
    assert answer == b"answer after the request ended"
    relay.join(5)
    assert not relay.is_alive() and near.fileno() == -1 and far.fileno() == -1  # both ends closed after
    client.close()


def test_demuxer_splits_frames_across_reads() -> None:
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x03out" + b"\x02\x00\x00\x00\x00\x00\x00\x04err!"
    demuxer = Demuxer()
    pieces = []
    for i in range(0, len(frames), 5):  # arbitrary read boundaries, inside headers and payloads
        pieces += demuxer.feed(frames[i : i + 5])
    assert pieces == [(1, b"out"), (2, b"err!")] and demuxer.buffer == b""


def test_published_ports_are_the_tcp_ones_with_a_host_port() -> None:
    containers = [
        {
            "Id": "a" * 64,
            "Names": ["/web"],
            "Ports": [
                {"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
                {"PrivatePort": 443, "Type": "tcp"},  # exposed, not published
                {"PrivatePort": 53, "PublicPort": 5353, "Type": "udp", "IP": "0.0.0.0"},
            ],
        },
        {
            "Id": "b" * 64,
            "Names": [],
            "Ports": [{"PrivatePort": 9, "PublicPort": 9000, "Type": "tcp", "IP": "127.0.0.2"}],
        },
    ]
    assert published_ports(containers) == {8080: ("web", "127.0.0.1"), 9000: ("b" * 12, "127.0.0.2")}
