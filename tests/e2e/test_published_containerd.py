"""containerd (`ctr`), the client Kubernetes nodes pull with, through the real proxy (ARCHITECTURE.md §8
"containerd").

Named to sort after test_published.py: its rows pull what the published docker steps pushed. The other
tests show why the proxy answers ECR's Basic challenge itself: containerd's first request carries no
credentials, and under a policy that conditions on the caller it would otherwise be refused as
`anonymous` before containerd ever logs in.
"""

import json

import pytest

from lab import clients
from lab.containerd import Containerd
from lab.published import check_step, labels
from lab.published_containerd import settled_records, steps
from lab.world import DEV, FOREIGN_REGISTRY, OWN_REGISTRY

_LABELS = labels(steps)


@pytest.mark.parametrize("index", range(len(_LABELS)), ids=_LABELS)
def test_containerd_row_prints_every_expected_line(published, index):
    check_step(steps(published)[index])


@pytest.fixture(scope="module")
def org_node(lab, tmp_path_factory):
    """The lab's org-only proxy, an image pushed by skopeo as DEV, and a containerd in front of it."""
    image = clients.oci_image(tmp_path_factory.mktemp("ctr") / "img", "v1", payload=b"containerd org\n")
    pushed = clients.skopeo_copy(lab.proxy, image, f"docker://{OWN_REGISTRY}/app:ctr", dst_persona=DEV)
    assert pushed.returncode == 0, clients.text(pushed)
    node = lab._own(Containerd(lab.dir, lab.proxy, [OWN_REGISTRY, FOREIGN_REGISTRY], name="containerd-org"))
    return node


def _new_records(proxy, before):
    """The audit lines written since `before`, once the last response's line is out."""
    return settled_records(proxy)[before:]


def test_an_allowed_pull_logs_in_after_the_challenge_under_the_org_only_policy(lab, org_node):
    """DEV is known only by its registry token: the bare manifest HEAD must be challenged, not decided."""
    before = len(lab.proxy.audit_records())
    pulled = org_node.pull(f"{OWN_REGISTRY}/app:ctr", DEV.token, user=DEV.registry_user)
    assert pulled.returncode == 0, clients.text(pulled)
    records = _new_records(lab.proxy, before)
    first = records[0]
    assert (first["decision"], first["upstreamStatus"], first["userIdentity"]["arn"]) == (
        "Challenged", None, "anonymous"), first
    decided = [r for r in records if r["service"] == "ecr.dkr" and r["decision"] != "Challenged"]
    assert decided and {r["userIdentity"]["arn"] for r in decided} == {DEV.arn}, records
    assert {r["decision"] for r in decided} == {"Allow"}, records
    assert "BatchGetImage" in {r["eventName"] for r in decided}


def test_a_denied_pull_names_the_aws_message_in_the_audit_line(lab, org_node):
    """The org-only policy allows only the organization's own account: the foreign registry is refused.
    containerd prints only the status (a HEAD has no body); the audit line carries AWS's message."""
    before = len(lab.proxy.audit_records())
    ref = f"{FOREIGN_REGISTRY}/app:ctr"
    pulled = org_node.pull(ref, DEV.token, user=DEV.registry_user)
    assert pulled.returncode != 0
    assert "403 Forbidden" in clients.text(pulled), clients.text(pulled)
    denied = [r for r in _new_records(lab.proxy, before) if r["decision"] == "ImplicitDeny"]
    assert denied, _new_records(lab.proxy, before)
    assert denied[0]["errorMessage"] == (
        f"User: {DEV.arn} is not authorized to perform: ecr:BatchGetImage on resource: "
        f"arn:aws:ecr:us-east-1:999999999999:repository/app because no VPC endpoint policy allows the "
        "ecr:BatchGetImage action")
    assert denied[0]["upstreamStatus"] is None


def test_a_ranged_layer_read_is_decided_and_answered_partially(lab, org_node):
    """containerd resumes an interrupted layer download with `Range: bytes=N-` (a fresh download sends
    none): the registry's redirect and the S3 read are decided as usual and the range reaches S3."""
    base = f"https://{OWN_REGISTRY}/v2/app"
    auth = ["-u", f"{DEV.registry_user}:{DEV.token}"]
    accept = ["-H", "Accept: application/vnd.oci.image.manifest.v1+json"]
    manifest = _curl(lab, *auth, *accept, f"{base}/manifests/ctr")
    layer = json.loads(manifest)["layers"][0]["digest"]
    whole = _curl(lab, *auth, "-L", f"{base}/blobs/{layer}")
    before = len(lab.proxy.audit_records())
    ranged = _curl(lab, *auth, "-L", "-H", "Range: bytes=10-", "-w", "\n%{http_code}", f"{base}/blobs/{layer}")
    body, status = ranged.rsplit(b"\n", 1)
    assert status == b"206" and body == whole[10:], (status, len(body), len(whole))
    records = _new_records(lab.proxy, before)
    assert [(r["eventName"], r["decision"], r["upstreamStatus"]) for r in records] == [
        ("GetDownloadUrlForLayer", "Allow", 307), ("GetObject", "Allow", 206)], records


def _curl(lab, *args) -> bytes:
    out = clients.run_curl(lab.proxy, *args)
    assert out.returncode == 0, clients.text(out)
    return out.stdout
