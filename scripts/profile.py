"""scripts/profile: where the proxy's CPU goes on bench's small load (ARCHITECTURE.md §7).

Not a test: it prints figures. The release binary serves manifest GETs from the CNCF registry through the
SNI listener under wrk (32 connections, time-bounded), and the same load is looked at four ways, each in
its own run so one tool's overhead never colours another's figure. With `--blobs` the load is bench's
layer leg instead (4 parallel curl downloads of a 64 MiB blob through the CONNECT listener, repeated for
the same time) and every figure is per GB of layer rather than per request:
  cpu:     user and system CPU per request, from /proc/PID/stat (no tool attached);
  perf:    a cpu-clock sample profile (perf record -e cpu-clock), grouped by component: rustls and ring per
           leg together, hyper, tokio, the kernel, the allocator, audit, metrics, tracing, the decision;
  syscalls per request, by name (strace -c -f);
  allocations per request: malloc, calloc and realloc calls counted by uprobes (perf probe on libc).
Requests are counted by the proxy's own audit lines. Every process is stopped by PID.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BLOBS = "--blobs" in sys.argv
os.environ.setdefault("BENCH_BLOB_MIB", "64" if BLOBS else "1")
import bench  # noqa: E402  (this script's own directory is sys.path[0]; after the env default above)

SECONDS = int(os.environ.get("PROFILE_SECONDS", "6"))  # PROFILE_CPU_ONLY=1: only the first view
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"

# Component of a sampled symbol, first match wins: (name, regex on "dso symbol").
COMPONENTS = [
    ("kernel", r"\[kernel"),
    ("allocator", r"\b(malloc|free|realloc|calloc|cfree|mi_|_mi_|mi_malloc|_int_malloc|_int_free|_int_realloc|malloc_consolidate|"
                  r"tcache|arena|unlink_chunk|__libc_malloc|__libc_free|__libc_realloc|alloc::alloc)"),
    ("crypto (ring or aws-lc)", r"\bring::|ring_core|\bring-|aws_lc|aes_|gcm_|ChaCha|sha256_block|GFp|p256|"
                               r"ecp_nistz|bn_mul|x25519"),
    ("rustls", r"rustls"),
    ("audit", r"vpce_proxy::audit"),
    ("metrics", r"vpce_proxy::admin::metrics"),
    ("decision (policy, classify, authorize)", r"vpce_proxy::(policy|classify|authorize|bindings|directory)"),
    ("tracing", r"tracing"),
    ("proxy (vpce_proxy other)", r"vpce_proxy"),
    ("hyper, h2, http", r"hyper|\bh2::|\bhttp::|httparse"),
    ("tokio", r"tokio|mio::"),
    ("libc other (memcpy, syscall stubs)", r"libc|ld-linux|memcpy|memmove|memset"),
    ("other", r""),
]


class Small:
    """wrk at 32 connections for SECONDS; counts the requests the proxy handled (its audit lines)."""
    unit = "request"

    def __init__(self, work, sni_port, audit, path):
        self.work, self.sni_port, self.audit, self.path = work, sni_port, audit, path

    def __call__(self):
        before = bench.lines(self.audit)
        bench.wrk(self.work, self.sni_port, 32, SECONDS, self.path)
        time.sleep(0.1)
        return bench.lines(self.audit) - before


class Blobs:
    """Rounds of 4 parallel downloads of the layer through the CONNECT listener for about SECONDS;
    counts GB (10^9 bytes) delivered."""
    unit = "GB"

    def __init__(self, url, extra):
        self.url, self.extra = url, extra

    def __call__(self):
        total, start = 0, time.monotonic()
        while time.monotonic() - start < SECONDS:
            got, _, failed = bench.curl_blobs(self.url, self.extra, 4)
            if failed:
                raise RuntimeError(f"{failed} blob downloads failed")
            total += got
        return total / 1e9


def cpu_split(work, proxy, load):
    (u0, s0) = bench.user_system(proxy.pid)
    handled = load()
    (u1, s1) = bench.user_system(proxy.pid)
    return handled, (u1 - u0) / handled * 1e6, (s1 - s0) / handled * 1e6


def perf_profile(work, proxy, load):
    data = work / "perf.data"
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-p", str(proxy.pid),
                            "-o", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    handled = load()
    rec.send_signal(2)
    rec.wait(timeout=60)
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "dso,sym", "--percent-limit",
                             "0", "-q"], capture_output=True, text=True, timeout=300).stdout
    groups, top = defaultdict(float), []
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        key = f"{dso} {sym}"
        name = next(n for n, rx in COMPONENTS if re.search(rx, key))
        groups[name] += pct
        top.append((pct, name, sym[:110]))
    return handled, groups, sorted(top, reverse=True)[:25]


def syscalls(work, proxy, load):
    out = work / "strace.txt"
    tracer = subprocess.Popen(["strace", "-c", "-f", "-q", "-o", str(out), "-p", str(proxy.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    handled = load()
    tracer.terminate()
    tracer.wait(timeout=30)
    calls = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return handled, calls


def allocations(work, proxy, load):
    for fn in ("malloc", "calloc", "realloc"):
        subprocess.run(["perf", "probe", "-q", "-x", LIBC, "-a", fn], capture_output=True, timeout=60)
    out = work / "allocs.txt"
    stat = subprocess.Popen(["perf", "stat", "-x", ",", "-o", str(out), "-e",
                             "probe_libc:malloc,probe_libc:calloc,probe_libc:realloc", "-p", str(proxy.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    handled = load()
    stat.send_signal(2)
    stat.wait(timeout=30)
    counts = {}
    for line in out.read_text().splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].strip().isdigit():
            counts[parts[2].split(":")[-1]] = int(parts[0])
    return handled, counts


def in_units(unit, us):
    """A per-unit figure from cpu_split (microseconds) as the report shows it: us per request, s per GB."""
    return (us, "us") if unit == "request" else (us / 1e6, "s")


def report(unit, cpu, prof, sys_calls, allocs):
    handled, user, system = cpu
    (user, mark), (system, _) = in_units(unit, user), in_units(unit, system)
    print(f"\nCPU per {unit} ({handled:.6g} {unit}s, no tool attached): user {user:.3g} {mark}, system {system:.3g}"
          f" {mark}, total {user + system:.3g} {mark}")
    handled, groups, top = prof
    total = user + system
    print(f"\nperf cpu-clock samples by component ({handled:.6g} {unit}s), share and {mark}/{unit} of the total:")
    for name, pct in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<42} {pct:5.1f} %  {pct / 100 * total:7.3g} {mark}")
    print("\ntop symbols:")
    for pct, name, sym in top:
        print(f"  {pct:5.2f} %  [{name}] {sym}")
    handled, calls = sys_calls
    print(f"\nsyscalls per {unit} (strace -c -f, {handled:.6g} {unit}s): {sum(calls.values()) / handled:.2f}")
    for name, n in sorted(calls.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<16} {n / handled:8.2f}")
    handled, counts = allocs
    each = {k: v / handled for k, v in counts.items()}
    print(f"\nallocations per {unit} (uprobes, {handled:.6g} {unit}s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in each.items()) + f"; total {sum(each.values()):.1f}")


def main() -> int:
    exe = Path(os.environ["VPCE_PROXY_BIN"])
    work = Path(tempfile.mkdtemp(prefix="vpce-profile-"))
    procs = []
    try:
        ca = bench.LabCA(work / "lab-ca")
        reg, blob_digest = bench.setup_registry(work, ca)
        procs.append(reg)
        proxy, connect_port, sni_port = bench.start_proxy(exe, work, reg, ca, work / "proxy-ca")
        procs.append(proxy)
        audit, path = work / "audit.jsonl", f"/v2/{bench.REPO_NAME}/manifests/v1"
        bench.wrk(work, sni_port, 32, 2, path)
        load = Small(work, sni_port, audit, path)
        if BLOBS:
            url = f"https://{bench.HOST}/v2/{bench.REPO_NAME}/blobs/{blob_digest}"
            load = Blobs(url, bench.via_connect(work, connect_port))
        what = "4 parallel blob downloads" if BLOBS else "wrk at 32 connections"
        print(f"vpce-proxy profile ({exe}), {SECONDS} s of {what} per view")
        if os.environ.get("PROFILE_CPU_ONLY"):
            handled, user, system = cpu_split(work, proxy, load)
            (user, mark), (system, _) = in_units(load.unit, user), in_units(load.unit, system)
            print(f"CPU per {load.unit} ({handled:.6g}): user {user:.3g} {mark}, system {system:.3g} {mark}")
            return 0
        views = (cpu_split, perf_profile, syscalls, allocations)
        report(load.unit, *(view(work, proxy, load) for view in views))
        return 0
    finally:
        bench.stop_all(procs, work)


if __name__ == "__main__":
    sys.exit(main())
