"""Issue 12, ARCHITECTURE.md §10: the rollout loop on the lab, with the aws CLI, skopeo, docker and
containerd through the real binary. Recorded in report mode under a deny-all policy, the generated policies
validate clean, replay with 0 newly denied, and when enforced keep the same commands working while a
command outside the recorded set is refused; a shadow policy that drops one statement shows exactly the
requests that statement allowed, in the audit and in the metrics.

One test, in order: each step feeds the next (the generated policies are what the later steps enforce).
"""

import json

import pytest

from lab.rollout import SERVICES, Rollout, permissions, statement_allows, vpce
from lab.world import DEV


@pytest.fixture(scope="module")
def rollout(lab):
    return Rollout(lab)


def _decided(records):
    return [r for r in records if r.get("authorization") is not None]


def test_record_generate_replay_enforce_and_shadow(rollout):
    proxy = rollout.proxy
    health = proxy.healthz()
    assert health["report_only"] == list(SERVICES), health

    # 1. Record: every command succeeds although deny-all would refuse each of its requests.
    for name, code, output in rollout.run_all(rollout.recorded_set()):
        assert code == 0, f"report mode forwards: {name}: {output}"
    recorded = proxy.audit_records()
    decided = _decided(recorded)
    assert {r["service"] for r in decided} == set(SERVICES), "all three services were used"
    refused_but_sent = [r for r in decided if r["decision"] != "Allow" and r["action"]]
    assert refused_but_sent and all(r["enforced"] is False for r in refused_but_sent)
    assert all(r["upstreamStatus"] is not None for r in refused_but_sent), "each was forwarded"
    assert all("errorCode" not in r for r in refused_but_sent)
    assert proxy.metric('would_deny_total{service="ecr.api",action="ecr:DescribeImages"}') >= 1
    secrets = [DEV.secret, DEV.token, "Signature=", "AWS4-HMAC-SHA256", "Basic "]
    text = proxy.audit.read_text()
    assert not [s for s in secrets if s in text], "no credential in the audit log"

    # 2. Generate one policy per service; each validates with no finding at all.
    audit = rollout.work / "recorded.jsonl"
    audit.write_text(proxy.audit.read_text())
    generated, files = {}, {}
    for service in SERVICES:
        generated[service], notes, files[service] = rollout.generate(audit, service)
        lint = vpce("validate", "--kind", "endpoint", files[service])
        assert (lint.returncode, lint.stdout + lint.stderr) == (0, b""), f"{service}: {lint.stdout!r}"
    login = [s for s in generated["ecr.api"]["Statement"] if "ecr:GetAuthorizationToken" in json.dumps(s)]
    assert login and all(s["Resource"] in ("*", ["*"]) for s in login), generated["ecr.api"]

    # 3. Replay: nothing that happened becomes denied.
    replayed = rollout.replay(audit, files)
    summary = replayed.stdout.decode().splitlines()[0]
    assert replayed.returncode == 0, replayed.stdout.decode() + replayed.stderr.decode()
    assert ", 0 newly denied," in summary, summary

    # 4. Enforce the generated policies: the same commands work, others are refused.
    health = proxy.configure(generated, mode="enforce")
    assert health["report_only"] == [], health
    for name, code, output in rollout.run_all(rollout.recorded_set()):
        assert code == 0, f"the generated policy allows what was recorded: {name}: {output}"
    for name, code, output in rollout.run_all(rollout.outside_set()):
        assert code != 0, f"outside the recorded set: {name}: {output}"
    assert "is not authorized to perform: ecr:DeleteRepository" in rollout.run_all(rollout.outside_set()[:1])[0][2]

    # 5. Shadow: drop the ecr.api statement that allows DescribeImages; exactly its requests differ.
    statements = generated["ecr.api"]["Statement"]
    dropped = next(s for s in statements if statement_allows(s, "ecr:DescribeImages", _describe_resource(decided)))
    candidate = dict(generated["ecr.api"], Statement=[s for s in statements if s is not dropped])
    proxy.configure(generated, mode="enforce", shadow={"ecr.api": candidate})
    before = len(proxy.audit_records())
    for name, code, output in rollout.run_all(rollout.recorded_set()[:2]):
        assert code == 0, f"the shadow policy is never enforced: {name}: {output}"
    lines = _decided(proxy.audit_records()[before:])
    expected = [r["requestID"] for r in lines if r["service"] == "ecr.api"
                and any(statement_allows(dropped, a, res) for a, res in permissions(r))]
    shadowed = [r["requestID"] for r in lines if "shadow" in r]
    assert expected and shadowed == expected, (dropped, lines)
    assert all(r["shadow"]["decision"] == "ImplicitDeny" for r in lines if "shadow" in r)
    counted = sum(
        proxy.metric(f'shadow_differences_total{{service="ecr.api",action="{a}",direction="allow_to_deny"}}')
        for a in {r["action"] for r in lines if "shadow" in r}
    )
    assert counted == len(expected)


def _describe_resource(records) -> str:
    return next(r["authorization"]["resource"] for r in records if r["action"] == "ecr:DescribeImages")
