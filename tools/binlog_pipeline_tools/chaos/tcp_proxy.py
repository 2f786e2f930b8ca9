"""A loopback TCP proxy in front of a server (the target, the source or the broker) that injects
real network faults: refuse connections, cut every open one, pause all traffic both ways, or —
when the client sends a given MySQL command — cut the connection before or after forwarding it,
stall it (so the process can be killed at exactly that moment), or deliver it late after the
client has already lost the connection (a COMMIT still on its way, or in a slow fsync or semi-sync
wait, whose reply never comes back)."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

BEGIN = b"\x03BEGIN"  # COM_QUERY "BEGIN"
COMMIT = b"\x03COMMIT"


@dataclass
class Rule:
    pattern: bytes
    # "cut_before" | "cut_after" (request forwarded, reply lost) | "stall_before" | "stall_reply" |
    # "deliver_late" (the client is cut at once; the server gets the request ``delay_s`` later)
    action: str
    remaining: int = 1_000_000  # how many times it fires
    fired: int = 0
    delay_s: float = 0.0
    delivered: threading.Event = field(default_factory=threading.Event)


class TcpProxy:
    def __init__(self, upstream_port: int, listen_port: int = 0) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", listen_port))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self.refusing = False
        self.rule: Rule | None = None
        self.stalled = threading.Event()  # set while a connection is held by a stall rule
        self._release = threading.Event()
        self._flowing = threading.Event()  # cleared while every connection is paused
        self._flowing.set()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    # --- control -----------------------------------------------------------------------------
    def refuse(self) -> None:
        """New connections are closed at once and existing ones cut: the target is unreachable."""
        self.refusing = True
        self.cut_all()

    def accept(self) -> None:
        self.refusing = False

    def pause(self) -> None:
        """Hold all traffic both ways (a network stall): bytes wait in the proxy until resume()."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def set_rule(self, pattern: bytes, action: str, times: int = 1_000_000, delay_s: float = 0.0) -> Rule:
        self._release.clear()
        self.stalled.clear()
        self.rule = Rule(pattern, action, times, delay_s=delay_s)
        return self.rule

    def clear_rule(self) -> None:
        self.rule = None
        self._release.set()

    def cut_all(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def close(self) -> None:
        self._closed = True
        self._release.set()
        self._flowing.set()
        self.cut_all()
        # close() alone leaves the port listening while the accept thread is blocked in accept()
        # (Linux keeps the socket until that call returns): the next proxy on the same port, e.g.
        # the chaos run's on the broker's proxied listener, failed with "Address already in use".
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._acceptor.join(5)

    # --- plumbing ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, server]
            reply_gate, dead = threading.Event(), threading.Event()
            reply_gate.set()
            threading.Thread(
                target=self._pump_requests, args=(client, server, reply_gate, dead), daemon=True
            ).start()
            threading.Thread(
                target=self._pump_replies, args=(server, client, reply_gate, dead), daemon=True
            ).start()

    def _match(self, data: bytes) -> Rule | None:
        rule = self.rule
        if rule is None or rule.remaining <= 0 or rule.pattern not in data:
            return None
        rule.remaining -= 1
        rule.fired += 1
        return rule

    def _cut(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _pump_requests(
        self, client: socket.socket, server: socket.socket, reply_gate: threading.Event, dead: threading.Event
    ) -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                rule = self._match(data)
                if rule is None:
                    server.sendall(data)
                    continue
                if rule.action == "cut_before":
                    break
                if rule.action == "deliver_late":
                    reply_gate.clear()  # the reply goes nowhere
                    self._cut(client)
                    threading.Event().wait(rule.delay_s)
                    server.sendall(data)
                    rule.delivered.set()
                    threading.Event().wait(0.5)  # let the server act on it before the socket closes
                    break
                if rule.action == "stall_before":
                    self.stalled.set()
                    self._release.wait()
                    if _peer_closed(client):
                        break  # the client died while held: the request never reaches the server
                if rule.action in ("stall_reply", "cut_after"):
                    reply_gate.clear()  # before forwarding, so no reply slips through
                server.sendall(data)
                if rule.action == "stall_reply":
                    self.stalled.set()
                if rule.action == "cut_after":
                    # The server receives and executes it; its reply is lost with the connection.
                    threading.Event().wait(0.5)
                    break
        except OSError:
            pass
        finally:
            dead.set()
            self._cut(client, server)

    def _pump_replies(
        self, server: socket.socket, client: socket.socket, reply_gate: threading.Event, dead: threading.Event
    ) -> None:
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                while not reply_gate.is_set():
                    if dead.is_set():
                        return
                    if self._release.wait(0.05):
                        reply_gate.set()
                client.sendall(data)
        except OSError:
            pass
        finally:
            dead.set()
            self._cut(client, server)


def _peer_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
