"""A real `redis-server` (Debian's package) on loopback for the shared binding store's tests.

Redis cannot bind port 0 and announce what it got, so the port comes from `free_port` (the kernel's
choice a moment earlier) and is kept across `restart`, the way a Redis Service keeps its address. No
persistence: a restarted Redis is empty, as one would be after a node loss, which is what the proxy's
write-back on reconnect must survive.
"""

import os
import signal
import subprocess
from pathlib import Path

from .procs import Proc, free_port, wait_port


class RedisServer:
    """One `redis-server` process, stopped by PID."""

    def __init__(self, workdir: Path, name: str = "redis"):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", str(self.dir)]
        self.proc = Proc(name, argv, self.dir / "redis.log")
        wait_port(self.port, self.proc)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        """`redis-cli` against this server; its stdout."""
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=10)
        return out.stdout.decode()

    def token_keys(self) -> list:
        """The proxy's binding keys (`vpce-proxy:token:<sha256 hex>`, ARCHITECTURE.md §12)."""
        return self.cli("--scan", "--pattern", "vpce-proxy:token:*").split()

    def hang(self) -> None:
        """SIGSTOP: the socket stays open and the kernel still accepts, but nothing answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Killed and started empty on the same port."""
        self.resume()
        self.proc.restart()
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        self.resume()
        self.proc.stop()
