"""A 1 GiB layer pushed and pulled through the proxy: digest checked, proxy RSS sampled every 0.2 s from
/proc/PID/status and bounded (ARCHITECTURE.md §7: RSS under 64 MB while a 1 GiB layer is pushed and pulled —
streaming, no buffering). Rates through the proxy and direct, in the same run, are printed, not asserted.

The registry here uses filesystem storage, to keep moto (S3 in Python) out of a 1 GiB transfer.
"""

import pytest

from lab.transfer import Curl, RssSampler, random_file
from lab.world import DEV, OWN_REGISTRY, S3_POLICY

GIB = 1 << 30
RSS_LIMIT_KB = 64_000_000 // 1024  # 64 MB (10^6 bytes) in KiB, as VmRSS reports


@pytest.fixture(scope="module")
def big_setup(lab, tmp_path_factory):
    registry = lab.fs_registry()
    proxy = lab.start_proxy("proxy-big", s3_policy=S3_POLICY, registry=registry)
    blob = tmp_path_factory.mktemp("big") / "layer.bin"
    digest = random_file(blob, GIB)
    yield registry, proxy, blob, digest
    blob.unlink(missing_ok=True)


def test_one_gib_layer_streams_through_proxy_with_bounded_rss(lab, big_setup, capsys):
    registry, proxy, blob, digest = big_setup
    via = Curl(OWN_REGISTRY, DEV, proxy=proxy)
    direct = Curl(OWN_REGISTRY, DEV, direct_port=registry.port, direct_ca=lab.ca.cert_path)
    idle_kb = proxy.proc.rss_kb()
    with RssSampler(proxy.proc) as push_rss:
        push = via.upload("big/layer", blob, digest)
    with RssSampler(proxy.proc) as pull_rss:
        pull = via.download("big/layer", digest)
    push_direct = direct.upload("big/direct", blob, digest)
    pull_direct = direct.download("big/direct", digest)

    assert pull.nbytes == GIB and pull.digest == digest
    assert pull_direct.digest == digest
    assert len(push_rss.samples) >= 3 and len(pull_rss.samples) >= 3, "too few RSS samples to judge"
    with capsys.disabled():
        print(
            f"\n[1 GiB] proxy RSS idle {idle_kb / 1024:.1f} MiB, peak during push {push_rss.peak_kb / 1024:.1f} MiB"
            f" ({len(push_rss.samples)} samples), during pull {pull_rss.peak_kb / 1024:.1f} MiB"
            f" ({len(pull_rss.samples)} samples)\n"
            f"[1 GiB] push via proxy {push.mib_per_s:.0f} MiB/s ({push.seconds:.1f} s), direct"
            f" {push_direct.mib_per_s:.0f} MiB/s ({push_direct.seconds:.1f} s);"
            f" pull via proxy {pull.mib_per_s:.0f} MiB/s ({pull.seconds:.1f} s), direct"
            f" {pull_direct.mib_per_s:.0f} MiB/s ({pull_direct.seconds:.1f} s)"
        )
    assert push_rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS {push_rss.peak_kb} KiB during a 1 GiB push"
    assert pull_rss.peak_kb < RSS_LIMIT_KB, f"proxy RSS {pull_rss.peak_kb} KiB during a 1 GiB pull"
