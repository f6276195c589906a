"""A network namespace of the test's own, bridged to chosen loopback ports of this machine.

of-watchdog always binds its metrics server to port 8081 on every interface. Run inside
a namespace of our own (`unshare --net`, with only its `lo` up), "every interface" is that
namespace's loopback, so nothing listens beyond this machine, and the watchdog's fixed
ports (8080, 8081, upstream 5000) collide with nothing. The bridges are sockets this
test process holds in both namespaces: one made in the namespace (after setns(2), in a
short-lived thread of its own) and one on the machine's loopback, relayed byte for byte.

    with NetworkNamespace() as ns:
        ns.reach(9000)               # 127.0.0.1:9000 inside -> 127.0.0.1:9000 outside (MinIO)
        port = ns.expose(8080)       # 127.0.0.1:<port> outside -> 127.0.0.1:8080 inside
        ns.popen(["of-watchdog"], env=...)
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetworkNamespace:
    def __enter__(self) -> NetworkNamespace:
        # the holder keeps the namespace alive for the block; `lo` up is its only interface
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"],
            stdout=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "up":
            self.holder.kill()
            raise RuntimeError("could not create a network namespace (unshare --net needs root)")
        self.path = f"/proc/{self.holder.pid}/ns/net"
        self.fd = os.open(self.path, os.O_RDONLY)
        self.listeners: list[socket.socket] = []
        return self

    def __exit__(self, *exc) -> None:
        for listener in self.listeners:
            _close_listener(listener)
        self.holder.kill()
        self.holder.wait(10)
        os.close(self.fd)

    def socket(self) -> socket.socket:
        """A TCP socket that lives in the namespace (a socket keeps the namespace it was made in)."""
        made: list[socket.socket | OSError] = []

        def make() -> None:
            if _libc.setns(self.fd, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                made.append(OSError(errno, f"setns: {os.strerror(errno)}"))
                return
            made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))

        thread = threading.Thread(target=make)  # only this thread enters the namespace, then ends
        thread.start()
        thread.join()
        if isinstance(made[0], OSError):
            raise made[0]
        return made[0]

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a process inside the namespace (nsenter execs it: the pid is the program's)."""
        return subprocess.Popen(["nsenter", f"--net={self.path}", "--", *argv], **kwargs)

    def connect(self, port: int, timeout: float = 2) -> socket.socket:
        sock = self.socket()
        sock.settimeout(timeout)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)
        return sock

    def wait_for_port(self, port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
        """Until something in the namespace accepts connections on 127.0.0.1:`port`."""
        deadline = time.monotonic() + timeout
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the process exited ({process.returncode}) before port {port} opened")
            try:
                self.connect(port, timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nothing listened on port {port} in the namespace within {timeout} s") from None
                time.sleep(0.1)

    def expose(self, inner_port: int) -> int:
        """A free loopback port of this machine relayed to 127.0.0.1:`inner_port` in the namespace."""
        listener = socket.create_server(("127.0.0.1", 0))
        self._relay(listener, lambda: self.connect(inner_port))
        return listener.getsockname()[1]

    def reach(self, port: int) -> None:
        """127.0.0.1:`port` in the namespace relayed to the same loopback port of this machine."""
        listener = self.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self._relay(listener, lambda: socket.create_connection(("127.0.0.1", port), timeout=5))

    def _relay(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
        self.listeners.append(listener)

        def accept_loop() -> None:
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:  # the listener was shut down
                    return
                threading.Thread(target=_join, args=(client, connect), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()


def _close_listener(listener: socket.socket) -> None:
    try:
        listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
    except OSError:
        pass
    listener.close()


def _join(client: socket.socket, connect: Callable[[], socket.socket]) -> None:
    """Relay one connection both ways until each side has finished sending; then close both."""
    try:
        upstream = connect()
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:  # one side reset: end the other direction too
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
