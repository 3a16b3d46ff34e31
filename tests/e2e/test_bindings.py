"""Token bindings that survive (ARCHITECTURE.md §12): a `docker login`'s token, learned from the
GetAuthorizationToken response through one proxy, is known to another proxy sharing the same Redis, and
to the same proxy after a restart on the file store. When Redis hangs or dies, requests keep flowing with
what memory knows, a token memory does not know is `anonymous` (never fail-open), the outage shows in
`/healthz` and `/metrics`, and the proxy recovers by itself when Redis is back.

Each proxy runs the org-only endpoint policy, under which `anonymous` is refused: a pull that succeeds
proves the token was recognised.
"""

import json
import os
import stat
import time
from types import SimpleNamespace

import pytest

from lab import clients
from lab.redis_server import RedisServer
from lab.standins import MOTO_LOGIN
from lab.world import DEV, ORG_POLICY, OWN_REGISTRY

from test_login_flow import login_password, registry_principals
from test_operations import wait_for


def bindings_toml(**keys) -> str:
    return "\n[bindings]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())


def store_status(proxy) -> dict:
    return proxy.healthz()["bindings"]


def push(proxy, stories, tag: str, token: str):
    """skopeo pushes the story image as the token's holder; the org-only policy refuses `anonymous`."""
    creds = SimpleNamespace(registry_user=MOTO_LOGIN[0], token=token)
    return clients.skopeo_copy(proxy, stories.image, f"docker://{OWN_REGISTRY}/app:{tag}", dst_persona=creds)


def pull(proxy, stories, tag: str, token: str):
    """skopeo pulls `app:TAG` into an OCI directory as the token's holder."""
    creds = SimpleNamespace(registry_user=MOTO_LOGIN[0], token=token)
    out = f"oci:{stories.work / f'oci-{tag}-{time.monotonic_ns()}'}:v1"
    return clients.skopeo_copy(proxy, f"docker://{OWN_REGISTRY}/app:{tag}", out, src_persona=creds)


def registry_records_since(proxy, before: int) -> set:
    """Who the registry requests after the first `before` audit lines were decided as. skopeo's first
    request to a repository carries no credentials, so a recognised push is {DEV} plus `anonymous`."""
    return {r["userIdentity"]["arn"] for r in proxy.audit_records()[before:] if r.get("service") == "ecr.dkr"}


@pytest.fixture
def redis(lab):
    server = RedisServer(lab.dir, f"redis-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield server
    finally:
        server.stop()


def replica(lab, name: str, redis) -> object:
    return lab.start_proxy(name, ecr_policy=ORG_POLICY, facts=bindings_toml(store="redis", url=redis.url))


def test_a_login_through_replica_a_is_recognised_at_replica_b(lab, stories, redis):
    a, b = replica(lab, "replica-a", redis), replica(lab, "replica-b", redis)
    wait_for(lambda: store_status(a)["reachable"] and store_status(b)["reachable"], 20, "both proxies on Redis")
    token = login_password(a)
    wait_for(redis.token_keys, 20, "A's login written to Redis")
    [key] = redis.token_keys()
    assert MOTO_LOGIN[1] not in key and redis.cli("GET", key).strip() != ""
    assert int(redis.cli("TTL", key)) > 3600, "the key expires with the token (12 hours in moto)"
    result = push(b, stories, "replica-b", token)
    assert result.returncode == 0, clients.text(result)
    pulled = pull(b, stories, "replica-b", token)
    assert pulled.returncode == 0, clients.text(pulled)
    assert registry_principals(b, "repository/app") - {"anonymous"} == {DEV.arn}
    assert store_status(b)["lookups"]["hit"] == 1, "asked once, then served from B's memory"
    # A policy reload keeps the learned token: every authorizer a reload builds shares one memory.
    b.config.write_text(b.config.read_text() + "\n# edited\n")
    b.proc.wait_log("reload applied")
    after_reload = pull(b, stories, "replica-b", token)
    assert after_reload.returncode == 0, clients.text(after_reload)
    metrics = b.metrics_text()
    assert 'vpce_proxy_binding_lookups_total{store="redis",result="hit"} 1' in metrics, metrics
    assert 'vpce_proxy_binding_store_up{store="redis"} 1' in metrics, metrics


def test_redis_hanging_then_lost_then_back_without_a_proxy_restart(lab, stories, redis):
    a, b = replica(lab, "outage-a", redis), replica(lab, "outage-b", redis)
    wait_for(lambda: store_status(a)["reachable"] and store_status(b)["reachable"], 20, "both proxies on Redis")
    token = login_password(a)
    wait_for(redis.token_keys, 20, "A's login written to Redis")

    redis.hang()
    served = push(a, stories, "outage-a", token)
    assert served.returncode == 0, clients.text(served)
    before = len(b.audit_records())
    refused = push(b, stories, "outage-b", token)
    assert refused.returncode != 0, clients.text(refused)
    assert registry_records_since(b, before) == {"anonymous"}, "an unknown token is anonymous, not let through"
    status = wait_for(lambda: (s := store_status(b)) and not s["reachable"] and s, 20, "B reporting the outage")
    assert status["lookups"]["timed_out"] >= 1, status
    # A's heartbeat notices with nothing to look up.
    wait_for(lambda: not store_status(a)["reachable"], 20, "A reporting the outage")
    assert 'vpce_proxy_binding_store_up{store="redis"} 0' in a.metrics_text()

    redis.restart()  # killed while hung, back empty on the same port
    recovered = wait_for(lambda: (s := store_status(b)) and s["reachable"] and s, 20, "B reconnected")
    assert recovered["recoveries"] >= 1 and recovered["last_error"], recovered
    wait_for(redis.token_keys, 20, "A writing what its memory holds back to the empty Redis")
    before = len(b.audit_records())
    result = push(b, stories, "outage-b-again", token)
    assert result.returncode == 0, clients.text(result)
    assert registry_records_since(b, before) - {"anonymous"} == {DEV.arn}


def test_a_restarted_proxy_on_the_file_store_keeps_the_login_but_not_an_expired_one(lab, stories):
    path = lab.dir / "file-store" / "bindings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = lambda: lab.start_proxy("file-store", ecr_policy=ORG_POLICY,  # noqa: E731
                                    facts=bindings_toml(store="file", path=str(path)))
    first = start()
    token = login_password(first)
    wait_for(lambda: path.exists() and "bindings" in path.read_text(), 20, "the bindings file written")
    first.stop()
    text = path.read_text()
    assert token not in text and stat.S_IMODE(path.stat().st_mode) == 0o600, text
    assert len(json.loads(text)["bindings"]) == 1

    restarted = start()
    assert store_status(restarted)["in_memory"] == 1
    result = push(restarted, stories, "file-restart", token)
    assert result.returncode == 0, clients.text(result)
    assert registry_principals(restarted, "repository/app") - {"anonymous"} == {DEV.arn}
    restarted.stop()

    doc = json.loads(path.read_text())
    for binding in doc["bindings"]:
        binding["expires_at"] = int(time.time()) - 1
    path.write_text(json.dumps(doc))
    expired = start()
    before = len(expired.audit_records())
    refused = push(expired, stories, "file-expired", token)
    assert refused.returncode != 0, clients.text(refused)
    assert registry_records_since(expired, before) == {"anonymous"}


def test_the_replicas_configmap_runs_with_a_shared_redis(lab, redis, tmp_path):
    """deploy/kubernetes-replicas.yaml's config is one the binary runs: pointed at a real Redis (the
    Service name swapped for loopback), it starts, hashes the ConfigMap's policies and reports the store."""
    import yaml  # installed by scripts/lint-deploy (kubernetes-validate), which scripts/test runs first

    from lab.proxy import REPO_ROOT, admin_get, start

    docs = list(yaml.safe_load_all((REPO_ROOT / "deploy" / "kubernetes-replicas.yaml").read_text()))
    data = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "vpce-proxy")["data"]
    config = data["vpce-proxy.toml"]
    assert 'store = "redis"' in config, config
    for key, value in data.items():
        (tmp_path / key).write_text(value)
    url = next(line.split('"')[1] for line in config.splitlines() if line.strip().startswith("url"))
    config = (config.replace(url, redis.url).replace("/var/lib/vpce-proxy/certs", str(tmp_path / "certs"))
              .replace('"0.0.0.0:3128"', '"127.0.0.1:0"').replace('"0.0.0.0:9090"', '"127.0.0.1:0"'))
    (tmp_path / "vpce-proxy.toml").write_text(config)
    proc, ports = start("k8s-replica", tmp_path / "vpce-proxy.toml", tmp_path / "proxy.log", ("connect", "admin"),
                        env=clients.base_env(None))
    try:
        healthz = lambda: json.loads(admin_get(ports["admin"], "/healthz"))  # noqa: E731
        health = wait_for(lambda: (h := healthz()) and h["bindings"]["reachable"] and h, 20, "Redis reachable")
        assert health["bindings"]["store"] == "redis", health
        assert set(health["policies"]) >= {"ecr.api", "ecr.dkr", "s3"}, health
    finally:
        proc.stop()
    assert proc.popen.returncode == 0, (tmp_path / "proxy.log").read_text()
