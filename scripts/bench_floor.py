"""(h) of scripts/bench: the floor under the proxy's figures (ARCHITECTURE.md §7).

`examples/tcp_relay` is a plain TCP relay on the same tokio runtime as the proxy (a worker per core,
epoll, 64 KiB copies, TCP_NODELAY) that does none of the proxy's own work: no TLS on either side (the
client's TLS passes through to the registry), no HTTP, no decision, no audit line. The same loads go
through it and through the proxy, interleaved round by round:
  - wrk at 32 connections, keep-alive, the manifest GET: CPU per request (the relay's by wrk's count, the
    proxy's by its audit lines);
  - 4 parallel downloads of the blob: CPU per GB (the proxy through its CONNECT listener, as in (b));
  - 4 connections paced as in (e), direct, through the relay and through the proxy: the p50 and p99 each
    adds over direct (a second process in the path costs its wake-ups even when it does no work).
What the relay costs is what moving the same bytes through a second process costs on this machine, most
of it in the kernel; what the proxy costs beyond it is its own work. Asserts nothing; prints figures.
"""

import re
import statistics
from pathlib import Path

import bench
from lab.procs import Proc


def start_relay(relay_exe: Path, work: Path, reg) -> tuple[Proc, int]:
    relay = Proc("tcp-relay", [str(relay_exe), f"127.0.0.1:{reg.port}"], work / "tcp-relay.log")
    port = int(relay.wait_match(re.compile(r"listening on 127\.0\.0\.1:(\d+)")).group(1))
    return relay, port


def small_pair(work, relay, relay_port, proxy, sni_port, path) -> tuple[tuple, tuple]:
    """One wrk run through the relay, one through the proxy: ((user, system) us per request) for each."""
    before = bench.user_system(relay.pid)
    out = bench.wrk(work, relay_port, 32, bench.SMALL_SECONDS, path)
    relay_us = per_request(before, bench.user_system(relay.pid), out["requests"])
    audit = work / "audit.jsonl"
    before, lines0 = bench.user_system(proxy.pid), bench.lines(audit)
    bench.wrk(work, sni_port, 32, bench.SMALL_SECONDS, path)
    return relay_us, per_request(before, bench.user_system(proxy.pid), bench.lines(audit) - lines0)


def per_request(before, after, requests) -> tuple[float, float]:
    return tuple((b - a) / max(requests, 1) * 1e6 for a, b in zip(before, after))


def paced_triple(work, reg, relay_port, sni_port, path) -> tuple[dict, dict, dict]:
    """(e)'s paced load direct, through the relay and through the proxy: the three wrk summaries."""
    return tuple(bench.wrk(work, port, 4, bench.PACED_SECONDS, path, delay_ms=20)
                 for port in (reg.port, relay_port, sni_port))


def blob_pair(relay, relay_extra, proxy, proxy_extra, url) -> tuple[float, float]:
    """4 parallel downloads through each: (relay, proxy) CPU seconds per GB."""
    return bench.blob_cpu(relay.pid, url, relay_extra)[0], bench.blob_cpu(proxy.pid, url, proxy_extra)[0]


def measure(relay_exe, work, reg, ca, proxy, sni_port, blob_url, proxy_extra, procs, path) -> dict:
    relay, relay_port = start_relay(relay_exe, work, reg)
    procs.append(relay)
    relay_extra = ["--cacert", str(ca.cert_path), "--resolve", f"{bench.HOST}:443:127.0.0.1",
                   "--connect-to", f"{bench.HOST}:443:127.0.0.1:{relay_port}"]
    bench.wrk(work, relay_port, 32, 2, path)  # warm-up, as the proxy had
    rows = {"small": [], "blobs": [], "paced": []}
    for _ in range(bench.ROUNDS):
        rows["small"].append(small_pair(work, relay, relay_port, proxy, sni_port, path))
        rows["paced"].append(paced_triple(work, reg, relay_port, sni_port, path))
        rows["blobs"].append(blob_pair(relay, relay_extra, proxy, proxy_extra, blob_url))
    return rows


def print_table(rows: dict) -> None:
    med = statistics.median
    print("\n(h) the floor: a plain TCP relay on the same runtime (examples/tcp_relay: no TLS, HTTP, decision or"
          " audit), same loads, interleaved:")
    print(f"| {'measure':<46} | {'relay':>10} | {'vpce-proxy':>10} | {'proxy own work':>14} | rounds (relay/proxy)")
    print(f"|{'-' * 48}|{'-' * 12}|{'-' * 12}|{'-' * 16}|---------")
    small = rows["small"]  # (user, system) per request, relay and proxy, per round
    table = {"small": [(sum(r), sum(p)) for r, p in small], "system": [(r[1], p[1]) for r, p in small],
             "blobs": rows["blobs"]}
    for name, label, unit, fmt in (("small", "small GET, 32 conns: CPU per request", "us", "{:.1f}"),
                                   ("system", "  of which system (kernel) time", "us", "{:.1f}"),
                                   ("blobs", f"{bench.BLOB_MIB} MiB blobs, 4 at once: CPU per GB", "s", "{:.2f}")):
        pairs = table[name]
        relay, proxy = med(r for r, _ in pairs), med(p for _, p in pairs)
        own = med(p - r for r, p in pairs)
        rounds = ", ".join(f"{fmt.format(r)}/{fmt.format(p)}" for r, p in pairs)
        print(f"| {label:<46} | {fmt.format(relay) + ' ' + unit:>10} | {fmt.format(proxy) + ' ' + unit:>10} | "
              f"{fmt.format(own) + ' ' + unit:>14} | {rounds}")
    for pct in ("p50", "p99"):
        added = [(r[f"{pct}_us"] - d[f"{pct}_us"], p[f"{pct}_us"] - d[f"{pct}_us"]) for d, r, p in rows["paced"]]
        relay, proxy = med(a for a, _ in added) / 1000, med(b for _, b in added) / 1000
        rounds = ", ".join(f"{a / 1000:+.3f}/{b / 1000:+.3f}" for a, b in added)
        print(f"| {'4 conns paced: ' + pct + ' added over direct':<46} | {relay:>+7.3f} ms | {proxy:>+7.3f} ms | "
              f"{proxy - relay:>+11.3f} ms | {rounds}")
