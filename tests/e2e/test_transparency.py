"""Transparency: what the aws CLI sends through the proxy reaches upstream unchanged, so SigV4 still verifies.

The upstream is `lab.echo`, a TLS server that records method, target, headers (in order) and body. The proxy
routes `api.ecr.us-east-1.amazonaws.com` to it. SigV4 (AWS General Reference, "Create a signed AWS API
request") signs the method, path, query, the signed headers and the body hash; we recompute the signature from
what arrived with the caller's secret key and compare, and compare the Authorization header and body with what
the CLI says it sent (`--debug`).
"""

import base64
import hashlib
import hmac
import json
import re
import socket
import ssl

import pytest

from lab import clients
from lab.world import API_HOST, DEV

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade"}


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_verifies(record: dict, secret: str) -> bool:
    """Recomputes the SigV4 signature of a recorded request (header auth, unsigned-query case)."""
    headers = {k.lower(): v for k, v in record["headers"]}
    body = base64.b64decode(record["body_b64"])
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=[^/]+/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
        r"SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})",
        headers["authorization"],
    )
    assert match, "Authorization header is not SigV4"
    date, region, service, signed, signature = match.groups()
    path, _, query = record["target"].partition("?")
    canonical_query = "&".join(sorted(query.split("&"))) if query else ""
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in signed.split(";"))
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([record["method"], path, canonical_query, canonical_headers, signed, payload])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature)


@pytest.fixture(scope="module")
def echo_proxy(lab):
    _, port, records = lab.start_echo()
    proxy = lab.start_proxy("proxy-echo", routes=[(API_HOST, f"127.0.0.1:{port}")])
    return proxy, records


def _records(records):
    return [json.loads(p.read_text()) for p in sorted(records.glob("*.json"))]


def test_aws_cli_request_arrives_unchanged_and_sigv4_verifies(echo_proxy):
    proxy, records = echo_proxy
    before = len(_records(records))
    result = clients.aws(proxy, DEV, ["ecr", "describe-images", "--repository-name", "app"], debug=True)
    assert result.returncode == 0, clients.text(result)
    got = _records(records)[before:]
    assert len(got) == 1, f"expected one upstream request, got {len(got)}"
    rec = got[0]
    headers = {k.lower(): v for k, v in rec["headers"]}
    assert rec["method"] == "POST" and rec["target"] == "/"
    assert headers["host"] == API_HOST
    assert headers["x-amz-target"] == "AmazonEC2ContainerRegistry_V20150921.DescribeImages"
    debug = result.stderr.decode(errors="replace")
    sent_auth = re.search(r"'Authorization': b'([^']+)'", debug)
    assert sent_auth, "aws --debug did not show the Authorization header it sent"
    assert headers["authorization"] == sent_auth.group(1)
    sent_body = re.search(r"'body': b'(\{[^']*\})'", debug)
    assert sent_body, "aws --debug did not show the body it sent"
    assert base64.b64decode(rec["body_b64"]) == sent_body.group(1).encode()
    assert sigv4_verifies(rec, DEV.secret)


def test_raw_request_headers_and_binary_body_arrive_unchanged(echo_proxy):
    """A hand-made request: mixed-case and repeated headers, odd spacing, raw UTF-8 and odd JSON whitespace."""
    proxy, records = echo_proxy
    body = ('{\n\t"repositoryName" :  "app" ,\r\n "nextToken": "' + "é✓ " * 4000 + '"  }').encode()
    head_fields = [
        ("Host", API_HOST),
        ("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeImages"),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("X-Amz-Date", "20261202T000000Z"),
        ("x-custom-Mixed", "a  b\tc"),
        ("X-Repeat", "one"),
        ("X-Repeat", "two"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIALABDEV0000000001/20261202/us-east-1/ecr/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64),
        ("Content-Length", str(len(body))),
    ]
    before = len(_records(records))
    raw = b"POST / HTTP/1.1\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in head_fields) + b"\r\n"
    status = _send_via_proxy(proxy, raw + body)
    assert status.startswith(b"HTTP/1.1 200"), status.decode(errors="replace")
    got = _records(records)[before:]
    assert len(got) == 1
    rec = got[0]
    assert rec["method"] == "POST" and rec["target"] == "/"
    arrived = [(k.lower(), v) for k, v in rec["headers"] if k.lower() not in HOP_BY_HOP]
    sent = [(k.lower(), v) for k, v in head_fields]
    assert arrived == sent
    assert base64.b64decode(rec["body_b64"]) == body


def _send_via_proxy(proxy, request: bytes) -> bytes:
    """CONNECT through the proxy, TLS trusting the proxy CA, send `request`, return the response head."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    sock.sendall(f"CONNECT {API_HOST}:443 HTTP/1.1\r\nHost: {API_HOST}:443\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply and len(reply) < 8192:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") or reply.startswith(b"HTTP/1.0 200"), reply
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    context.set_alpn_protocols(["http/1.1"])
    tls = context.wrap_socket(sock, server_hostname=API_HOST)
    tls.sendall(request)
    response = b""
    while b"\r\n\r\n" not in response and len(response) < 65536:
        chunk = tls.recv(4096)
        if not chunk:
            break
        response += chunk
    tls.close()
    return response
