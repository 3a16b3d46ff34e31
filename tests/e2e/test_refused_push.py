"""A refused push sends zero layer bytes upstream (ARCHITECTURE.md §4: deny before reading the body; answer
`Expect: 100-continue` with the denial). A byte counter sits on the wire between the proxy and the registry.

Control: the same counter sees the layer cross when the push is allowed, so a zero is not a broken counter.
"""

import pytest

from lab import clients
from lab.counter import ByteCounter
from lab.stories import foreign_repository_requests
from lab.transfer import Curl, random_file
from lab.world import DEV, FOREIGN_REGISTRY, OWN_REGISTRY, S3_POLICY

LAYER = 32 << 20


@pytest.fixture(scope="module")
def counted(lab, tmp_path_factory):
    counter = ByteCounter(lab.registry.port)
    routes = [(FOREIGN_REGISTRY, f"127.0.0.1:{counter.port}"), (OWN_REGISTRY, f"127.0.0.1:{counter.port}")]
    proxy = lab.start_proxy("proxy-counted", s3_policy=S3_POLICY, routes=routes)
    work = tmp_path_factory.mktemp("refused")
    blob = work / "layer.bin"
    digest = random_file(blob, LAYER)
    yield counter, proxy, work, blob, digest
    counter.stop()


def _foreign_requests(lab) -> int:
    return len(foreign_repository_requests(lab.registry.access_log()))


@pytest.mark.parametrize("protocol", ["--http1.1", "--http2"])
def test_refused_monolithic_upload_sends_no_layer_bytes(lab, counted, protocol):
    """One POST carrying the whole blob (the registry API's monolithic upload). Over HTTP/1.1 curl sends
    `Expect: 100-continue` and waits; over h2 it starts sending at once and the proxy must answer without
    forwarding what it receives."""
    counter, proxy, _, blob, digest = counted
    before, foreign_before = counter.upstream_bytes, _foreign_requests(lab)
    curl = Curl(FOREIGN_REGISTRY, DEV, proxy=proxy)
    result = curl._run(
        [protocol, "-X", "POST", "--data-binary", f"@{blob}", "-H", "Content-Type: application/octet-stream",
         "-w", "\n%{http_code}", f"{curl.base}/v2/app/blobs/uploads/?digest={digest.replace(':', '%3A')}"]
    )
    out = result.stdout.decode(errors="replace")
    assert out.rstrip().endswith("403"), out + result.stderr.decode(errors="replace")
    assert '"DENIED"' in out and f"User: {DEV.arn} is not authorized" in out
    sent = counter.upstream_bytes - before
    print(f"\n[refused 32 MiB upload {protocol}] bytes proxy->registry: {sent}")
    assert sent < 64 * 1024, f"{sent} bytes crossed to the registry for a refused 32 MiB upload"
    assert _foreign_requests(lab) == foreign_before, "the registry saw a request for the refused repository"
    # The proxy's own account of it (audit line): refused by the endpoint policy, nothing sent upstream.
    refused = [
        r for r in proxy.audit_records()
        if r.get("host") == FOREIGN_REGISTRY and r.get("action") == "ecr:InitiateLayerUpload"
    ]
    assert refused, "no audit line for the refused upload"
    assert refused[-1]["decision"] == "ImplicitDeny" and refused[-1]["deniedBy"] == "vpc_endpoint"
    assert refused[-1]["upstreamStatus"] is None and refused[-1]["bytesIn"] == 0


def test_refused_skopeo_push_sends_no_layer_bytes_but_allowed_one_does(lab, counted):
    counter, proxy, work, _, _ = counted
    image = clients.oci_image(work / "oci", "v1", size=8 << 20)
    before = counter.upstream_bytes
    refused = clients.skopeo_copy(proxy, image, f"docker://{FOREIGN_REGISTRY}/app:counted", dst_persona=DEV)
    assert refused.returncode != 0
    # skopeo asks `HEAD blob` first; that denial has no body, so skopeo prints only the status.
    assert "403 (Forbidden)" in clients.text(refused)
    refused_bytes = counter.upstream_bytes - before
    before = counter.upstream_bytes
    allowed = clients.skopeo_copy(proxy, image, f"docker://{OWN_REGISTRY}/app:counted", dst_persona=DEV)
    assert allowed.returncode == 0, clients.text(allowed)
    allowed_bytes = counter.upstream_bytes - before
    print(f"\n[skopeo 8 MiB layer] bytes proxy->registry: refused {refused_bytes}, allowed {allowed_bytes}")
    assert allowed_bytes > 8 << 20, "the counter did not see an allowed layer cross"
    assert refused_bytes < 64 * 1024
