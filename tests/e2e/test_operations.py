"""Operating the proxy (issue 5) end to end: the release binary, real clients (curl, aws CLI, skopeo,
dockerd), real stand-ins, and the operator's tools (SIGHUP, SIGTERM, `/healthz`, `/metrics`, the audit file).

Each test names the issue-5 item it proves. Servers bind 127.0.0.1 and are stopped by PID; every client loop
is bounded in count and time.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab import clients
from lab.ops_proxy import OpsProxy, write_atomically
from lab.proxy import binary, start
from lab.transfer import Curl, random_file
from lab.world import DEV, ORG, ORG_POLICY, OWN_REGISTRY, PERSONAS

DELETE_DENIED = (
    f"User: {DEV.arn} is not authorized to perform: ecr:DeleteRepository on resource: "
    "arn:aws:ecr:us-east-1:123456789123:repository/base-image3 with an explicit deny in a VPC endpoint policy"
)
#: CloudTrail-like keys every audit line carries (src/audit.rs).
AUDIT_KEYS = {"eventTime", "requestID", "sourceIPAddress", "userIdentity", "eventSource", "eventName",
              "resources", "decision", "deniedBy", "statementSid", "upstreamStatus", "bytesIn", "bytesOut",
              "durationMs"}
#: One request line of the registry's combined-format access log.
ACCESS_LINE = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3}) ')


def allow_all(sid: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}, indent=2)


def ops_proxy(lab, name, policies, registry=None, **kwargs) -> OpsProxy:
    """An operator-configured proxy with the story principals, stopped at lab close."""
    principals = [p.principal() for p in PERSONAS]
    return lab._own(OpsProxy(lab.dir, name, policies, principals, lab.routes(registry), lab.ca.cert_path,
                             **kwargs))


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s")


def sha256_file(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audit_records(lines) -> list:
    """Every audit line parsed; a line that is not one JSON object fails the test."""
    records = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        records.append(record)
    return records


def curl(proxy_url, ca, *args, timeout=60) -> subprocess.CompletedProcess:
    env = clients.base_env(None)
    return subprocess.run(["curl", "-sS", "--proxy", proxy_url, "--cacert", str(ca), *args],
                          env=env, capture_output=True, timeout=timeout)


def metric_samples(text: str) -> dict:
    """{(name, sorted labels): value} from the Prometheus reference parser."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


# -- 1. hot reload under a running pull loop ---------------------------------------------------------------

def test_reload_under_a_running_pull_loop_loses_no_request(lab, tmp_path):
    """Issue 5 item 1: the endpoint policy is rewritten 5 times (file watch and SIGHUP) while 200 manifest
    GETs run through the proxy; all 200 succeed, /healthz counts 5 reloads and shows the last file's hash."""
    start = tmp_path / "allow.json"
    start.write_text(allow_all("Start"))
    proxy = ops_proxy(lab, "proxy-ops-reload", {"ecr.api": start, "ecr.dkr": start})
    image = clients.oci_image(tmp_path / "oci", "v1", payload=b"reload loop " * 100)
    pushed = clients.skopeo_copy(proxy, image, f"docker://{OWN_REGISTRY}/ops/reload:v1", dst_persona=DEV)
    assert pushed.returncode == 0, clients.text(pushed)
    before = proxy.healthz()
    policy = proxy.policy_path("ecr.dkr")
    assert before["policies"]["ecr.dkr"]["sha256"] == sha256_file(policy)

    url = f"https://{OWN_REGISTRY}/v2/ops/reload/manifests/v1"
    per_process, processes = 10, 20
    codes, finished = [], threading.Event()

    def pull_loop():
        try:
            for n in range(processes):  # each process: a new CONNECT, then 10 keep-alive GETs
                if n:
                    time.sleep(0.15)  # spreads the 200 GETs over the reloads even on a fast machine
                args = ["-u", f"{DEV.registry_user}:{DEV.token}", "-H",
                        "Accept: application/vnd.oci.image.manifest.v1+json", "-w", "%{http_code}\n"]
                for _ in range(per_process):
                    args += ["-o", "/dev/null", url]
                result = curl(proxy.url, proxy.ca_cert, *args)
                got = result.stdout.decode().split()
                codes.extend(got + ["curl-exit-%d" % result.returncode] * (result.returncode != 0))
        finally:
            finished.set()

    loop = threading.Thread(target=pull_loop)
    loop_started = time.monotonic()
    loop.start()
    hashes = []
    try:
        for i in range(5):
            time.sleep(0.3)
            write_atomically(policy, allow_all(f"Variant{i}"))
            if i % 2:
                os.kill(proxy.proc.pid, signal.SIGHUP)
            expected = sha256_file(policy)
            wait_for(lambda: proxy.healthz()["policies"]["ecr.dkr"]["sha256"] == expected, 5, f"reload {i}")
            hashes.append(expected)
        reloads_done_while_looping = not finished.is_set()
        reloads_took = time.monotonic() - loop_started
    finally:
        loop.join(120)
    loop_took = time.monotonic() - loop_started
    after = proxy.healthz()
    print(f"\n[reload] {len(codes)} requests in {loop_took:.1f}s; {after['reloads'] - before['reloads']} reloads"
          f" applied in the first {reloads_took:.1f}s")
    assert reloads_done_while_looping, "the loop ended before the reloads; make it longer"
    assert codes == ["200"] * (per_process * processes), codes
    assert after["reloads"] - before["reloads"] == 5 and after["failed_reloads"] == before["failed_reloads"]
    assert len(set(hashes)) == 5 and after["policies"]["ecr.dkr"]["sha256"] == hashes[-1]
    assert after["last_reload_error"] is None
    # The operator's log says so, in plain text (it goes to journald or `kubectl logs`, not a terminal).
    log = proxy.log_text()
    assert log.count("reload applied") == 5 and "\x1b[" not in log, log[-2000:]
    # Every request is in the audit log as allowed, whichever policy decided it.
    gets = [r for r in audit_records(proxy.audit_lines()) if r.get("action") == "ecr:BatchGetImage"]
    assert len(gets) >= per_process * processes and all(r["decision"] == "Allow" for r in gets)
    assert {r["statementSid"] for r in gets} >= {"Start", "Variant4"}


def test_a_pull_in_flight_finishes_under_the_policy_it_started_with(lab, tmp_path):
    """Issue 5 item 1 (atomic apply): a blob GET is streaming when the policy is replaced by one that
    denies the repository; that GET completes intact, the next GET is refused by the new policy."""
    registry = lab.fs_registry()
    blob = tmp_path / "inflight.bin"
    digest = random_file(blob, 6 << 20)
    Curl(OWN_REGISTRY, DEV, direct_port=registry.port, direct_ca=lab.ca.cert_path).upload("ops/inflight", blob, digest)
    start = tmp_path / "allow.json"
    start.write_text(allow_all("Before"))
    proxy = ops_proxy(lab, "proxy-ops-inflight", {"ecr.dkr": start}, registry=registry)
    via = Curl(OWN_REGISTRY, DEV, proxy=proxy)
    blob_url = f"{via.base}/v2/ops/inflight/blobs/{digest}"
    pull = subprocess.Popen(["curl", "-sS", "-f", "--limit-rate", "2M", *via.opts, blob_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clients.base_env(None))
    try:
        wait_for(lambda: proxy.healthz()["active_connections"] == 1, 10, "the pull to start")
        deny = json.loads(allow_all("After"))
        deny["Statement"].append({"Sid": "NoInflightRepo", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
                                  "Resource": "arn:aws:ecr:us-east-1:123456789123:repository/ops/inflight"})
        write_atomically(proxy.policy_path("ecr.dkr"), json.dumps(deny))
        os.kill(proxy.proc.pid, signal.SIGHUP)
        wait_for(lambda: proxy.healthz()["reloads"] == 1, 5, "the reload")
        assert pull.poll() is None, "the pull ended before the reload; it proves nothing"
        later = curl(proxy.url, proxy.ca_cert, "-u", f"{DEV.registry_user}:{DEV.token}", "-o", "/dev/null",
                     "-w", "%{http_code}", blob_url)
        out, err = pull.communicate(timeout=30)
    finally:
        if pull.poll() is None:
            pull.kill()
    assert pull.returncode == 0, err
    assert "sha256:" + hashlib.sha256(out).hexdigest() == digest
    assert later.stdout.decode() == "403", clients.text(later)
    sids = [(r["statementSid"], r["decision"]) for r in audit_records(proxy.audit_lines())
            if r.get("action") == "ecr:GetDownloadUrlForLayer"]
    # Lines are written when a response ends, so the refused GET is logged before the pull that began first.
    assert sorted(sids) == [("Before", "Allow"), ("NoInflightRepo", "ExplicitDeny")], sids


# -- 2. a bad policy on reload is refused, the old one keeps deciding -------------------------------------

def test_bad_policy_on_reload_is_refused_and_the_old_one_keeps_deciding(lab):
    """Issue 5 item 1: a syntax error and a lint error (`"Action": ""`) are each refused with validate's
    FILE:LINE:COL message in /healthz; the org-only policy still denies DeleteRepository on base-image3
    and still allows DescribeImages."""
    proxy = ops_proxy(lab, "proxy-ops-bad-reload", {"ecr.api": ORG_POLICY, "ecr.dkr": ORG_POLICY})
    policy = proxy.policy_path("ecr.api")
    good_text, good_hash = policy.read_text(), sha256_file(policy)
    first = proxy.healthz()
    assert first["policies"]["ecr.api"]["sha256"] == good_hash

    broken = good_text.replace('"Effect": "Allow",', '"Effect": "Allow"', 1)  # drop a comma
    empty_action = good_text.replace('"Action": "ecr:*"', '"Action": ""', 1)
    assert broken != good_text and empty_action != good_text
    for n, (text, code, send_hup) in enumerate([(broken, "json-syntax", False), (empty_action, "empty-value", True)]):
        write_atomically(policy, text)
        if send_hup:
            os.kill(proxy.proc.pid, signal.SIGHUP)
        health = wait_for(lambda: (h := proxy.healthz())["failed_reloads"] == first["failed_reloads"] + n + 1
                          and h, 5, f"failed reload {code}")
        error = health["last_reload_error"] or ""
        assert re.match(rf"{re.escape(str(policy))}:\d+:\d+ error {code} ", error), error
        assert health["reloads"] == first["reloads"]
        assert health["policies"]["ecr.api"]["sha256"] == good_hash, "a refused file must not be in force"

        denied = clients.aws(proxy, DEV, ["ecr", "delete-repository", "--repository-name", "base-image3"])
        assert denied.returncode != 0 and DELETE_DENIED in clients.text(denied), clients.text(denied)
        allowed = clients.aws(proxy, DEV, ["ecr", "describe-images", "--repository-name", "app"])
        assert allowed.returncode == 0, clients.text(allowed)
    # The syntax error's position is the one `vpce-proxy validate` reports for the same file.
    write_atomically(policy, broken)
    os.kill(proxy.proc.pid, signal.SIGHUP)
    health = wait_for(lambda: (h := proxy.healthz())["last_reload_error"] and "json-syntax" in
                      h["last_reload_error"] and h, 5, "syntax error again")
    validate = subprocess.run([str(proxy.proc.popen.args[0]), "validate", str(policy)], capture_output=True)
    assert validate.returncode == 1
    assert health["last_reload_error"].split(" ")[0] in validate.stdout.decode(), validate.stdout

    deletes = [r for r in audit_records(proxy.audit_lines()) if r.get("action") == "ecr:DeleteRepository"]
    assert len(deletes) == 2
    assert all(r["decision"] == "ExplicitDeny" and r["statementSid"] == "NobodyDeletesBaseImage3" for r in deletes)
    # Fixing the file is applied and clears the error.
    write_atomically(policy, good_text)
    wait_for(lambda: proxy.healthz()["last_reload_error"] is None, 5, "recovery")


# -- 3. the audit log of a full docker push ---------------------------------------------------------------

def test_docker_push_audit_has_one_line_per_request_and_no_secret(lab, stories):
    """Issue 5 item 2: `aws ecr get-authorization-token`, then `docker login` + `docker push` through the
    story proxy; each request the registry logged has its audit line, every line is JSON with the
    CloudTrail-like keys, and neither the token, the Basic value, the SigV4 secret nor a signature appears."""
    proxy = lab.proxy
    stories.dockerd()  # started (and an image imported) before the counting window opens
    audit_before = len(proxy.audit.read_text().splitlines()) if proxy.audit.exists() else 0
    registry_before = len(lab.registry.access_log())

    token = clients.aws(proxy, DEV, ["ecr", "get-authorization-token"])
    assert token.returncode == 0, clients.text(token)
    ecr_token = json.loads(token.stdout)["authorizationData"][0]["authorizationToken"]
    ref = f"{OWN_REGISTRY}/ops/audited:v1"
    pushed = stories.docker_push(DEV, ref)
    assert pushed.allowed, pushed.text

    new_lines = proxy.audit.read_text().splitlines()[audit_before:]
    records = audit_records(new_lines)
    for r in records:
        assert AUDIT_KEYS <= r.keys(), r
    registry_lines = ACCESS_LINE.findall(lab.registry.access_log()[registry_before:])
    to_registry = [r for r in records if r.get("host") == OWN_REGISTRY]
    forwarded = [r for r in to_registry if r["upstreamStatus"] is not None]
    refused = [r for r in to_registry if r["upstreamStatus"] is None]
    print(f"\n[audit] docker push: registry logged {len(registry_lines)} requests; audit has "
          f"{len(forwarded)} forwarded + {len(refused)} refused lines for {OWN_REGISTRY}")
    assert registry_lines, "the registry logged no request for the push"
    assert len(forwarded) == len(registry_lines), (registry_lines, forwarded)
    # Method by method, the same requests (the registry logs them in completion order, so compare sorted).
    assert sorted((m, s) for m, _, s in registry_lines) == sorted(
        (method_of(r), str(r["upstreamStatus"])) for r in forwarded)
    assert any(r.get("action") == "ecr:PutImage" and r["decision"] == "Allow" for r in to_registry)
    assert any(r.get("action") == "ecr:GetAuthorizationToken" for r in records)
    assert all(r["userIdentity"]["arn"] == DEV.arn for r in to_registry if r.get("action"))

    whole = proxy.audit.read_text()
    basic = base64.b64encode(f"{DEV.registry_user}:{DEV.token}".encode()).decode()
    for secret in [DEV.token, basic, DEV.secret, ecr_token, base64.b64decode(ecr_token).decode().split(":", 1)[1],
                   "Signature=", "X-Amz-Signature", "AWS4-HMAC-SHA256", "Basic "]:
        assert secret not in whole, f"audit log contains {secret!r}"


def method_of(record) -> str:
    """The HTTP method behind an audited registry action (ECR action names per the Docker Registry API)."""
    return {
        "ecr:BatchCheckLayerAvailability": "HEAD", "ecr:InitiateLayerUpload": "POST",
        "ecr:UploadLayerPart": "PATCH", "ecr:CompleteLayerUpload": "PUT", "ecr:PutImage": "PUT",
        "ecr:BatchGetImage": "GET", "ecr:GetDownloadUrlForLayer": "GET",
    }.get(record.get("action") or "", "GET")  # no action: the `GET /v2/` ping


# -- 4. /metrics from the running proxy -------------------------------------------------------------------

def test_metrics_parse_with_the_prometheus_parser_and_count_the_requests_made(lab):
    """Issue 5 item 3: after 2 allowed DescribeImages and 1 explicitly denied DeleteRepository, /metrics
    (parsed by prometheus_client's reference parser) shows exactly those decision increments."""
    proxy = ops_proxy(lab, "proxy-ops-metrics", {"ecr.api": ORG_POLICY, "ecr.dkr": ORG_POLICY})
    before = metric_samples(proxy.metrics_text())
    for _ in range(2):
        ok = clients.aws(proxy, DEV, ["ecr", "describe-images", "--repository-name", "app"])
        assert ok.returncode == 0, clients.text(ok)
    denied = clients.aws(proxy, DEV, ["ecr", "delete-repository", "--repository-name", "base-image3"])
    assert denied.returncode != 0
    text = proxy.metrics_text()
    after = metric_samples(text)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families.get("vpce_proxy_requests") == "counter", families
    assert families.get("vpce_proxy_request_duration_seconds") == "histogram", families

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    allow = dict(service="ecr.api", action="ecr:DescribeImages", decision="Allow")
    deny = dict(service="ecr.api", action="ecr:DeleteRepository", decision="ExplicitDeny")
    assert delta("vpce_proxy_requests_total", **allow) == 2
    assert delta("vpce_proxy_requests_total", **deny) == 1
    total = sum(v - before.get(k, 0) for k, v in after.items() if k[0] == "vpce_proxy_requests_total")
    assert total == 3, "only the three requests made were counted"
    assert delta("vpce_proxy_request_duration_seconds_count") == 3
    assert after[("vpce_proxy_connections_total", ())] >= 3
    assert after[("vpce_proxy_reloads_total", (("result", "ok"),))] == 0


# -- 5. proxy authentication ------------------------------------------------------------------------------

CI_USER = {"arn": "arn:aws:iam::123456789123:user/ci-runner", "org_id": ORG,
           "proxy_user": "ci-runner", "proxy_password": "pr0xy-pa55"}
STRANGER = {"arn": "arn:aws:iam::444455556666:user/stranger", "org_id": "o-0therorg00",
            "proxy_user": "stranger", "proxy_password": "str4nger-pa55"}


def test_proxy_authentication_maps_credentials_to_principals_and_refuses_others(lab):
    """Issue 5 item 4: with require_proxy_auth, curl and the aws CLI with user:pass in the proxy URL work;
    the proxy user becomes the principal the org-only policy judges; missing or wrong credentials get 407
    with Proxy-Authenticate and never reach the registry."""
    proxy = ops_proxy(lab, "proxy-ops-auth", {"ecr.api": ORG_POLICY, "ecr.dkr": ORG_POLICY},
                      require_proxy_auth=True, proxy_users=[CI_USER, STRANGER])
    url = f"https://{OWN_REGISTRY}/v2/app/tags/list"

    def as_user(user, password):
        return f"http://{user}:{password}@127.0.0.1:{proxy.port}"

    # A registry login the proxy never saw issued names nobody, so the proxy user is the principal (without
    # any registry credentials the proxy would answer ECR's challenge before any policy, ARCHITECTURE.md §4).
    unissued = ["-u", "AWS:never-issued-token"]
    ok = curl(as_user("ci-runner", "pr0xy-pa55"), proxy.ca_cert, *unissued, "-w", "\n%{http_code}", url)
    # The proxy allows (org member); the registry itself refuses the login it does not know.
    assert ok.returncode == 0 and ok.stdout.decode().rstrip().endswith("401"), clients.text(ok)
    stranger = curl(as_user("stranger", "str4nger-pa55"), proxy.ca_cert, *unissued, "-w", "\n%{http_code}", url)
    body = stranger.stdout.decode()
    assert body.rstrip().endswith("403") and f"User: {STRANGER['arn']} is not authorized" in body, body

    for proxy_url in [proxy.url, as_user("ci-runner", "wrong"), as_user("nobody", "pr0xy-pa55")]:
        refused = curl(proxy_url, proxy.ca_cert, "-v", url)
        err = refused.stderr.decode(errors="replace")
        assert refused.returncode != 0, err
        assert "< HTTP/1.1 407 Proxy Authentication Required" in err, err
        assert re.search(r"< Proxy-Authenticate: Basic realm=", err, re.I), err

    authed = SimpleNamespace(url=as_user("ci-runner", "pr0xy-pa55"), ca_cert=proxy.ca_cert)
    described = clients.aws(authed, DEV, ["ecr", "describe-images", "--repository-name", "app"])
    assert described.returncode == 0, clients.text(described)
    unauthed = clients.aws(proxy, DEV, ["ecr", "describe-images", "--repository-name", "app"])
    # botocore reports a 407 on CONNECT as a failure to connect to the proxy.
    assert unauthed.returncode != 0 and "Failed to connect to proxy URL" in clients.text(unauthed)

    records = audit_records(proxy.audit_lines())
    tags = [r for r in records if r.get("action") == "ecr:ListImages"]
    assert [r["userIdentity"]["arn"] for r in tags] == [CI_USER["arn"], STRANGER["arn"]], tags
    assert [r["decision"] for r in tags] == ["Allow", "ImplicitDeny"]
    # SigV4 names the caller before proxy credentials do (ARCHITECTURE.md §5 order).
    described_lines = [r for r in records if r.get("action") == "ecr:DescribeImages"]
    assert [r["userIdentity"]["arn"] for r in described_lines] == [DEV.arn]
    refusals = [r for r in records if r["decision"] == "Refused"]
    assert len(refusals) == 4 and all("proxy authentication required" in r["errorMessage"] for r in refusals)
    text = proxy.audit.read_text()
    assert "pr0xy-pa55" not in text and "str4nger-pa55" not in text


# -- 6. graceful shutdown ---------------------------------------------------------------------------------

def test_sigterm_lets_an_in_flight_layer_pull_finish_and_exits_0(lab, tmp_path):
    """Issue 5 item 6: a 256 MiB blob GET (rate-limited by curl to ~4 s) is in flight when SIGTERM
    arrives; new connections are refused at once, the pull completes with the right digest, exit 0."""
    registry = lab.fs_registry()
    blob = tmp_path / "layer.bin"
    digest = random_file(blob, 256 << 20)
    direct = Curl(OWN_REGISTRY, DEV, direct_port=registry.port, direct_ca=lab.ca.cert_path)
    direct.upload("ops/drain", blob, digest)
    blob.unlink()
    proxy = ops_proxy(lab, "proxy-ops-drain", {}, registry=registry, limits={"drain_timeout_secs": 30})
    via = Curl(OWN_REGISTRY, DEV, proxy=proxy)
    argv = ["curl", "-sS", "-f", "--limit-rate", "64M", *via.opts, f"{via.base}/v2/ops/drain/blobs/{digest}"]
    pull = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clients.base_env(None))
    hasher, total, signalled_at = hashlib.sha256(), 0, None
    refused_new = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = pull.stdout.read(1 << 20)
        if not chunk:
            break
        hasher.update(chunk)
        total += len(chunk)
        if signalled_at is None and total >= 32 << 20:
            os.kill(proxy.proc.pid, signal.SIGTERM)
            signalled_at = total
            proxy.proc.wait_log("shutting down", timeout=5)
            try:
                socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
                refused_new = False
            except ConnectionRefusedError:
                refused_new = True
    pull.wait(30)
    code = proxy.proc.popen.wait(30)
    print(f"\n[drain] SIGTERM after {signalled_at >> 20 if signalled_at else '?'} MiB of {total >> 20} MiB")
    assert signalled_at is not None and signalled_at < total, "SIGTERM did not arrive mid-transfer"
    assert refused_new, "a new connection was accepted after SIGTERM"
    assert pull.returncode == 0, pull.stderr.read()
    assert total == 256 << 20 and "sha256:" + hasher.hexdigest() == digest
    assert code == 0, proxy.log_text()
    assert "vpce-proxy: stopped" in proxy.log_text()


# -- 7. limits under real clients -------------------------------------------------------------------------

def test_connection_cap_refuses_the_excess_at_once_and_slowloris_is_cut_off(lab, tmp_path):
    """Issue 5 item 5: max_connections = 4 with 4 slow pulls holding the slots: 4 more curls get 503 within
    a second and the 4 pulls finish intact; then a byte-a-second client (on the CONNECT head and inside
    TLS) is cut off at header_read_timeout while a normal request succeeds."""
    registry = lab.fs_registry()
    blob = tmp_path / "small.bin"
    digest = random_file(blob, 6 << 20)
    Curl(OWN_REGISTRY, DEV, direct_port=registry.port, direct_ca=lab.ca.cert_path).upload("ops/limits", blob, digest)
    proxy = ops_proxy(lab, "proxy-ops-limits", {}, registry=registry,
                      limits={"max_connections": 4, "header_read_timeout_secs": 2})
    via = Curl(OWN_REGISTRY, DEV, proxy=proxy)
    blob_url = f"{via.base}/v2/ops/limits/blobs/{digest}"
    env = clients.base_env(None)
    slow = [subprocess.Popen(["curl", "-sS", "-f", "--limit-rate", "2M", *via.opts, blob_url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(4)]
    try:
        wait_for(lambda: proxy.healthz()["active_connections"] == 4, 10, "4 connections open")
        started = time.monotonic()
        excess = [subprocess.Popen(["curl", "-sS", "-f", *via.opts, "-o", "/dev/null", blob_url],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(4)]
        errors = [p.communicate(timeout=10)[1].decode() for p in excess]
        refused_in = time.monotonic() - started
        assert all(p.returncode != 0 for p in excess), errors
        assert all("503" in e for e in errors), errors
        assert refused_in < 2.0, f"excess connections took {refused_in:.1f}s to be refused"
        outputs = [p.communicate(timeout=30) for p in slow]
    finally:
        for p in slow:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(slow, outputs):
        assert p.returncode == 0, err
        assert "sha256:" + hashlib.sha256(out).hexdigest() == digest
    refusals = metric_samples(proxy.metrics_text())
    assert refusals[("vpce_proxy_limit_refusals_total", (("limit", "max_connections"),))] == 4

    # Slowloris: one byte every 0.5 s, on the CONNECT head and on the HTTP head inside the tunnel.
    results = {}
    threads = [threading.Thread(target=lambda: results.__setitem__("connect", slowloris(proxy, tls=False))),
               threading.Thread(target=lambda: results.__setitem__("tls", slowloris(proxy, tls=True)))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    normal = curl(proxy.url, proxy.ca_cert, "-u", f"{DEV.registry_user}:{DEV.token}", "-o", "/dev/null",
                  "-w", "%{http_code}", blob_url)
    for t in threads:
        t.join(30)
    assert normal.stdout.decode() == "200", clients.text(normal)
    for kind, (seconds, sent, reply) in results.items():
        print(f"\n[slowloris {kind}] cut off after {seconds:.1f}s, {sent} bytes sent, reply {reply[:40]!r}")
        assert 1.5 <= seconds <= 5.0, (kind, seconds)
        assert sent < 20, (kind, sent)
    assert results["connect"][2].startswith(b"HTTP/1.1 408"), results["connect"]
    after = metric_samples(proxy.metrics_text())
    assert after[("vpce_proxy_limit_refusals_total", (("limit", "header_read_timeout"),))] >= 1


def slowloris(proxy, tls: bool):
    """Sends a request head one byte per 0.5 s (at most 40 bytes) until the proxy closes; returns
    (seconds until closed, bytes sent, what the proxy answered)."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    head = f"GET /v2/ HTTP/1.1\r\nHost: {OWN_REGISTRY}\r\n".encode()
    if tls:
        sock.sendall(f"CONNECT {OWN_REGISTRY}:443 HTTP/1.1\r\nHost: {OWN_REGISTRY}:443\r\n\r\n".encode())
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context(cafile=str(proxy.ca_cert))
        sock = context.wrap_socket(sock, server_hostname=OWN_REGISTRY)
    else:
        head = f"CONNECT {OWN_REGISTRY}:443 HTTP/1.1\r\nHost: {OWN_REGISTRY}:443\r\n".encode()
    started, sent, reply = time.monotonic(), 0, b""
    sock.settimeout(0.5)
    try:
        for byte in head[:40]:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
            sent += 1
            try:
                data = sock.recv(4096)
                reply += data
                if not data:
                    break
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError):
                break
    finally:
        sock.close()
    return time.monotonic() - started, sent, reply


# -- 8. the shipped deployment files ----------------------------------------------------------------------

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_kubernetes_configmap_runs_and_a_kubelet_style_update_is_applied(tmp_path):
    """Issue 5 item 7: the sidecar example's ConfigMap is a working config (policies pass `validate`, the
    proxy starts on it with /healthz showing their hashes), and a ConfigMap update as the kubelet performs
    it (new `..data` directory swapped in by symlink rename) is picked up by the file watcher."""
    yaml = pytest.importorskip("yaml")
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes-sidecar.yaml").read_text()))
    data = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    sidecar = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert sidecar["args"] == ["run", "--config", "/etc/vpce-proxy/vpce-proxy.toml"]
    config = (data["vpce-proxy.toml"].replace("/var/lib/vpce-proxy/certs", str(tmp_path / "certs"))
              .replace('"127.0.0.1:3128"', '"127.0.0.1:0"').replace('"0.0.0.0:9090"', '"127.0.0.1:0"'))
    mount = tmp_path / "mount"  # the kubelet's layout: KEY -> ..data/KEY, ..data -> ..<timestamp>
    version = mount / "..v1"
    version.mkdir(parents=True)
    for key, value in {**data, "vpce-proxy.toml": config}.items():
        (version / key).write_text(value)
        (mount / key).symlink_to(Path("..data") / key)
    (mount / "..data").symlink_to("..v1")
    policies = [mount / k for k in data if k.endswith(".json")]
    checked = subprocess.run([str(binary()), "validate", *map(str, policies)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc, ports = start("k8s-sidecar", mount / "vpce-proxy.toml", tmp_path / "proxy.log", ("connect", "admin"),
                        env=clients.base_env(None))
    admin = ports["admin"]
    try:
        get = lambda: json.loads(urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{admin}/healthz", timeout=5).read())
        health = get()
        assert health["policies"]["s3"]["sha256"] == sha256_file(mount / "s3-endpoint-policy.json")
        assert health["policies"]["ecr.api"]["sha256"] == sha256_file(mount / "ecr-endpoint-policy.json")
        # `kubectl apply` of a changed policy: a new version directory, then one atomic symlink rename.
        new_version = mount / "..v2"
        shutil.copytree(version, new_version)
        (new_version / "s3-endpoint-policy.json").write_text(
            data["s3-endpoint-policy.json"].replace("EcrLayerBucketOnly", "EcrLayerBucketOnlyV2"))
        (mount / "..data_tmp").symlink_to("..v2")
        os.replace(mount / "..data_tmp", mount / "..data")
        shutil.rmtree(version)
        want = sha256_file(mount / "s3-endpoint-policy.json")
        health = wait_for(lambda: (h := get())["policies"]["s3"]["sha256"] == want and h, 10, "ConfigMap reload")
        assert health["reloads"] == 1 and health["last_reload_error"] is None
    finally:
        proc.stop()
    assert proc.popen.returncode == 0, (tmp_path / "proxy.log").read_text()


def test_systemd_unit_passes_systemd_analyze(tmp_path):
    """Issue 5 item 7: the shipped unit has no unknown directive or bad value (`systemd-analyze verify`,
    with ExecStart pointed at the binary under test)."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / "vpce-proxy.service"
    unit.write_text((DEPLOY / "vpce-proxy.service").read_text().replace("/usr/local/bin/vpce-proxy", str(binary())))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, timeout=60)
    out = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 0 and "vpce-proxy.service" not in out, out
