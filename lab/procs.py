"""Starting and stopping the lab's processes: loopback ports, log files, bounded waits, stop by PID.

Why: a lab that leaks a moto or dockerd process poisons the next run, and a wait without a bound hangs CI;
every process here is started in its own session and stopped by its own PID (never by name).
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path


class LabError(RuntimeError):
    """A stand-in could not be started; the message names its log file."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: "Proc", timeout: float = 30.0) -> None:
    """Waits until 127.0.0.1:port accepts a connection, or fails if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise LabError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise LabError(f"{proc.name} did not listen on {port} within {timeout}s; see {proc.log}")


class Proc:
    """One started process with its log file; `stop()` ends it and its process group by PID."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None, cwd=None):
        self.name, self.log = name, Path(log)
        self._argv, self._env, self._cwd = list(argv), env, cwd
        self._log_file = open(self.log, "wb")
        self._spawn()

    def _spawn(self) -> None:
        self.popen = subprocess.Popen(
            self._argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def wait_match(self, pattern: re.Pattern, timeout: float = 30.0) -> re.Match:
        """Waits for a log line matching `pattern` (searched per line); returns the first match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if match := pattern.search(line):
                    return match
            if self.popen.poll() is not None:
                raise LabError(f"{self.name} exited with {self.popen.returncode}; see {self.log}")
            time.sleep(0.1)
        raise LabError(f"{self.name} did not print a line matching {pattern.pattern!r} within {timeout}s; see {self.log}")

    def wait_log(self, needle: str, timeout: float = 30.0) -> str:
        """Waits for `needle` in the log; returns the first line containing it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if needle in line:
                    return line
            if self.popen.poll() is not None:
                raise LabError(f"{self.name} exited with {self.popen.returncode}; see {self.log}")
            time.sleep(0.1)
        raise LabError(f"{self.name} did not print {needle!r} within {timeout}s; see {self.log}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group led by our PID, then SIGKILL if it has not gone in `timeout`."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(5)
        self._log_file.close()

    def restart(self, down_for: float = 0.0, timeout: float = 10.0) -> None:
        """Stops the process as `stop` does, waits `down_for` seconds, then starts the same command with
        the same environment again, appending to the same log: an upstream outage that ends on the same
        port (the proxy's `[[upstream]]` routes cannot follow a new one without a restart)."""
        self.stop(timeout)
        time.sleep(down_for)
        self._log_file = open(self.log, "ab")
        self._spawn()

    def open_fds(self) -> int:
        """How many file descriptors the process holds (entries of /proc/PID/fd); 0 once it is gone."""
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0

    def rss_kb(self) -> int:
        """Resident set size from /proc/PID/status (VmRSS), in KiB; 0 once the process is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


def announced_port(proc: "Proc", pattern: re.Pattern, timeout: float = 30.0) -> int:
    """The port `proc` announces in a log line matching `pattern` (group 1), once it accepts there. Lab
    processes bind port 0 and announce what they got, so no port is guessed and then raced for."""
    port = int(proc.wait_match(pattern, timeout).group(1))
    wait_port(port, proc, timeout)
    return port


def started(check, *procs):
    """Runs the readiness `check` and returns its result; if it fails, stops `procs` before re-raising, so
    nothing leaks."""
    try:
        return check()
    except BaseException:
        for proc in procs:
            proc.stop()
        raise


def run(argv, env=None, timeout=300, input_bytes=None, cwd=None) -> subprocess.CompletedProcess:
    """Runs a client command to completion with a time bound; output captured as text."""
    return subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        input=input_bytes,
        capture_output=True,
        timeout=timeout,
    )
