"""(g) of scripts/bench: what the Redis binding store costs per request (ARCHITECTURE.md §12).

Two proxies on the same registry, the bench's memory-store proxy and one with `[bindings] store = "redis"`
on a real `redis-server`, get the same requests, interleaved round by round:
  - a configured registry token (the bench's usual request): never asked of Redis, so the two should
    cost the same; Redis GETs per request are counted from Redis's own INFO to show it.
  - a token no store knows: every request misses memory and asks Redis once (one round trip), then is
    decided `anonymous` and refused by the org-only policy, by both proxies alike; the difference is the
    lookup: proxy CPU per request at 32 connections, added p50/p99 at 4 paced connections, and Redis's
    own CPU per lookup.
Asserts nothing; prints figures. Redis is stopped by PID with the rest of the bench.
"""

import base64
import re
import statistics

import bench
from lab.redis_server import RedisServer

UNKNOWN_AUTH = "Basic " + base64.b64encode(b"AWS:a-token-no-store-has-seen").decode()


def redis_gets(redis) -> int:
    """GET calls Redis has served (INFO commandstats)."""
    match = re.search(r"cmdstat_get:calls=(\d+)", redis.cli("INFO", "commandstats"))
    return int(match.group(1)) if match else 0


def leg(work, proxy, port, home, redis, path, connections, seconds, auth, delay_ms=0) -> dict:
    """One wrk run through `proxy`; its CPU, the requests it audited, Redis's GETs and CPU meanwhile."""
    audit = home / "audit.jsonl"
    cpu0, lines0, gets0, rcpu0 = bench.cpu_seconds(proxy.pid), bench.lines(audit), redis_gets(redis), \
        bench.cpu_seconds(redis.proc.pid)
    out = bench.wrk(work, port, connections, seconds, path, delay_ms=delay_ms, auth=auth)
    handled = max(bench.lines(audit) - lines0, 1)
    return {"wrk": out, "cpu_us": (bench.cpu_seconds(proxy.pid) - cpu0) / handled * 1e6,
            "gets": (redis_gets(redis) - gets0) / handled,
            "redis_cpu_us": (bench.cpu_seconds(redis.proc.pid) - rcpu0) / handled * 1e6}


def measure(exe, work, reg, ca, memory_proxy, memory_sni, procs, path) -> dict:
    redis = RedisServer(work, "bench-redis")
    procs.append(redis)
    home = work / "redis-proxy"
    extra = f'\n[bindings]\nstore = "redis"\nurl = "{redis.url}"\n'
    proxy, _, sni_port = bench.start_proxy(exe, home, reg, ca, work / "proxy-ca", name="redis-proxy", extra=extra)
    procs.append(proxy)
    memory = (memory_proxy, memory_sni, work)
    shared = (proxy, sni_port, home)
    bench.wrk(work, sni_port, 32, 2, path)  # warm-up: leaves, upstream pool
    rows = {name: [] for name in ("known", "unknown", "paced")}
    for _ in range(bench.ROUNDS):
        for name, auth, conns, delay, secs in (("known", bench.AUTH, 32, 0, bench.SMALL_SECONDS),
                                               ("unknown", UNKNOWN_AUTH, 32, 0, bench.SMALL_SECONDS),
                                               ("paced", UNKNOWN_AUTH, 4, 20, bench.PACED_SECONDS)):
            pair = [leg(work, p, port, h, redis, path, conns, secs, auth, delay) for p, port, h in (memory, shared)]
            rows[name].append(pair)
    return rows


def print_table(rows: dict) -> None:
    med = statistics.median
    rps = lambda w: w["requests"] / (w["duration_us"] / 1e6)  # noqa: E731
    print("\n(g) binding store: memory vs Redis (real redis-server on loopback), same requests, interleaved:")
    print(f"| {'measure':<58} | {'memory':>10} | {'redis':>10} | {'difference':>12}")
    print(f"|{'-' * 60}|{'-' * 12}|{'-' * 12}|{'-' * 14}")
    for name, label in (("known", "configured token, 32 conns"), ("unknown", "token no store knows, 32 conns")):
        pairs = rows[name]
        m_cpu, r_cpu = med(p[0]["cpu_us"] for p in pairs), med(p[1]["cpu_us"] for p in pairs)
        m_rps, r_rps = med(rps(p[0]["wrk"]) for p in pairs), med(rps(p[1]["wrk"]) for p in pairs)
        gets = med(p[1]["gets"] for p in pairs)
        print(f"| {label + ': proxy CPU per request':<58} | {m_cpu:>7.1f} us | {r_cpu:>7.1f} us | "
              f"{r_cpu - m_cpu:>+9.1f} us")
        print(f"| {label + ': req/s':<58} | {m_rps:>10.0f} | {r_rps:>10.0f} | {r_rps / m_rps:>10.2f} x")
        print(f"| {label + ': Redis GETs per request':<58} | {0:>10} | {gets:>10.2f} |")
        if name == "unknown":
            redis_cpu = med(p[1]["redis_cpu_us"] for p in pairs)
            print(f"| {'  Redis CPU per lookup':<58} | {'-':>10} | {redis_cpu:>7.1f} us |")
    paced = rows["paced"]
    for pct in ("p50", "p99"):
        m_lat = med(p[0]["wrk"][f"{pct}_us"] for p in paced) / 1000
        r_lat = med(p[1]["wrk"][f"{pct}_us"] for p in paced) / 1000
        print(f"| {'token no store knows, 4 conns paced: ' + pct:<58} | {m_lat:>7.3f} ms | {r_lat:>7.3f} ms | "
              f"{r_lat - m_lat:>+9.3f} ms")
