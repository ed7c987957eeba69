"""A TCP proxy that drops connections: between Airflow and the local backend, it closes a seeded
fraction of client connections right after the backend answered their first request, without
passing the answer on. The request was served (a create did create the job); the client sees the
connection closed and must find out for itself."""

from __future__ import annotations

import random
import socket
import threading
from contextlib import suppress


class DroppingProxy:
    def __init__(self, upstream_port: int, drop_rate: float, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.drop_rate = drop_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.dropped = 0
        self.connections = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="dropping-proxy", daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DroppingProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        with suppress(OSError):
            self._listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                drop = self._random.random() < self.drop_rate
            threading.Thread(target=self._serve, args=(client, drop), daemon=True).start()

    def _serve(self, client: socket.socket, drop: bool) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            client.close()  # the backend is down: the client sees its connection closed
            return
        upstream.settimeout(None)

        def pump(source: socket.socket, target: socket.socket, dropping: bool) -> None:
            try:
                while data := source.recv(65536):
                    if dropping:
                        with self._lock:
                            self.dropped += 1
                        return  # the answer is lost with the connection
                    target.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (source, target):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    with suppress(OSError):
                        sock.close()

        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        pump(upstream, client, drop)
