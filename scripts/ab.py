"""scripts/ab: CPU per request of two or more proxy builds, side by side in one run (ARCHITECTURE.md §7).

Not a test: it prints figures. One registry; one proxy per variant (`NAME=BINARY[:WORKERS]`, WORKERS
sets TOKIO_WORKER_THREADS); 3 interleaved rounds, each variant in turn, of wrk at 32 connections
(saturating) and at 4 connections paced to about 200 req/s, then 4 parallel downloads of a 64 MiB layer
through the CONNECT listener. Per variant: proxy CPU per request (from /proc/PID/stat over its audit
lines) for both small loads, context switches per request at 32 connections (perf stat -e
context-switches), and proxy CPU per GB of layer with its throughput. Interleaving is what makes two builds comparable on a shared machine,
where one build's figures move by 15 % from run to run. Every process is stopped by PID.

    python3 scripts/ab.py base=/tmp/old/vpce-proxy new=target/release/vpce-proxy
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BENCH_BLOB_MIB", "64")
import bench  # noqa: E402  (this script's own directory is sys.path[0]; after the env default above)

ROUNDS, SECONDS = 3, 6
PATH = f"/v2/{bench.REPO_NAME}/manifests/v1"


def start(work, reg, ca, name, exe, workers):
    home = work / name
    home.mkdir()
    env = {"TOKIO_WORKER_THREADS": workers}
    proxy, connect_port, sni_port = bench.start_proxy(exe, home, reg, ca, work / "proxy-ca", name=name,
                                                      env_extra=env)
    return proxy, sni_port, home / "audit.jsonl", connect_port


def blob_leg(work, proxy, connect_port, url):
    """4 parallel downloads through the CONNECT listener: (proxy CPU s per GB, MB/s)."""
    return bench.blob_cpu(proxy.pid, url, bench.via_connect(work, connect_port))


def one_leg(work, proxy, port, audit, connections, delay_ms, count_switches):
    cpu0, lines0 = bench.cpu_seconds(proxy.pid), bench.lines(audit)
    out = work / "switches.txt"
    stat = None
    if count_switches:
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "context-switches", "-p", str(proxy.pid),
                                 "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench.wrk(work, port, connections, SECONDS, PATH, delay_ms=delay_ms)
    time.sleep(0.1)
    handled = max(bench.lines(audit) - lines0, 1)
    cpu_us = (bench.cpu_seconds(proxy.pid) - cpu0) / handled * 1e6
    switches = None
    if stat:
        stat.send_signal(2)
        stat.wait(timeout=30)
        for line in out.read_text().splitlines():
            if "context-switches" in line and line.split(",")[0].isdigit():
                switches = int(line.split(",")[0]) / handled
    return cpu_us, switches


def main() -> int:
    variants = [arg.split("=", 1) for arg in sys.argv[1:]]
    if not variants or any(len(v) != 2 for v in variants):
        print(__doc__)
        return 2
    work = Path(tempfile.mkdtemp(prefix="vpce-ab-"))
    procs, proxies = [], {}
    try:
        ca = bench.LabCA(work / "lab-ca")
        reg, digest = bench.setup_registry(work, ca)
        url = f"https://{bench.HOST}/v2/{bench.REPO_NAME}/blobs/{digest}"
        procs.append(reg)
        for name, spec_ in variants:
            exe, _, workers = spec_.partition(":")
            proxies[name] = start(work, reg, ca, name, exe, workers or str(os.cpu_count() or 2))
            procs.append(proxies[name][0])
        for proxy, port, _, _ in proxies.values():
            bench.wrk(work, port, 32, 2, PATH)
        results = {name: {"sat": [], "paced": [], "switches": [], "gb": [], "mbs": []} for name in proxies}
        for _ in range(ROUNDS):
            for name, (proxy, port, audit, connect_port) in proxies.items():
                cpu, switches = one_leg(work, proxy, port, audit, 32, 0, True)
                results[name]["sat"].append(cpu)
                results[name]["switches"].append(switches or 0.0)
                results[name]["paced"].append(one_leg(work, proxy, port, audit, 4, 20, False)[0])
                per_gb, mbs = blob_leg(work, proxy, connect_port, url)
                results[name]["gb"].append(per_gb)
                results[name]["mbs"].append(mbs)
        med = statistics.median
        print(f"{ROUNDS} interleaved rounds of {SECONDS} s; medians (each round in brackets)")
        for name, r in results.items():
            print(f"{name:>12}: 32 conns {med(r['sat']):6.1f} us/request {[round(x) for x in r['sat']]}; "
                  f"paced {med(r['paced']):6.1f} us/request {[round(x) for x in r['paced']]}; "
                  f"context switches {med(r['switches']):.2f}/request; "
                  f"layers {med(r['gb']):.2f} s/GB {[round(x, 2) for x in r['gb']]} at {med(r['mbs']):.0f} MB/s")
        return 0
    finally:
        bench.stop_all(procs, work)


if __name__ == "__main__":
    sys.exit(main())
