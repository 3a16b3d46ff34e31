"""scripts/profile: where the proxy's CPU goes on bench's small load (ARCHITECTURE.md §7).

Not a test: it prints figures. The release binary serves manifest GETs from the CNCF registry through the
SNI listener under wrk (32 connections, time-bounded), and the same load is looked at four ways, each in
its own run so one tool's overhead never colours another's figure:
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

os.environ.setdefault("BENCH_BLOB_MIB", "1")
import bench  # noqa: E402  (this script's own directory is sys.path[0]; after the env default above)

SECONDS = int(os.environ.get("PROFILE_SECONDS", "6"))  # PROFILE_CPU_ONLY=1: only the first view
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"

# Component of a sampled symbol, first match wins: (name, regex on "dso symbol").
COMPONENTS = [
    ("kernel", r"\[kernel"),
    ("allocator", r"\b(malloc|free|realloc|calloc|cfree|_int_malloc|_int_free|_int_realloc|malloc_consolidate|"
                  r"tcache|arena|unlink_chunk|__libc_malloc|__libc_free|__libc_realloc|alloc::alloc)"),
    ("crypto (ring)", r"\bring::|ring_core|\bring-|aes_|gcm_|ChaCha|sha256_block|GFp|p256|ecp_nistz|bn_mul|x25519"),
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


def load(work, proxy, reg, sni_port, audit, path):
    """One wrk run at 32 connections; the number of requests the proxy handled."""
    before = bench.lines(audit)
    bench.wrk(work, sni_port, 32, SECONDS, path)
    time.sleep(0.1)
    return bench.lines(audit) - before


def cpu_split(work, proxy, reg, sni_port, audit, path):
    fields = lambda: Path(f"/proc/{proxy.pid}/stat").read_text().rsplit(")", 1)[1].split()  # noqa: E731
    f0 = fields()
    handled = load(work, proxy, reg, sni_port, audit, path)
    f1 = fields()
    user = (int(f1[11]) - int(f0[11])) / bench.TICK
    system = (int(f1[12]) - int(f0[12])) / bench.TICK
    return handled, user / handled * 1e6, system / handled * 1e6


def perf_profile(work, proxy, reg, sni_port, audit, path):
    data = work / "perf.data"
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-p", str(proxy.pid),
                            "-o", str(data), "--", "sleep", str(SECONDS + 1)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    handled = load(work, proxy, reg, sni_port, audit, path)
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


def syscalls(work, proxy, reg, sni_port, audit, path):
    out = work / "strace.txt"
    tracer = subprocess.Popen(["strace", "-c", "-f", "-q", "-o", str(out), "-p", str(proxy.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    handled = load(work, proxy, reg, sni_port, audit, path)
    tracer.terminate()
    tracer.wait(timeout=30)
    calls = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return handled, calls


def allocations(work, proxy, reg, sni_port, audit, path):
    for fn in ("malloc", "calloc", "realloc"):
        subprocess.run(["perf", "probe", "-q", "-x", LIBC, "-a", fn], capture_output=True, timeout=60)
    out = work / "allocs.txt"
    stat = subprocess.Popen(["perf", "stat", "-x", ",", "-o", str(out), "-e",
                             "probe_libc:malloc,probe_libc:calloc,probe_libc:realloc", "-p", str(proxy.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    handled = load(work, proxy, reg, sni_port, audit, path)
    stat.send_signal(2)
    stat.wait(timeout=30)
    counts = {}
    for line in out.read_text().splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].strip().isdigit():
            counts[parts[2].split(":")[-1]] = int(parts[0])
    return handled, counts


def report(cpu, prof, sys_calls, allocs):
    handled, user, system = cpu
    print(f"\nCPU per request ({handled} requests, no tool attached): user {user:.1f} us, system {system:.1f} us,"
          f" total {user + system:.1f} us")
    handled, groups, top = prof
    total = user + system
    print(f"\nperf cpu-clock samples by component ({handled} requests), share and us/request of the total:")
    for name, pct in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<42} {pct:5.1f} %  {pct / 100 * total:6.1f} us")
    print("\ntop symbols:")
    for pct, name, sym in top:
        print(f"  {pct:5.2f} %  [{name}] {sym}")
    handled, calls = sys_calls
    print(f"\nsyscalls per request (strace -c -f, {handled} requests): {sum(calls.values()) / handled:.2f}")
    for name, n in sorted(calls.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<16} {n / handled:6.2f}")
    handled, counts = allocs
    per = {k: v / handled for k, v in counts.items()}
    print(f"\nallocations per request (uprobes, {handled} requests): "
          + ", ".join(f"{k} {v:.1f}" for k, v in per.items()) + f"; total {sum(per.values()):.1f}")


def main() -> int:
    exe = Path(os.environ["VPCE_PROXY_BIN"])
    work = Path(tempfile.mkdtemp(prefix="vpce-profile-"))
    procs = []
    try:
        ca = bench.LabCA(work / "lab-ca")
        reg, _ = bench.setup_registry(work, ca)
        procs.append(reg)
        proxy, _, sni_port = bench.start_proxy(exe, work, reg, ca, work / "proxy-ca")
        procs.append(proxy)
        audit, path = work / "audit.jsonl", f"/v2/{bench.REPO_NAME}/manifests/v1"
        bench.wrk(work, sni_port, 32, 2, path)
        args = (work, proxy, reg, sni_port, audit, path)
        print(f"vpce-proxy profile ({exe}), {SECONDS} s of wrk at 32 connections per view")
        if os.environ.get("PROFILE_CPU_ONLY"):
            handled, user, system = cpu_split(*args)
            print(f"CPU per request ({handled} requests): user {user:.1f} us, system {system:.1f} us")
            return 0
        report(cpu_split(*args), perf_profile(*args), syscalls(*args), allocations(*args))
        return 0
    finally:
        bench.stop_all(procs, work)


if __name__ == "__main__":
    sys.exit(main())
