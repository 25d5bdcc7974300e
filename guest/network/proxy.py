"""Published ports: a host port served by the agent and relayed to the container (like Docker's userland proxy)."""

from __future__ import annotations

import socket
import threading

from .. import relay
from ..errors import SystemFailure


def _bind(sock: socket.socket, host_ip: str, host_port: int, suffix: str = "") -> None:
    try:
        sock.bind((host_ip or "0.0.0.0", host_port))
    except OSError as e:
        sock.close()
        raise SystemFailure(
            f"driver failed programming external connectivity: Bind for "
            f"{host_ip or '0.0.0.0'}:{host_port}{suffix} failed: port is already allocated ({e.strerror})",
        ) from None


class TcpProxy:
    """Accepts on a host port and relays each connection to the container's address."""

    def __init__(self, host_ip: str, host_port: int, target: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind(self.sock, host_ip, host_port)
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        back = relay.pump_in_background(relay.receiver(upstream), client.sendall, relay.half_closer(client))
        relay.pump(relay.receiver(client), upstream.sendall, relay.half_closer(upstream))
        back.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self.sock.close()


class UdpProxy:
    """Relays datagrams between a host port and the container: one upstream socket per client address."""

    IDLE = 60.0

    def __init__(self, host_ip: str, host_port: int, target: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _bind(self.sock, host_ip, host_port, "/udp")
        self.port = self.sock.getsockname()[1]
        self.target = target
        self._upstreams: dict[tuple[str, int], socket.socket] = {}
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, client = self.sock.recvfrom(65535)
            except OSError:
                return
            upstream = self._upstreams.get(client)
            if upstream is None:
                upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                upstream.connect(self.target)
                upstream.settimeout(self.IDLE)
                self._upstreams[client] = upstream
                threading.Thread(target=self._replies, args=(client, upstream), daemon=True).start()
            try:
                upstream.send(data)
            except OSError:
                pass

    def _replies(self, client: tuple[str, int], upstream: socket.socket) -> None:
        try:
            while True:
                self.sock.sendto(upstream.recv(65535), client)
        except OSError:  # idle for a minute, or closed
            pass
        finally:
            self._upstreams.pop(client, None)
            upstream.close()

    def close(self) -> None:
        self.sock.close()
        for upstream in list(self._upstreams.values()):
            upstream.close()
