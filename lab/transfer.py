"""Large blob transfers with curl speaking the registry API, timed, digest-checked, with RSS sampling.

Why curl and the raw API: the 1 GiB case must measure the proxy, not a client's decompression or temp files;
a monolithic upload (`POST` then `PUT ?digest=`) and a blob `GET` stream the bytes exactly once each way.
"""

import hashlib
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Transfer:
    """One timed transfer: bytes moved, seconds, and (for downloads) the digest of what arrived."""

    nbytes: int
    seconds: float
    digest: str = ""
    status: int = 0

    @property
    def mib_per_s(self) -> float:
        return self.nbytes / (1 << 20) / self.seconds if self.seconds > 0 else 0.0


def random_file(path: Path, size: int) -> str:
    """Writes `size` random bytes to `path`; returns `sha256:<hex>`."""
    digest = hashlib.sha256()
    with open(path, "wb") as out, open("/dev/urandom", "rb") as rnd:
        left = size
        while left > 0:
            chunk = rnd.read(min(left, 8 << 20))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return "sha256:" + digest.hexdigest()


class Curl:
    """curl against one registry host, either through a proxy or directly to the stand-in's port."""

    def __init__(self, host: str, persona, proxy=None, direct_port: int | None = None, direct_ca=None):
        self.persona = persona
        if proxy is not None:
            self.base = f"https://{host}"
            self.opts = ["--proxy", proxy.url, "--cacert", str(proxy.ca_cert)]
        else:
            self.base = f"https://{host}:{direct_port}"
            self.opts = ["--resolve", f"{host}:{direct_port}:127.0.0.1", "--cacert", str(direct_ca)]
        self.opts += ["-u", f"{persona.registry_user}:{persona.token}", "--noproxy", "" if proxy else "*"]

    def _run(self, args, timeout=600) -> subprocess.CompletedProcess:
        return subprocess.run(["curl", "-sS", *self.opts, *args], capture_output=True, timeout=timeout)

    def start_upload(self, repo: str) -> subprocess.CompletedProcess:
        return self._run(["-X", "POST", "-D", "-", "-o", "/dev/null", f"{self.base}/v2/{repo}/blobs/uploads/"])

    def upload(self, repo: str, path: Path, digest: str) -> Transfer:
        """Monolithic upload: POST for a session, PUT the whole blob with `?digest=`."""
        head = self.start_upload(repo)
        location = _header(head.stdout, "location")
        if head.returncode != 0 or not location:
            raise AssertionError(f"upload start failed: {head.stdout!r} {head.stderr!r}")
        url = location if location.startswith("https://") else self.base + location
        url += ("&" if "?" in url else "?") + "digest=" + digest.replace(":", "%3A")
        started = time.monotonic()
        put = self._run(
            ["-X", "PUT", "-T", str(path), "-H", "Content-Type: application/octet-stream",
             "-o", "/dev/null", "-w", "%{http_code}", url]
        )
        elapsed = time.monotonic() - started
        status = int(put.stdout.decode() or 0)
        if put.returncode != 0 or status != 201:
            raise AssertionError(f"upload PUT failed: {status} {put.stderr!r}")
        return Transfer(path.stat().st_size, elapsed, digest, status)

    def download(self, repo: str, digest: str) -> Transfer:
        """GET the blob (following redirects) and hash it as it streams in."""
        argv = ["curl", "-sS", "-f", "-L", *self.opts, f"{self.base}/v2/{repo}/blobs/{digest}"]
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        hasher, total = hashlib.sha256(), 0
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            hasher.update(chunk)
            total += len(chunk)
        proc.wait(600)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            raise AssertionError(f"download failed: {proc.stderr.read()!r}")
        return Transfer(total, elapsed, "sha256:" + hasher.hexdigest(), 200)


def _header(raw: bytes, name: str) -> str:
    for line in raw.decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; `peak_kb` is the largest seen."""

    def __init__(self, proc, interval: float = 0.2):
        self.proc, self.interval = proc, interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            self.samples.append(self.proc.rss_kb())
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    @property
    def peak_kb(self) -> int:
        return max(self.samples, default=0)
