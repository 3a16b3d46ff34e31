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
  (e) moderate load: 4 connections at about 200 req/s (wrk's per-connection delay), direct vs proxied:
      the p50 and p99 the proxy adds.
  (f) the first request through a freshly started proxy (CONNECT, TLS, the upstream connection, the
      answer) against the first request of a fresh direct connection, over several fresh proxies.
  (g) the binding store: the memory-store proxy against one on a real Redis, same requests, interleaved
      (scripts/bench_bindings.py).
  (h) the floor: a plain TCP relay on the same runtime (examples/tcp_relay) against the proxy, small
      requests and blobs interleaved: what moving the bytes costs here, and the proxy's own work beyond it
      (scripts/bench_floor.py).
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

# bench_bindings uses this module's helpers; run as a script, this module is `__main__`, so name it once.
sys.modules.setdefault("bench", sys.modules[__name__])
import bench_bindings  # noqa: E402  (scripts/ is on sys.path: this file's own directory)
import bench_floor  # noqa: E402

ACCOUNT = "123456789123"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
REPO_NAME = "bench/app"
TOKEN = "bench-static-registry-token"
AUTH = "Basic " + base64.b64encode(f"AWS:{TOKEN}".encode()).decode()
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
SMALL_SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
BLOB_MIB = int(os.environ.get("BENCH_BLOB_MIB", "64"))
BLOB_ROUNDS = int(os.environ.get("BENCH_BLOB_ROUNDS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PACED_SECONDS = int(os.environ.get("BENCH_PACED_SECONDS", "6"))
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
{delay}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def user_system(pid: int) -> tuple[float, float]:
    """utime and stime of the whole process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), seconds."""
    return sum(user_system(pid))


def via_connect(work: Path, connect_port: int) -> list:
    """curl's arguments for going through the proxy's CONNECT listener and trusting its CA."""
    return ["--cacert", str(work / "proxy-ca" / "ca.crt"), "-x", f"http://127.0.0.1:{connect_port}"]


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


def proxy_config(work: Path, connect: int, sni: int, reg_port: int, ca: Path, ca_dir: Path | None = None,
                 extra: str = "") -> Path:
    policy = REPO / "tests" / "e2e" / "policies" / "org-only-ecr-us-east-1.json"
    text = f"""[listen]
connect = "127.0.0.1:{connect}"
sni = "127.0.0.1:{sni}"

[endpoint]
id = "vpce-0bench00000000001"
vpc_id = "vpc-0bench00000000001"
account = "{ACCOUNT}"

[ca]
dir = "{ca_dir or work / 'proxy-ca'}"

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
""" + extra
    path = work / "vpce-proxy.toml"
    path.write_text(text)
    return path


def start_proxy(exe, home: Path, reg, ca, ca_dir: Path, name="vpce-proxy", env_extra=None, extra=""):
    """The proxy binary `exe` on bench's config in `home` (its audit file `home/audit.jsonl`, its CA in
    `ca_dir`; `extra` TOML appended), started and listening; returns (process, CONNECT port, SNI port)."""
    connect_port, sni_port = free_port(), free_port()
    home.mkdir(parents=True, exist_ok=True)
    config = proxy_config(home, connect_port, sni_port, reg.port, ca.cert_path, ca_dir=ca_dir, extra=extra)
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(env_extra or {})
    proxy = Proc(name, [str(exe), "run", "--config", str(config)], home / "proxy.log", env=env)
    started(lambda: (wait_port(connect_port, proxy), wait_port(sni_port, proxy)), proxy)
    return proxy, connect_port, sni_port


def stop_all(procs: list, work: Path, keep: bool = False) -> None:
    """Stops `procs` by PID, newest first, then removes `work` unless it is to be kept."""
    for p in reversed(procs):
        p.stop()
    if keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def wrk(work: Path, port: int, connections: int, seconds: int, path: str, delay_ms: int = 0, auth=AUTH) -> dict:
    """wrk against `port`; with `delay_ms`, each connection waits that long between requests (a paced,
    open-ended load instead of a saturating one); `auth` is the Authorization header sent."""
    threads = min(2, connections)
    script = work / f"wrk-{port}-{connections}-{delay_ms}-{hashlib.sha256(auth.encode()).hexdigest()[:8]}.lua"
    delay = f"function delay() return {delay_ms} end" if delay_ms else ""
    script.write_text(WRK_LUA.format(port=port, host=HOST, auth=auth, accept=MANIFEST_TYPE, delay=delay))
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


def paced_leg(work, reg, sni_port, path, seconds):
    """(e): 4 connections, 20 ms between a response and the next request: about 200 req/s in all."""
    direct = wrk(work, reg.port, 4, seconds, path, delay_ms=20)
    proxied = wrk(work, sni_port, 4, seconds, path, delay_ms=20)
    return direct, proxied


def first_requests(exe, work, reg, ca, path, rounds=5):
    """(f): `rounds` times, start a fresh proxy (the CA already exists, as on any restart), then time one
    request through it with curl; and one request on a fresh direct connection. Seconds, per round."""
    proxied, direct = [], []
    url = f"https://{HOST}{path}"
    for i in range(rounds):
        fresh = work / f"fresh-{i}"
        fresh.mkdir()
        proxy, connect_port, _ = start_proxy(exe, fresh, reg, ca, work / "proxy-ca", name=f"fresh-proxy-{i}")
        try:
            proxied.append(curl_total(url, via_connect(work, connect_port)))
        finally:
            proxy.stop()
        direct.append(curl_total(url, ["--cacert", str(ca.cert_path), "--resolve", f"{HOST}:443:127.0.0.1",
                                       "--connect-to", f"{HOST}:443:127.0.0.1:{reg.port}"]))
    return direct, proxied


def curl_total(url: str, extra: list) -> float:
    """Seconds from start to the whole answer of one GET (a manifest, 200 expected)."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "20",
            "-H", f"Authorization: {AUTH}", "-H", f"Accept: {MANIFEST_TYPE}", *extra, url]
    code, total = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.split()
    if code != "200":
        raise RuntimeError(f"first request answered {code}")
    return float(total)


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


def blob_cpu(pid: int, url: str, extra: list) -> tuple[float, float]:
    """4 parallel downloads of `url` with `extra`: (CPU seconds per GB of process `pid`, MB/s); every
    download must succeed."""
    cpu0 = cpu_seconds(pid)
    got, wall, failed = curl_blobs(url, extra, 4)
    if failed:
        raise RuntimeError(f"{failed} blob downloads failed")
    return (cpu_seconds(pid) - cpu0) / (got / 1e9), got / (1 << 20) / wall


def appconnect(url: str, extra: list) -> float:
    """Seconds until TLS with the (proxy's or registry's) server is complete, as curl measures it."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{time_appconnect}", "--max-time", "20",
            "-H", f"Authorization: {AUTH}", *extra, url]
    return float(subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout or "nan")


def row(name, direct, proxied, ratio, note=""):
    print(f"| {name:<46} | {direct:>12} | {proxied:>14} | {ratio:>12} | {note}")


def setup_registry(work: Path, ca: LabCA):
    """The registry with one manifest (a small config blob and one BLOB_MIB layer); returns it and the
    layer's digest."""
    cert, key = ca.leaf("registry")
    reg = Registry(work, cert, key, ca.cert_path)
    config_blob = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest = reg.push_blob(config_blob)
    blob = os.urandom(BLOB_MIB << 20)
    blob_digest = reg.push_blob(blob)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config_blob), "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(blob), "digest": blob_digest}],
    }).encode()
    reg.push_manifest("v1", manifest)
    return reg, blob_digest


def small_rounds(work, proxy, reg, sni_port, audit, path):
    """(a): ROUNDS interleaved direct/proxied wrk runs at 32 connections; per-round figures."""
    out = []
    for _ in range(ROUNDS):
        d, p, cpu, handled, s0, s1 = small_leg(work, proxy, reg, sni_port, audit, path, 32, SMALL_SECONDS)
        out.append({"direct": d, "proxied": p, "cpu": cpu, "handled": handled, "sockets": (s0, s1)})
    return out


def blob_rounds(proxy, blob_url, direct_extra, proxy_extra):
    """(b): BLOB_ROUNDS interleaved rounds of 4 parallel downloads; totals."""
    t = {"dbytes": 0, "dwall": 0.0, "pbytes": 0, "pwall": 0.0, "pcpu": 0.0, "failures": 0}
    for _ in range(BLOB_ROUNDS):
        b, w, f = curl_blobs(blob_url, direct_extra, 4)
        t["dbytes"], t["dwall"], t["failures"] = t["dbytes"] + b, t["dwall"] + w, t["failures"] + f
        c0 = cpu_seconds(proxy.pid)
        b, w, f = curl_blobs(blob_url, proxy_extra, 4)
        t["pcpu"] += cpu_seconds(proxy.pid) - c0
        t["pbytes"], t["pwall"], t["failures"] = t["pbytes"] + b, t["pwall"] + w, t["failures"] + f
    return t


def leaf_times(proxy_extra, direct_extra):
    """(d): TLS-ready time for a host never seen (leaf minted) and the same host again."""
    new_hosts, seen_hosts, direct_tls = [], [], []
    for i in range(10):
        url = f"https://{100000000000 + i}.dkr.ecr.us-east-1.amazonaws.com/v2/"
        new_hosts.append(appconnect(url, proxy_extra))
        seen_hosts.append(appconnect(url, proxy_extra))
        direct_tls.append(appconnect(f"https://{HOST}/v2/", direct_extra))
    return direct_tls, new_hosts, seen_hosts


def print_table(exe, reg, work, m):
    """Every figure of issue 14's table, as ratios to direct, then the supporting detail."""
    med = statistics.median
    rps = lambda r: r["requests"] / (r["duration_us"] / 1e6)  # noqa: E731
    small = m["small"]
    cpu_us = med(r["cpu"] / max(r["handled"], 1) * 1e6 for r in small)
    d_rps, p_rps = med(rps(r["direct"]) for r in small), med(rps(r["proxied"]) for r in small)
    b = m["blobs"]
    d_mbs, p_mbs = b["dbytes"] / (1 << 20) / b["dwall"], b["pbytes"] / (1 << 20) / b["pwall"]
    fd, fp = m["first"]
    first_added = med(p - d for p, d in zip(fp, fd)) * 1000
    paced = m["paced"]
    p50 = med(p["p50_us"] - d["p50_us"] for d, p in paced) / 1000
    p99 = med(p["p99_us"] - d["p99_us"] for d, p in paced) / 1000
    paced_rps = med(rps(p) for _, p in paced)
    print(f"\nvpce-proxy bench ({exe}); registry {reg.port}; work dir {work}")
    print(f"{ROUNDS} interleaved rounds, medians; 2 cores shared by client, proxy and registry\n")
    print(f"| {'measure':<46} | {'direct':>12} | {'vpce-proxy':>14} | {'vs direct':>12} | target")
    print(f"|{'-' * 48}|{'-' * 14}|{'-' * 16}|{'-' * 14}|-------")
    row("small GET, 32 conns: proxy CPU per request", "-", f"{cpu_us:.1f} us", "-", "<= 50 us")
    row("small GET req/s", f"{d_rps:.0f}", f"{p_rps:.0f}", f"{p_rps / d_rps:.2f} x", ">= 0.95 x")
    row(f"{BLOB_MIB} MiB blobs, 4 at once: MB/s", f"{d_mbs:.0f}", f"{p_mbs:.0f}", f"{p_mbs / d_mbs:.2f} x",
        ">= 0.75 x")
    row("blob proxy CPU per GB", "-", f"{b['pcpu'] / (b['pbytes'] / 1e9):.2f} s", "-", "<= 0.5 s")
    row("first request via a fresh proxy: ms", f"{med(fd) * 1000:.2f}", f"{med(fp) * 1000:.2f}",
        f"+{first_added:.2f} ms", "<= +1 ms")
    row("peak RSS in the run (VmHWM)", "-", f"{m['peak_rss'] / 1024:.1f} MiB", "-", "<= 24 MiB")
    row(f"4 conns paced ({paced_rps:.0f} req/s): added p50", f"{med(d['p50_us'] for d, _ in paced) / 1000:.3f} ms",
        f"{med(p['p50_us'] for _, p in paced) / 1000:.3f} ms", f"+{p50:.3f} ms", "<= +0.2 ms")
    row("4 conns paced: added p99", f"{med(d['p99_us'] for d, _ in paced) / 1000:.3f} ms",
        f"{med(p['p99_us'] for _, p in paced) / 1000:.3f} ms", f"+{p99:.3f} ms", "<= +1 ms")
    print_detail(m, small, b)
    bench_bindings.print_table(m["bindings"])
    bench_floor.print_table(m["floor"])


def print_detail(m, small, b):
    med = statistics.median
    print("\ndetail:")
    errors = sum(r["direct"]["errors"] for r in small), sum(r["proxied"]["errors"] for r in small)
    print(f"  small GET errors direct/proxied: {errors[0]}/{errors[1]} (+{m['warm']['errors']} in warm-up); "
          f"proxy handled {sum(r['handled'] for r in small)} requests (audit lines)")
    s0, s1 = small[-1]["sockets"]
    print(f"  upstream sockets established/time-wait, last round: {s0['established']}/{s0['time-wait']}"
          f" -> {s1['established']}/{s1['time-wait']} (pool reuse: open <= 64, few new time-waits)")
    d1, p1 = m["one"]
    print(f"  p50 at 1 connection: direct {d1['p50_us'] / 1000:.3f} ms, proxied {p1['p50_us'] / 1000:.3f} ms")
    print(f"  blob downloads failed: {b['failures']}")
    print(f"  idle RSS at start {m['idle_rss'] / 1024:.1f} MiB, after the run {m['idle_after'] / 1024:.1f} MiB")
    direct_tls, new_hosts, seen_hosts = m["leaves"]
    print(f"  TLS ready: direct {med(direct_tls) * 1000:.2f} ms, proxy new host {med(new_hosts) * 1000:.2f} ms,"
          f" host seen before {med(seen_hosts) * 1000:.2f} ms")
    fd, fp = m["first"]
    print("  first requests (direct / fresh proxy, ms): "
          + ", ".join(f"{d * 1000:.2f}/{p * 1000:.2f}" for d, p in zip(fd, fp)))


def measure(exe, work, procs) -> tuple:
    ca = LabCA(work / "lab-ca")
    reg, blob_digest = setup_registry(work, ca)
    procs.append(reg)
    proxy, connect_port, sni_port = start_proxy(exe, work, reg, ca, work / "proxy-ca")
    procs.append(proxy)
    audit = work / "audit.jsonl"
    time.sleep(1.0)
    m = {"idle_rss": status_kb(proxy.pid, "VmRSS")}
    path = f"/v2/{REPO_NAME}/manifests/v1"
    m["warm"] = wrk(work, sni_port, 32, 2, path)
    wrk(work, reg.port, 32, 2, path)
    m["small"] = small_rounds(work, proxy, reg, sni_port, audit, path)
    d1, p1, _, _, _, _ = small_leg(work, proxy, reg, sni_port, audit, path, 1, 3)
    m["one"] = (d1, p1)
    m["paced"] = [paced_leg(work, reg, sni_port, path, PACED_SECONDS) for _ in range(ROUNDS)]
    blob_url = f"https://{HOST}/v2/{REPO_NAME}/blobs/{blob_digest}"
    direct_extra = ["--cacert", str(ca.cert_path), "--resolve", f"{HOST}:443:127.0.0.1",
                    "--connect-to", f"{HOST}:443:127.0.0.1:{reg.port}"]
    proxy_extra = via_connect(work, connect_port)
    m["blobs"] = blob_rounds(proxy, blob_url, direct_extra, proxy_extra)
    m["leaves"] = leaf_times(proxy_extra, direct_extra)
    m["peak_rss"], m["idle_after"] = status_kb(proxy.pid, "VmHWM"), status_kb(proxy.pid, "VmRSS")
    m["first"] = first_requests(exe, work, reg, ca, path)
    m["bindings"] = bench_bindings.measure(exe, work, reg, ca, proxy, sni_port, procs, path)
    relay_exe = Path(os.environ["VPCE_RELAY_BIN"])
    m["floor"] = bench_floor.measure(relay_exe, work, reg, ca, proxy, sni_port, blob_url, proxy_extra, procs, path)
    return reg, m


def main() -> int:
    exe = Path(os.environ["VPCE_PROXY_BIN"])
    keep = "--keep" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="vpce-bench-"))
    procs = []
    try:
        reg, m = measure(exe, work, procs)
        print_table(exe, reg, work, m)
        return 0
    finally:
        stop_all(procs, work, keep)


if __name__ == "__main__":
    sys.exit(main())
