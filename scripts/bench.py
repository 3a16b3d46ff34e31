"""scripts/bench: the proxy against the real CNCF registry, proxied vs direct, in one run (ARCHITECTURE.md §7).

Not a test: it prints figures, it asserts nothing. Every process it starts is stopped by PID, every loop is
bounded in count and time, and all traffic stays on 127.0.0.1.

Legs:
  (a) manifest GET, keep-alive, 32 connections (wrk, time-bounded) direct vs through the SNI listener:
      proxy CPU per request from /proc/PID/stat, p50 latency, errors; also 1 connection for unloaded p50.
  (b) 64 MiB blob, 4 downloads at a time (curl) direct vs through the CONNECT listener: throughput ratio
      and proxy CPU seconds per GB.
  (c) idle RSS (VmRSS after start) and peak RSS (VmHWM at the end).
  (d) first CONNECT to a new host (leaf minted) vs a host seen before (leaf cached): TLS-ready time.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab.ca import LabCA  # noqa: E402
from lab.procs import Proc, free_port, started, wait_port  # noqa: E402

ACCOUNT = "123456789123"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
REPO_NAME = "bench/app"
TOKEN = "bench-static-registry-token"
AUTH = "Basic " + base64.b64encode(f"AWS:{TOKEN}".encode()).decode()
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
SMALL_SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
BLOB_MIB = int(os.environ.get("BENCH_BLOB_MIB", "64"))
BLOB_ROUNDS = int(os.environ.get("BENCH_BLOB_ROUNDS", "2"))
TICK = os.sysconf("SC_CLK_TCK")

REGISTRY_YAML = """version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  tls:
    certificate: {cert}
    key: {key}
"""

# wrk: resolve every host to 127.0.0.1:PORT (wrk takes the TLS server name from the URL host, so the URL
# names the AWS host and the SNI listener sees it), print one JSON line at the end. wrk runs for a fixed
# time (it cannot stop after a count), so the count is bounded by time and the proxy's own audit lines
# give the exact number of requests it handled.
WRK_LUA = """
local port = "{port}"
wrk.resolve = function(host, service) wrk.addrs = wrk.lookup("127.0.0.1", port) end
wrk.headers["Host"] = "{host}"
wrk.headers["Authorization"] = "{auth}"
wrk.headers["Accept"] = "{accept}"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def upstream_sockets(port: int) -> dict:
    """Client-side sockets to the registry port by state: connections open now (the proxy's pool once
    wrk's direct connections are gone) and connections recently closed (TIME-WAIT, either side)."""
    out = {}
    for state, match in (("established", f"( dport = :{port} )"), ("time-wait", f"( dport = :{port} or sport = :{port} )")):
        text = subprocess.run(
            ["ss", "-Htn", "state", state, match],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        out[state] = len([ln for ln in text.splitlines() if ln.strip()])
    return out


class Registry:
    """`docker-registry serve` over TLS with filesystem storage (no auth: the bench measures the proxy,
    and bcrypt per request would make the stand-in the whole story)."""

    def __init__(self, work: Path, cert: Path, key: Path, ca: Path):
        self.port = free_port()
        self.ca = ca
        cfg = work / "registry.yml"
        cfg.write_text(REGISTRY_YAML.format(root=work / "registry-data", port=self.port, cert=cert, key=key))
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        self.proc = Proc("registry", ["docker-registry", "serve", str(cfg)], work / "registry.log", env=env)
        started(lambda: wait_port(self.port, self.proc), self.proc)

    def _conn(self):
        ctx = ssl.create_default_context(cafile=str(self.ca))
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=120)

    def push_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        c = self._conn()
        c.request("POST", f"/v2/{REPO_NAME}/blobs/uploads/")
        r = c.getresponse()
        r.read()
        if r.status != 202:
            raise RuntimeError(f"upload start: {r.status}")
        location = r.getheader("Location")
        location = re.sub(r"^https?://[^/]+", "", location)
        sep = "&" if "?" in location else "?"
        c.request("PUT", f"{location}{sep}digest={digest}", body=data,
                  headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            raise RuntimeError(f"upload finish: {r.status}")
        return digest

    def push_manifest(self, tag: str, body: bytes) -> None:
        c = self._conn()
        c.request("PUT", f"/v2/{REPO_NAME}/manifests/{tag}", body=body, headers={"Content-Type": MANIFEST_TYPE})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            raise RuntimeError(f"manifest push: {r.status}")

    def stop(self):
        self.proc.stop()


def proxy_config(work: Path, connect: int, sni: int, reg_port: int, ca: Path) -> Path:
    policy = REPO / "tests" / "e2e" / "policies" / "org-only-ecr-us-east-1.json"
    text = f"""[listen]
connect = "127.0.0.1:{connect}"
sni = "127.0.0.1:{sni}"

[endpoint]
id = "vpce-0bench00000000001"
vpc_id = "vpc-0bench00000000001"
account = "{ACCOUNT}"

[ca]
dir = "{work / 'proxy-ca'}"

[policies]
"ecr.dkr" = "{policy}"

[[principal]]
arn = "arn:aws:sts::{ACCOUNT}:assumed-role/bench/session"
account = "{ACCOUNT}"
org_id = "o-21ej9awi6a"
registry_tokens = ["{TOKEN}"]

[[upstream]]
host = "*.dkr.ecr.us-east-1.amazonaws.com"
address = "127.0.0.1:{reg_port}"

[upstream_tls]
extra_ca = "{ca}"

[audit]
enabled = true
path = "{work / 'audit.jsonl'}"
"""
    path = work / "vpce-proxy.toml"
    path.write_text(text)
    return path


def wrk(work: Path, port: int, connections: int, seconds: int, path: str) -> dict:
    threads = min(2, connections)
    script = work / f"wrk-{port}-{connections}.lua"
    script.write_text(WRK_LUA.format(port=port, host=HOST, auth=AUTH, accept=MANIFEST_TYPE))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
            "-s", str(script), f"https://{HOST}:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"wrk printed no summary: {out}")


def small_leg(work, proxy, reg, sni_port, audit, path, connections, seconds):
    """One direct and one proxied wrk run; proxy CPU per request counted from the audit lines."""
    direct = wrk(work, reg.port, connections, seconds, path)
    before_cpu, before_lines = cpu_seconds(proxy.pid), lines(audit)
    before_sock = upstream_sockets(reg.port)
    proxied = wrk(work, sni_port, connections, seconds, path)
    cpu = cpu_seconds(proxy.pid) - before_cpu
    handled = lines(audit) - before_lines
    after_sock = upstream_sockets(reg.port)
    return direct, proxied, cpu, handled, before_sock, after_sock


def curl_blobs(url: str, extra: list, parallel: int) -> tuple[int, float, int]:
    """`parallel` concurrent downloads; returns (bytes, wall seconds, failures)."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n", "--max-time", "120",
            "-H", f"Authorization: {AUTH}", *extra, url]
    start = time.monotonic()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(parallel)]
    total, failed = 0, 0
    for p in procs:
        out, _ = p.communicate(timeout=180)
        code, size = (out.split() + ["0", "0"])[:2]
        total += int(size)
        failed += code != "200"
    return total, time.monotonic() - start, failed


def appconnect(url: str, extra: list) -> float:
    """Seconds until TLS with the (proxy's or registry's) server is complete, as curl measures it."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_appconnect}", "--max-time", "20",
            "-H", f"Authorization: {AUTH}", *extra, url]
    return float(subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout or "nan")


def row(name, direct, proxied, ratio, note=""):
    print(f"| {name:<44} | {direct:>14} | {proxied:>14} | {ratio:>10} | {note}")


def main() -> int:
    exe = Path(os.environ["VPCE_PROXY_BIN"])
    keep = "--keep" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="vpce-bench-"))
    procs = []
    try:
        ca = LabCA(work / "lab-ca")
        cert, key = ca.leaf("registry")
        reg = Registry(work, cert, key, ca.cert_path)
        procs.append(reg)
        config_digest = reg.push_blob(json.dumps({"architecture": "amd64", "os": "linux"}).encode())
        blob = os.urandom(BLOB_MIB << 20)
        blob_digest = reg.push_blob(blob)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(json.dumps({"architecture": "amd64", "os": "linux"})), "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(blob), "digest": blob_digest}],
        }).encode()
        del blob
        reg.push_manifest("v1", manifest)

        connect_port, sni_port = free_port(), free_port()
        config = proxy_config(work, connect_port, sni_port, reg.port, ca.cert_path)
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        proxy = Proc("vpce-proxy", [str(exe), "run", "--config", str(config)], work / "proxy.log", env=env)
        procs.append(proxy)
        started(lambda: (wait_port(connect_port, proxy), wait_port(sni_port, proxy)), proxy)
        audit = work / "audit.jsonl"
        time.sleep(1.0)
        idle_rss = status_kb(proxy.pid, "VmRSS")

        manifest_path = f"/v2/{REPO_NAME}/manifests/v1"
        warm = wrk(work, sni_port, 32, 2, manifest_path)
        wrk(work, reg.port, 32, 2, manifest_path)
        d32, p32, cpu32, handled32, sock0, sock1 = small_leg(
            work, proxy, reg, sni_port, audit, manifest_path, 32, SMALL_SECONDS)
        d1, p1, _, _, _, _ = small_leg(work, proxy, reg, sni_port, audit, manifest_path, 1, 3)

        blob_url = f"https://{HOST}/v2/{REPO_NAME}/blobs/{blob_digest}"
        direct_extra = ["--cacert", str(ca.cert_path), "--resolve", f"{HOST}:443:127.0.0.1",
                        "--connect-to", f"{HOST}:443:127.0.0.1:{reg.port}"]
        proxy_extra = ["--cacert", str(work / "proxy-ca" / "ca.crt"), "-x", f"http://127.0.0.1:{connect_port}"]
        dbytes = dwall = pbytes = pwall = 0.0
        pcpu = 0.0
        failures = 0
        for _ in range(BLOB_ROUNDS):
            b, w, f = curl_blobs(blob_url, direct_extra, 4)
            dbytes, dwall, failures = dbytes + b, dwall + w, failures + f
            c0 = cpu_seconds(proxy.pid)
            b, w, f = curl_blobs(blob_url, proxy_extra, 4)
            pcpu += cpu_seconds(proxy.pid) - c0
            pbytes, pwall, failures = pbytes + b, pwall + w, failures + f

        new_hosts, seen_hosts, direct_tls = [], [], []
        for i in range(10):
            url = f"https://{100000000000 + i}.dkr.ecr.us-east-1.amazonaws.com/v2/"
            new_hosts.append(appconnect(url, proxy_extra))
            seen_hosts.append(appconnect(url, proxy_extra))
            direct_tls.append(appconnect(f"https://{HOST}/v2/", direct_extra))
        peak_rss = status_kb(proxy.pid, "VmHWM")
        idle_after = status_kb(proxy.pid, "VmRSS")

        mb = 1 << 20
        print(f"\nvpce-proxy bench ({exe}); registry {reg.port}; work dir {work}")
        print(f"| {'measure':<44} | {'direct':>14} | {'proxy':>14} | {'ratio':>10} |")
        print(f"|{'-' * 46}|{'-' * 16}|{'-' * 16}|{'-' * 12}|")
        rps = lambda r: r["requests"] / (r["duration_us"] / 1e6)  # noqa: E731
        row("(a) manifest GET x32 conns: requests", d32["requests"], p32["requests"], "",
            f"proxy handled {handled32} (audit lines)")
        row("(a) req/s", f"{rps(d32):.0f}", f"{rps(p32):.0f}", f"{rps(p32) / rps(d32):.2f}")
        row("(a) p50 latency ms (32 conns)", f"{d32['p50_us'] / 1000:.2f}", f"{p32['p50_us'] / 1000:.2f}",
            f"+{(p32['p50_us'] - d32['p50_us']) / 1000:.2f} ms")
        row("(a) p50 latency ms (1 conn)", f"{d1['p50_us'] / 1000:.3f}", f"{p1['p50_us'] / 1000:.3f}",
            f"+{(p1['p50_us'] - d1['p50_us']) / 1000:.3f} ms")
        row("(a) errors", d32["errors"] + d1["errors"], p32["errors"] + p1["errors"] + warm["errors"], "")
        row("(a) proxy CPU us/request (target <= 50)", "", f"{cpu32 / max(handled32, 1) * 1e6:.1f}", "")
        row("(a) upstream sockets est/time-wait before/after", "",
            f"{sock0['established']}/{sock0['time-wait']}->{sock1['established']}/{sock1['time-wait']}", "",
            "pool reuse: open <= 64 (pool size), few new time-waits")
        row(f"(b) blob {BLOB_MIB} MiB x4 x{BLOB_ROUNDS}: MB/s", f"{dbytes / mb / dwall:.0f}",
            f"{pbytes / mb / pwall:.0f}", f"{(pbytes / pwall) / (dbytes / dwall):.2f}", "target ratio >= 0.50")
        row("(b) proxy CPU s/GB (target <= 1)", "", f"{pcpu / (pbytes / 1e9):.2f}", "")
        row("(b) failed downloads", failures, "", "")
        row("(c) idle RSS MB (start / after run)", "", f"{idle_rss / 1024:.1f} / {idle_after / 1024:.1f}", "",
            "target < 30")
        row("(c) peak RSS MB (VmHWM)", "", f"{peak_rss / 1024:.1f}", "")
        med = statistics.median
        row("(d) TLS ready ms: new host (leaf minted)", f"{med(direct_tls) * 1000:.2f}",
            f"{med(new_hosts) * 1000:.2f}", "", "direct = TLS to the registry")
        row("(d) TLS ready ms: host seen before", "", f"{med(seen_hosts) * 1000:.2f}",
            f"+{(med(new_hosts) - med(seen_hosts)) * 1000:.2f} ms", "first CONNECT adds (target <= 2)")
        return 0
    finally:
        for p in reversed(procs):
            p.stop()
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
