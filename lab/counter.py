"""A TCP forwarder on 127.0.0.1 that counts the bytes each direction carries.

Why: "a refused push sends zero layer bytes upstream" is a claim about the wire between the proxy and the
registry; counting the bytes on that wire (TLS included) proves it without trusting either end's logs.
"""

import socket
import threading

from lab.tunnel import pipe


class ByteCounter:
    """Forwards every connection on `port` to 127.0.0.1:`target`; `upstream_bytes` counts proxy→target."""

    def __init__(self, target: int):
        self.target = target
        self.upstream_bytes = 0
        self.downstream_bytes = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self._server.settimeout(0.5)
        self.port = self._server.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=30)
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(src, dst, up), daemon=True).start()

    def _pipe(self, src, dst, up: bool) -> None:
        src.settimeout(120)

        def count(n: int) -> None:
            with self._lock:
                if up:
                    self.upstream_bytes += n
                else:
                    self.downstream_bytes += n

        pipe(src, dst, count)

    def stop(self) -> None:
        self._stopping.set()
        self._server.close()
        self._thread.join(5)
