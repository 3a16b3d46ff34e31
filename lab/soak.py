"""`python3 -m lab.soak MINUTES`: the release proxy under bounded mixed load for MINUTES while an operator
reloads its policies, rotates its audit file, sends SIGHUP and restarts its upstreams; then every request
is matched to its audit line, and the proxy's memory and descriptors are held to the bounds below.

Why: each end-to-end test proves one behaviour once, on a quiet proxy. An endpoint runs for months with
all of it at once: reloads, rotations and upstream outages while requests are in flight, clients that
abort or misbehave. A lost audit line, a descriptor leaked per aborted client or a slow memory climb only
shows over time and under that mix. The soak runs it against the lab's real stand-ins (moto for ecr.api
and S3, the CNCF registry with filesystem storage for ecr.dkr, reached through the proxy's
`[[upstream]]` routes) and exits 1 on anything it did not expect. The registry keeps its blobs on disk,
not in moto, because moto keeps everything in memory and is restarted here.

The load: `WORKERS` threads, every loop bounded by the deadline and every socket by `CLIENT_TIMEOUT`.
Three run the everyday mix: registry ping, manifest HEAD/GET, a 4 MiB blob pulled whole or by Range,
blob pushes (POST, PUT), SigV4-signed ecr.api DescribeRepositories and GetAuthorizationToken, presigned
S3 GetObject on the layer bucket, denials by the endpoint policy (another account's registry, an outsider,
DeleteRepository on base-image3, S3 PutObject), 401 challenges, and refusals before policy (CONNECT to a
host that is no endpoint or to another port, a ClientHello for another host, an inner Host of another
registry, a dot segment). The fourth runs the abusive clients: garbage, plain-HTTP and over-long CONNECT
heads, a garbage and an over-long inner head, a slowloris CONNECT head, an inner head that stalls, a tunnel
that never starts TLS, a slow but complete client, and a blob download and a blob upload each cut
mid-body. Every request is made on its own connection, HTTP by hand through CONNECT (`http.client` over
`ssl`); the real aws CLI (`get-login-password`) runs once before and once after the load.

The operator, each on its own timer: rewrites an endpoint policy every `RELOAD_EVERY` s, alternating two
documents that decide the load mix identically; every `INVALID_EVERY`-th write is invalid, and the proxy
must keep the old policy deciding, report the error on `/healthz`, and recover when the file is fixed.
Every `ROTATE_EVERY` s the audit file is renamed and SIGHUP makes the proxy reopen it by name (README,
"Audit log"); SIGHUP also comes on its own every `HUP_EVERY` s. Every `OUTAGE_EVERY` s the registry or
moto (in turn) is stopped for `OUTAGE_DOWN` s and started again on its port: a request that overlaps that
window may get the proxy's 502 in the service's shape, be cut, or find what the restarted stand-in lost
(`OUTAGE_OUTCOMES`), and nothing else.

Audit accounting. Each request binds its own loopback source address (127.a.b.c, never 127.0.0.1), and
the audit line's `sourceIPAddress` names it, so lines are matched to requests one by one. Which requests
write a line (src/proxy/exchange/pipeline.rs, rescue.rs, body.rs `Finisher`, `refuse_connection` in
src/proxy/state.rs): every request hyper hands to the pipeline writes exactly one, when its response body
is dropped, whether answered, denied, challenged, refused, 502 or cut by either side; a CONNECT refused at
admission (port, not an endpoint host) and a ClientHello naming another host than the CONNECT write one;
a CONNECT head that is garbage, too long or too slow, a tunnel that never starts TLS, and an inner head
hyper rejects (malformed, too long, too slow) write none. The soak expects exactly that many lines per
address, zero included, with the expected `decision`, summed over every rotated file, after waiting up
to `SETTLE_SECS` for the last lines.

Bounds, exit 1 beyond them: RSS at the end <= (1 + RSS_GROWTH) x RSS at the middle + RSS_ALLOWANCE_KIB
(middle to end, so warm-up growth is not taken for a leak); open descriptors at the end (load stopped,
connections drained) <= at the start (after warm-up, under load) + FD_ALLOWANCE; `/healthz`
active_connections back to 0; the proxy alive throughout.
"""

import argparse
import base64
import hashlib
import http.client
import itertools
import json
import os
import signal
import socket
import ssl
import stat
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import clients
from .ops_proxy import OpsProxy, write_atomically
from .procs import wait_port
from .standins import LAYER_BUCKET, REGION
from .stories import EXPLICIT_DENY, NO_ENDPOINT_ALLOW
from .world import (
    API_HOST, BUCKET_HOST, DEV, FOREIGN_REGISTRY, ORG_POLICY, OUTSIDER, OWN_REGISTRY, PERSONAS, REPOSITORIES,
    S3_POLICY, Lab,
)

WORKERS = 4
RELOAD_EVERY, INVALID_EVERY = 3.0, 5
ROTATE_EVERY, HUP_EVERY = 7.0, 5.0
OUTAGE_EVERY, OUTAGE_DOWN = 20.0, 2.0
#: After a stand-in listens again, how long a request may still see the outage (its 502 was in flight).
OUTAGE_GRACE = 1.0
#: Head and handshake cut-offs short enough that a slow client ends within seconds (defaults: 30 s, 10 s);
#: a real client sends its head at once.
LIMITS = {"header_read_timeout_secs": 4, "handshake_timeout_secs": 4}
MAX_HEADER_BYTES = 65536  # the default `limits.max_header_bytes`
RSS_GROWTH, RSS_ALLOWANCE_KIB, FD_ALLOWANCE = 0.30, 8 * 1024, 16
SETTLE_SECS = 15.0
CLIENT_TIMEOUT = 30.0
PULL_BYTES, RANGE_BYTES, PUSH_BYTES, PUSH_POOL = 4 << 20, 64 << 10, 32 << 10, 16
CUT_AFTER, UPLOAD_DECLARED = 256 << 10, 256 << 10
PROBE_KEY, PROBE = "soak/probe", b"soak probe object\n"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
OCTETS = {"Content-Type": "application/octet-stream"}
#: What a request may get, besides its usual answer, while its upstream is down: the proxy's 502, a cut
#: connection or body, an upload session the restarted registry no longer knows, moto's answer for a
#: repository or object it has not been given again since its restart.
OUTAGE_OUTCOMES = frozenset({"502", "cut", "upload-lost", "emptied"})
#: The body of each answer the proxy itself gives, by service and status (ARCHITECTURE.md §4).
SHAPES = {
    ("ecr.dkr", 401): b"Not Authorized",
    ("ecr.dkr", 403): b'"code":"DENIED"',
    ("ecr.dkr", 502): b'"code":"UNAVAILABLE"',
    ("ecr.api", 400): b'"__type":"AccessDeniedException"',
    ("ecr.api", 502): b'"__type":"ServiceUnavailableException"',
    ("s3", 403): b"<Code>AccessDenied</Code>",
    ("s3", 502): b"<Code>ServiceUnavailable</Code>",
}
REFUSED = "Request refused by the VPC endpoint"
#: The malformed clients' bytes: not UTF-8; not CONNECT; one byte over the cap and nothing after it (so the
#: proxy reads all of it and its 431 is not lost to a reset).
GARBAGE = b"\x16\x03\x01\xff\xfe nonsense\r\n\r\n"
PLAIN_GET = b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
LONG_CONNECT = f"CONNECT {OWN_REGISTRY}:443 HTTP/1.1\r\nX-Long: ".encode().ljust(MAX_HEADER_BYTES + 1, b"a")
#: An inner head one byte over the cap: the pipeline measures it and answers 431, audited `Refused`.
CAP_INNER = f"GET /v2/ HTTP/1.1\r\nHost: {OWN_REGISTRY}\r\nX-Long: ".encode().ljust(MAX_HEADER_BYTES - 3, b"a") + b"\r\n\r\n"
#: An inner head four times the cap: past hyper's buffer (twice the cap), answered 431 by hyper with no
#: audit line. The proxy closes while the rest still comes in, so its 431 may be lost to the reset (`cut`).
LONG_INNER = f"GET /v2/ HTTP/1.1\r\nHost: {OWN_REGISTRY}\r\nX-Long: {'a' * 4 * MAX_HEADER_BYTES}\r\n\r\n".encode()
CATEGORIES = {
    "allowed": "allowed 200/201/202/206",
    "denied": "denied by policy 403/400",
    "challenged": "challenged 401",
    "refused": "refused before policy 403",
    "malformed": "malformed client rejected 400/405/431",
    "disconnect": "client disconnected mid-body",
    "setup": "setup (push of the pulled image)",
}


# -- requests ------------------------------------------------------------------------------------------------

class Markers:
    """One loopback source address per request, 127.a.b.c with a >= 1 and c in 1..254: 127.0.0.1 (the aws
    CLI, the stand-ins) is never one, so every other audit line names the request that caused it."""

    def __init__(self):
        self._next = itertools.count()

    def take(self) -> str:
        n = next(self._next)
        return f"127.{1 + n // (254 * 256) % 254}.{n // 254 % 256}.{1 + n % 254}"


@dataclass(frozen=True)
class Kind:
    """What one kind of request must get: outcomes at any time, audit lines and their decision, and the
    stand-in it reaches (`registry`/`moto`; `None` when the proxy answers itself)."""

    name: str
    family: str
    want: tuple = ("200",)
    lines: int = 1
    decision: str | None = "Allow"
    upstream: str | None = None


@dataclass(slots=True)
class Shot:
    """One request the soak made and what became of it."""

    kind: Kind
    marker: str
    t0: float
    t1: float = 0.0
    outcome: str = ""
    detail: str = ""
    ok: bool = False


class ConnectFailed(Exception):
    """The CONNECT of a request meant to reach the inner HTTP stage was not answered 200."""


def attempt(shot: Shot, action) -> Shot:
    """Runs `action(shot)`, which returns the outcome label; an exception becomes one."""
    try:
        shot.outcome = action(shot)
    except ConnectFailed as e:
        shot.outcome, shot.detail = f"CONNECT {e}", "CONNECT not answered 200"
    except ConnectionRefusedError as e:  # the proxy's own listener: never part of an outage
        shot.outcome, shot.detail = "proxy refused the connection", repr(e)
    except TimeoutError as e:
        shot.outcome, shot.detail = "timeout", repr(e)
    except (ConnectionError, http.client.IncompleteRead, ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
        shot.outcome, shot.detail = "cut", repr(e)
    except Exception as e:  # noqa: BLE001 - every failure is an outcome to count
        shot.outcome, shot.detail = f"error {type(e).__name__}", repr(e)
    shot.t1 = time.monotonic()
    return shot


def connect_head(host: str, port: int = 443) -> bytes:
    return f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def read_head(sock, limit: int = 65536) -> bytes:
    """Reads until the end of a response head, EOF, or `limit` bytes; a connection closed without TLS
    close_notify reads as EOF."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            break
        if not chunk:
            break
        data += chunk
    return data


def status_of(head: bytes) -> str:
    """The status code of a response head, or `closed` when nothing came back."""
    parts = head.split(b" ", 2)
    return parts[1].decode(errors="replace") if head.startswith(b"HTTP/") and len(parts) > 1 else "closed"


def basic(persona) -> str:
    return "Basic " + base64.b64encode(f"{persona.registry_user}:{persona.token}".encode()).decode()


def ecr_api_headers(operation: str, body: bytes, persona) -> dict:
    """An ECR JSON API request's headers, SigV4-signed with the persona's key as the aws CLI signs."""
    request = AWSRequest("POST", f"https://{API_HOST}/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AmazonEC2ContainerRegistry_V20150921.{operation}",
    })
    SigV4Auth(Credentials(persona.key_id, persona.secret), "ecr", REGION).add_auth(request)
    return dict(request.headers.items())


def presigned(path: str) -> str:
    """`path` on the layer bucket with a SigV4 query signature (DEV's key), as ECR's layer redirects are."""
    request = AWSRequest("GET", f"https://{BUCKET_HOST}{path}")
    S3SigV4QueryAuth(Credentials(DEV.key_id, DEV.secret), "s3", REGION, expires=900).add_auth(request)
    parts = urlsplit(request.url)
    return f"{parts.path}?{parts.query}"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def label(shot: Shot, service: str, method: str, response, body: bytes, needle: str | None = None) -> str:
    """The outcome of an answered request: its status, unless the proxy's own answer is not in the
    service's shape or lacks the words it must carry. The start of an error body is kept as the detail."""
    status = response.status
    if status >= 400:
        shot.detail = repr(body[:200])
    mark = SHAPES.get((service, status))
    if status == 401 and not response.getheader("WWW-Authenticate"):
        return "401 without a challenge"
    if method != "HEAD" and mark and mark not in body:
        return f"{status} not in the shape of {service}"
    if needle and needle.encode() not in body:
        return f"{status} without {needle!r}"
    return str(status)


class Client:
    """Connections to the proxy's CONNECT listener from a chosen source address, TLS trusting its CA."""

    def __init__(self, proxy):
        self.port = proxy.port
        self.ctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.markers = Markers()

    def open(self, marker: str) -> socket.socket:
        sock = socket.socket()
        sock.settimeout(CLIENT_TIMEOUT)
        try:
            sock.bind((marker, 0))
            sock.connect(("127.0.0.1", self.port))
        except BaseException:
            sock.close()
            raise
        return sock

    def tunnel(self, marker: str, host: str, port: int = 443, dribble: float = 0.0) -> tuple[socket.socket, str]:
        """A CONNECT (its head one byte per `dribble` s when set); returns the socket and the status."""
        sock = self.open(marker)
        try:
            head = connect_head(host, port)
            if dribble:
                for byte in head:
                    sock.sendall(bytes([byte]))
                    time.sleep(dribble)
            else:
                sock.sendall(head)
            return sock, status_of(read_head(sock))
        except BaseException:
            sock.close()
            raise

    def tls(self, marker: str, host: str, sni: str | None = None, dribble: float = 0.0) -> ssl.SSLSocket:
        sock, status = self.tunnel(marker, host, dribble=dribble)
        if status != "200":
            sock.close()
            raise ConnectFailed(status)
        return self.ctx.wrap_socket(sock, server_hostname=sni or host)

    def http(self, marker: str, host: str, dribble: float = 0.0) -> http.client.HTTPSConnection:
        conn = http.client.HTTPSConnection(host, timeout=CLIENT_TIMEOUT)
        conn.sock = self.tls(marker, host, dribble=dribble)
        return conn

    def fetch(self, marker, host, method, path, headers=None, body=None, dribble=0.0):
        """One request on its own connection (a `Host` in `headers` replaces the tunnel's); returns the
        response and its whole body."""
        conn = self.http(marker, host, dribble)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()


@dataclass
class Image:
    """What the load pulls and pushes: `app:v1` (a 4 MiB layer), and a pool of small blobs to push."""

    layer: bytes
    digest: str
    pushes: list


class Load:
    """Every kind of request the soak makes; each method makes one (or a push's two) and returns the shots.
    Variants rotate per kind, so every variant runs in every run of a minute or more."""

    def __init__(self, client: Client):
        self.c = client
        self.image: Image | None = None  # set once `push_image` pushed it
        self._turns = defaultdict(itertools.count)

    def turn(self, name: str, options: list):
        return options[next(self._turns[name]) % len(options)]

    def one(self, kind: Kind, action, t0: float = 0.0) -> Shot:
        shot = Shot(kind, self.c.markers.take(), t0 or time.monotonic())
        return attempt(shot, action)

    # -- helpers that make one request and label it
    def dkr(self, shot, method, path, persona=DEV, host=OWN_REGISTRY, headers=None, body=None, dribble=0.0):
        """A registry request as `persona` (`None`: no credentials); returns the response and its body."""
        headers = dict(headers or {})
        if persona is not None:
            headers["Authorization"] = basic(persona)
        return self.c.fetch(shot.marker, host, method, path, headers, body, dribble)

    def registry(self, shot, method, path, needle=None, **kw) -> str:
        return label(shot, "ecr.dkr", method, *self.dkr(shot, method, path, **kw), needle)

    def api(self, shot, operation, payload: dict, persona=DEV, needle=None) -> str:
        body = json.dumps(payload).encode()
        headers = ecr_api_headers(operation, body, persona)
        return label(shot, "ecr.api", "POST", *self.c.fetch(shot.marker, API_HOST, "POST", "/", headers, body), needle)

    # -- the everyday mix
    def ping(self) -> list:
        kind = Kind("registry GET /v2/", "allowed", upstream="registry")
        return [self.one(kind, lambda s: self.registry(s, "GET", "/v2/"))]

    def manifest(self) -> list:
        method = self.turn("manifest", ["HEAD", "GET"])
        kind = Kind(f"manifest {method}", "allowed", upstream="registry")
        accept = {"Accept": MANIFEST_TYPE}
        return [self.one(kind, lambda s: self.registry(s, method, "/v2/app/manifests/v1", headers=accept))]

    def blob(self) -> list:
        ranged = self.turn("blob", [False, False, True])
        kind = Kind("blob pull, Range" if ranged else "blob pull, 4 MiB", "allowed",
                    want=("206",) if ranged else ("200",), upstream="registry")

        def pull(shot):
            headers = {"Range": f"bytes=0-{RANGE_BYTES - 1}"} if ranged else {}
            response, body = self.dkr(shot, "GET", f"/v2/app/blobs/{self.image.digest}", headers=headers)
            expected = self.image.layer[:RANGE_BYTES] if ranged else self.image.layer
            if response.status in (200, 206) and body != expected:
                return f"{response.status} with other bytes than pushed"
            return label(shot, "ecr.dkr", "GET", response, body)

        return [self.one(kind, pull)]

    def ecr_api(self) -> list:
        operation, payload = self.turn("ecr_api", [
            ("DescribeRepositories", {"repositoryNames": ["app"]}), ("GetAuthorizationToken", {})])
        kind = Kind(f"ecr.api {operation}", "allowed", upstream="moto")

        def call(shot):
            outcome = self.api(shot, operation, payload)
            # moto restarted (it keeps nothing) and the repositories not re-seeded yet
            return "emptied" if "RepositoryNotFoundException" in shot.detail else outcome

        return [self.one(kind, call)]

    def s3_get(self) -> list:
        kind = Kind("s3 GetObject, presigned (layer bucket)", "allowed", upstream="moto")

        def get(shot):
            response, body = self.c.fetch(shot.marker, BUCKET_HOST, "GET", presigned(f"/{PROBE_KEY}"))
            if response.status == 404 and b"<Code>NoSuch" in body:
                return "emptied"  # moto restarted (it keeps nothing) and not re-seeded yet
            if response.status == 200 and body != PROBE:
                return "200 with other bytes than seeded"
            return label(shot, "s3", "GET", response, body)

        return [self.one(kind, get)]

    def push(self, family="allowed", name="blob push", data=None, repository="soak") -> list:
        """A monolithic blob upload: POST for a session, then PUT the blob with `?digest=`. The PUT counts
        from the POST, since an outage between the two loses the session."""
        data = data or self.turn("push", self.image.pushes)
        start, location = self.start_upload(Kind(f"{name}: POST", family, want=("202",), upstream="registry"),
                                            repository)
        if location is None:
            return [start]
        kind = Kind(f"{name}: PUT", family, want=("201",), upstream="registry")

        def put(shot):
            response, body = self.dkr(shot, "PUT", upload_target(location, data), headers=OCTETS, body=data)
            if response.status in (400, 404) and b"BLOB_UPLOAD_" in body:
                return "upload-lost"
            return label(shot, "ecr.dkr", "PUT", response, body)

        return [start, self.one(kind, put, t0=start.t0)]

    def start_upload(self, kind: Kind, repository="soak") -> tuple[Shot, str | None]:
        location = []

        def post(shot):
            response, body = self.dkr(shot, "POST", f"/v2/{repository}/blobs/uploads/")
            if response.status == 202:
                location.append(response.getheader("Location", ""))
            return label(shot, "ecr.dkr", "POST", response, body)

        shot = self.one(kind, post)
        return shot, (location[0] if shot.outcome == "202" and location else None)

    def denied(self) -> list:
        manifest = "/v2/app/manifests/v1"
        name, want, decision, action = self.turn("denied", [
            ("denied: another account's registry", "403", "ImplicitDeny",
             lambda s: self.registry(s, "GET", manifest, host=FOREIGN_REGISTRY, needle=NO_ENDPOINT_ALLOW)),
            ("denied: outsider's manifest GET", "403", "ImplicitDeny",
             lambda s: self.registry(s, "GET", manifest, persona=OUTSIDER, needle=NO_ENDPOINT_ALLOW)),
            ("denied: DeleteRepository base-image3", "400", "ExplicitDeny",
             lambda s: self.api(s, "DeleteRepository", {"repositoryName": "base-image3"}, needle=EXPLICIT_DENY)),
            ("denied: s3 PutObject", "403", "ImplicitDeny", self.s3_put),
        ])
        return [self.one(Kind(name, "denied", want=(want,), decision=decision), action)]

    def s3_put(self, shot) -> str:
        response, body = self.c.fetch(shot.marker, BUCKET_HOST, "PUT", "/soak/put", {}, b"x" * 64)
        return label(shot, "s3", "PUT", response, body, NO_ENDPOINT_ALLOW)

    def challenged(self) -> list:
        method, path = self.turn("challenged", [("GET", "/v2/"), ("HEAD", "/v2/app/manifests/v1")])
        kind = Kind(f"no credentials: {method} {path}", "challenged", want=("401",), decision="Challenged")
        return [self.one(kind, lambda s: self.registry(s, method, path, persona=None))]

    def refused(self) -> list:
        name, want, action = self.turn("refused", [
            ("refused: CONNECT to a host that is no endpoint", "403",
             lambda s: self.connect_status(s, "example.com", 443)),
            ("refused: CONNECT to port 8443", "403", lambda s: self.connect_status(s, OWN_REGISTRY, 8443)),
            ("refused: ClientHello for another host", "cut", self.sni_mismatch),
            ("refused: inner Host of another registry", "403",
             lambda s: self.registry(s, "GET", "/v2/", headers={"Host": FOREIGN_REGISTRY}, needle=REFUSED)),
            ("refused: dot segment in the path", "403",
             lambda s: self.registry(s, "GET", "/v2/app/../other/manifests/v1", needle=REFUSED)),
        ])
        return [self.one(Kind(name, "refused", want=(want,), decision="Refused"), action)]

    def connect_status(self, shot, host, port) -> str:
        sock, status = self.c.tunnel(shot.marker, host, port)
        sock.close()
        return status

    def sni_mismatch(self, shot) -> str:
        self.c.tls(shot.marker, OWN_REGISTRY, sni=API_HOST).close()
        return "TLS accepted"

    # -- the abusive clients
    def malformed(self) -> list:
        name, want, lines, action = self.turn("malformed", [
            ("malformed: binary garbage for CONNECT", ("400",), 0, lambda s: self.raw(s, GARBAGE)),
            ("malformed: plain GET to the proxy", ("405",), 0, lambda s: self.raw(s, PLAIN_GET)),
            ("malformed: CONNECT head of 64 KiB + 1", ("431",), 0, lambda s: self.raw(s, LONG_CONNECT)),
            ("malformed: garbage inner request head", ("400",), 0, lambda s: self.inner(s, GARBAGE)),
            ("malformed: inner head of 64 KiB + 1", ("431",), 1, lambda s: self.inner(s, CAP_INNER)),
            ("malformed: inner head of 256 KiB", ("431", "cut"), 0, lambda s: self.inner(s, LONG_INNER)),
        ])
        decision = "Refused" if lines else None
        return [self.one(Kind(name, "malformed", want=want, lines=lines, decision=decision), action)]

    def raw(self, shot, payload: bytes) -> str:
        sock = self.c.open(shot.marker)
        try:
            sock.sendall(payload)
            return status_of(read_head(sock))
        finally:
            sock.close()

    def inner(self, shot, payload: bytes) -> str:
        tls = self.c.tls(shot.marker, OWN_REGISTRY)
        try:
            tls.sendall(payload)
            return status_of(read_head(tls))
        finally:
            tls.close()

    def slow(self) -> list:
        kinds = [
            (Kind("slow: CONNECT head over 1.5 s, then GET /v2/", "slow", upstream="registry"),
             lambda s: self.registry(s, "GET", "/v2/", dribble=1.5 / len(connect_head(OWN_REGISTRY)))),
            (Kind("slow: slowloris CONNECT head", "slow", want=("408",), lines=0, decision=None), self.slowloris),
            (Kind("slow: inner head stalls", "slow", want=("closed",), lines=0, decision=None),
             lambda s: self.stall(s, f"GET /v2/ HTTP/1.1\r\nHost: {OWN_REGISTRY}\r\n".encode())),
            (Kind("slow: no ClientHello after CONNECT", "slow", want=("closed",), lines=0, decision=None),
             lambda s: self.stall(s, None)),
        ]
        return [self.one(*self.turn("slow", kinds))]

    def slowloris(self, shot) -> str:
        """One byte of a CONNECT head every 0.5 s (at most 24, so it ends) until the proxy answers."""
        sock = self.c.open(shot.marker)
        sock.settimeout(0.5)
        reply = b""
        try:
            for byte in connect_head(OWN_REGISTRY)[:24]:
                sock.sendall(bytes([byte]))
                try:
                    chunk = sock.recv(4096)
                except TimeoutError:
                    continue
                reply += chunk
                if not chunk or b"\r\n\r\n" in reply:
                    break
        finally:
            sock.close()
        return status_of(reply)

    def stall(self, shot, partial: bytes | None) -> str:
        """A tunnel whose client stops: after part of an inner head, or before its ClientHello."""
        if partial is None:
            sock, status = self.c.tunnel(shot.marker, OWN_REGISTRY)
            if status != "200":
                sock.close()
                raise ConnectFailed(status)
        else:
            sock = self.c.tls(shot.marker, OWN_REGISTRY)
            sock.sendall(partial)
        try:
            sock.settimeout(3 * LIMITS["header_read_timeout_secs"])
            return status_of(read_head(sock))
        finally:
            sock.close()

    def disconnect(self) -> list:
        return self.turn("disconnect", [self.cut_download, self.cut_upload])()

    def cut_download(self) -> list:
        kind = Kind("disconnect: blob pull closed after 256 KiB", "disconnect", want=("disconnected",),
                    upstream="registry")

        def pull(shot):
            conn = self.c.http(shot.marker, OWN_REGISTRY)
            try:
                conn.request("GET", f"/v2/app/blobs/{self.image.digest}", headers={"Authorization": basic(DEV)})
                response = conn.getresponse()
                if response.status != 200:
                    return label(shot, "ecr.dkr", "GET", response, response.read())
                response.read(CUT_AFTER)
                return "disconnected"
            finally:
                conn.close()

        return [self.one(kind, pull)]

    def cut_upload(self) -> list:
        start, location = self.start_upload(Kind("disconnect: upload POST", "disconnect", want=("202",),
                                                 upstream="registry"))
        if location is None:
            return [start]
        kind = Kind("disconnect: upload PUT closed after 64 KiB of 256 KiB", "disconnect", want=("disconnected",),
                    upstream="registry")
        data = os.urandom(UPLOAD_DECLARED)

        def put(shot):
            tls = self.c.tls(shot.marker, OWN_REGISTRY)
            try:
                head = (f"PUT {upload_target(location, data)} HTTP/1.1\r\nHost: {OWN_REGISTRY}\r\n"
                        f"Authorization: {basic(DEV)}\r\nContent-Type: application/octet-stream\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n").encode()
                tls.sendall(head + data[: len(data) // 4])
                time.sleep(0.2)  # the proxy has read the head: the cut is mid-body, not mid-head
                return "disconnected"
            finally:
                tls.close()

        return [start, self.one(kind, put, t0=start.t0)]


def upload_target(location: str, data: bytes) -> str:
    """The PUT target of an upload session's Location (absolute or not), with the blob's digest."""
    parts = urlsplit(location)
    query = f"{parts.query}&" if parts.query else ""
    return f"{parts.path}?{query}digest={digest_of(data).replace(':', '%3A')}"


#: The everyday mix (three workers) and the abusive clients (one), in the order each worker runs them.
EVERYDAY = ["ping", "manifest", "blob", "ecr_api", "push", "denied", "manifest", "s3_get", "challenged",
            "ping", "denied", "blob", "manifest", "ecr_api", "push", "refused"]
ABUSIVE = ["malformed", "disconnect", "slow", "refused", "malformed", "disconnect", "denied", "challenged"]


def worker(load: Load, cycle: list, deadline: float, stop: threading.Event, shots: list, problems: list) -> None:
    """Runs `cycle` (names of `Load` methods) over and over until the deadline."""
    for name in itertools.cycle(cycle):
        if stop.is_set() or time.monotonic() >= deadline:
            return
        try:
            shots.extend(getattr(load, name)())
        except Exception as e:  # noqa: BLE001 - a fault of the soak itself, not an outcome: reported
            problems.append(f"load {name}: {e!r}")


# -- the world ----------------------------------------------------------------------------------------------

def start_proxy(lab: Lab, registry) -> OpsProxy:
    """The soak's proxy: story principals and policies, admin listener, the fs registry behind ecr.dkr."""
    policies = {"ecr.api": ORG_POLICY, "ecr.dkr": ORG_POLICY, "s3": S3_POLICY}
    principals = [p.principal() for p in PERSONAS]
    return lab._own(OpsProxy(lab.dir, "proxy-soak", policies, principals, lab.routes(registry), lab.ca.cert_path,
                             limits=LIMITS))


def seed_moto(moto, restarted: bool) -> None:
    """The object the S3 load reads; moto keeps everything in memory, so after a restart first the layer
    bucket and the repositories the lab seeds."""
    if restarted:
        moto.seed(REPOSITORIES)
    moto.client("s3").put_object(Bucket=LAYER_BUCKET, Key=PROBE_KEY, Body=PROBE)


def push_image(load: Load) -> tuple[Image, list]:
    """Pushes `app:v1` (config, 4 MiB layer, manifest) through the proxy; returns it and the setup shots."""
    layer, config = os.urandom(PULL_BYTES), b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
    shots = [shot for data in (layer, config) for shot in load.push("setup", "setup push", data, "app")]

    def descriptor(media_type, data):
        return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    }).encode()
    kind = Kind("setup: manifest PUT", "setup", want=("201",), upstream="registry")
    put = {"Content-Type": MANIFEST_TYPE}
    shots.append(load.one(kind, lambda s: load.registry(s, "PUT", "/v2/app/manifests/v1", headers=put, body=manifest)))
    pool = [os.urandom(PUSH_BYTES) for _ in range(PUSH_POOL)]
    return Image(layer, digest_of(layer), pool), shots


# -- the operator -------------------------------------------------------------------------------------------

def until(predicate, timeout: float) -> bool:
    """Polls `predicate` every 0.1 s for up to `timeout` s; an exception counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - e.g. /healthz not answering yet
            pass
        time.sleep(0.1)
    return False


def policy_variants() -> list[str]:
    """Two valid endpoint policies that decide every request of the load alike (the second has the
    statements reversed and one more Deny on an action the load never asks for), and an invalid one."""
    first = ORG_POLICY.read_text()
    document = json.loads(first)
    document["Statement"] = list(reversed(document["Statement"])) + [{
        "Sid": "SoakNeverAsked", "Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteLifecyclePolicy",
        "Resource": "arn:aws:ecr:us-east-1:123456789123:repository/soak-never-asked",
    }]
    return [first, json.dumps(document, indent=1) + "\n", first[: len(first) // 2]]


class Operator:
    """What an operator does to the running proxy, each action on its own timer; each records what went
    wrong in `problems` and what it did in `done`."""

    def __init__(self, lab: Lab, proxy: OpsProxy, registry, problems: list):
        self.lab, self.proxy, self.registry, self.problems = lab, proxy, registry, problems
        self.policies = policy_variants()
        self.written = {"ecr.api": 0, "ecr.dkr": 0}
        self.done = Counter()
        self.windows = {"registry": [], "moto": []}
        self.rotated = 0

    def start(self, stop: threading.Event) -> list:
        timers = [(RELOAD_EVERY, self.reload), (ROTATE_EVERY, self.rotate), (HUP_EVERY, self.hangup),
                  (OUTAGE_EVERY, self.outage)]
        return [every(interval, action, stop, self.problems) for interval, action in timers]

    def reload(self) -> None:
        self.done["policy writes"] += 1
        service = ("ecr.dkr", "ecr.api")[self.done["policy writes"] % 2]
        if self.done["policy writes"] % INVALID_EVERY == 0:
            self.write_invalid(service)
        else:
            self.write_valid(service)

    def write_valid(self, service: str) -> None:
        variant = 1 - self.written[service]
        text = self.policies[variant]
        write_atomically(self.proxy.policy_path(service), text)
        self.written[service] = variant
        sha = hashlib.sha256(text.encode()).hexdigest()
        if until(lambda: self.health()["policies"][service]["sha256"] == sha, 5):
            self.done["reloads applied"] += 1
        else:
            self.problems.append(f"reload: {service} policy rewritten, not in force on /healthz within 5 s")

    def write_invalid(self, service: str) -> None:
        before = self.health()
        path = self.proxy.policy_path(service)
        write_atomically(path, self.policies[2])

        def reported():
            health = self.health()
            error = health["last_reload_error"] or ""
            return health["failed_reloads"] > before["failed_reloads"] and path.name in error

        if not until(reported, 5):
            self.problems.append(f"reload: invalid {service} policy not reported on /healthz within 5 s")
        elif self.health()["policies"][service]["sha256"] != before["policies"][service]["sha256"]:
            self.problems.append(f"reload: invalid {service} policy replaced the one in force")
        else:
            self.done["invalid reloads refused and reported"] += 1
        time.sleep(1.0)  # the load keeps running under the old policy meanwhile
        self.write_valid(service)
        if not until(lambda: self.health()["last_reload_error"] is None, 5):
            self.problems.append(f"reload: /healthz still reports an error after {service} was fixed")

    def rotate(self) -> None:
        """logrotate's way: rename the file, then SIGHUP, and the proxy reopens it by name, 0600."""
        audit = self.proxy.audit
        if audit.exists():
            self.rotated += 1
            os.rename(audit, audit.with_name(f"{audit.name}.{self.rotated}"))
        os.kill(self.proxy.proc.pid, signal.SIGHUP)
        if not until(audit.exists, 5):
            self.problems.append("rotation: audit file not reopened within 5 s of SIGHUP")
        elif stat.S_IMODE(audit.stat().st_mode) != 0o600:
            self.problems.append(f"rotation: reopened audit file has mode {oct(audit.stat().st_mode)}")
        else:
            self.done["audit rotations"] += 1

    def hangup(self) -> None:
        os.kill(self.proxy.proc.pid, signal.SIGHUP)
        self.done["SIGHUPs (besides rotations)"] += 1

    def outage(self) -> None:
        """Stops the registry or moto (in turn) for OUTAGE_DOWN s and starts it again on its port."""
        name = ("registry", "moto")[self.done["outages"] % 2]
        self.done["outages"] += 1
        target = self.registry if name == "registry" else self.lab.moto
        began = time.monotonic()
        try:
            target.proc.restart(down_for=OUTAGE_DOWN)
            wait_port(target.port, target.proc, timeout=60)
            if name == "moto":
                seed_moto(target, restarted=True)
            self.done[f"outages of {name}"] += 1
        finally:
            self.windows[name].append((began, time.monotonic() + OUTAGE_GRACE))

    def health(self) -> dict:
        return self.proxy.healthz()

    def overlaps_outage(self, shot: Shot) -> bool:
        windows = self.windows.get(shot.kind.upstream or "", [])
        return any(shot.t0 <= end and shot.t1 >= begin for begin, end in windows)


def every(interval: float, action, stop: threading.Event, problems: list) -> threading.Thread:
    def loop():
        while not stop.wait(interval):
            try:
                action()
            except Exception as e:  # noqa: BLE001 - reported, and the soak fails
                problems.append(f"{action.__name__}: {e!r}")

    thread = threading.Thread(target=loop, name=action.__name__, daemon=True)
    thread.start()
    return thread


# -- accounting ---------------------------------------------------------------------------------------------

@dataclass
class Sample:
    """The proxy's resident memory and open descriptors at one moment."""

    when: str
    rss_kb: int
    fds: int


def sample(proxy, when: str) -> Sample:
    return Sample(when, proxy.proc.rss_kb(), proxy.proc.open_fds())


@dataclass
class Audit:
    """Every audit line of every rotated file, by source address (decisions in file order)."""

    files: int
    lines: int
    unparsable: int
    by_marker: dict


def read_audit(proxy) -> Audit:
    files = sorted(proxy.audit.parent.glob(proxy.audit.name + "*"))
    by_marker, lines, bad = defaultdict(list), 0, 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            lines += 1
            try:
                record = json.loads(line)
                by_marker[record["sourceIPAddress"]].append(record["decision"])
            except (ValueError, KeyError, TypeError):
                bad += 1
    return Audit(len(files), lines, bad, by_marker)


@dataclass
class Matching:
    expected: int
    lost: list
    extra: list
    wrong_decision: list
    unattributed: int
    cli: tuple


def match(shots: list, audit: Audit, cli_calls: int) -> Matching:
    lost, extra, wrong = [], [], []
    for shot in shots:
        found = audit.by_marker.get(shot.marker, [])
        if len(found) < shot.kind.lines:
            lost.append(shot)
        elif len(found) > shot.kind.lines:
            extra.append(shot)
        elif shot.kind.decision and found and found[0] != shot.kind.decision:
            wrong.append((shot, found[0]))
    known = {s.marker for s in shots} | {"127.0.0.1"}
    unattributed = sum(len(v) for k, v in audit.by_marker.items() if k not in known)
    cli = (cli_calls, len(audit.by_marker.get("127.0.0.1", [])))
    return Matching(sum(s.kind.lines for s in shots), lost, extra, wrong, unattributed, cli)


def settled(proxy, shots: list, cli_calls: int) -> tuple[Audit, Matching]:
    """The audit lines once every expected one is written, or as they are after SETTLE_SECS (a line is
    written when its response body is dropped, which may trail the client's close)."""
    deadline = time.monotonic() + SETTLE_SECS
    while True:
        audit = read_audit(proxy)
        matching = match(shots, audit, cli_calls)
        complete = not matching.lost and matching.cli[0] == matching.cli[1]
        if complete or time.monotonic() >= deadline:
            return audit, matching
        time.sleep(0.5)


def category(shot: Shot) -> str:
    if not shot.ok:
        return "UNEXPECTED"
    if shot.outcome not in shot.kind.want:
        return "bad gateway 502 while its upstream was down" if shot.outcome == "502" else \
            "cut or emptied by an upstream restart"
    if shot.kind.family == "slow":
        return "slow client served" if shot.outcome == "200" else "slow client cut off (408/closed)"
    return CATEGORIES[shot.kind.family]


def outcomes_text(counter: Counter) -> str:
    return " ".join(f"{outcome}×{n}" for outcome, n in counter.most_common())


# -- the run ------------------------------------------------------------------------------------------------

class Soak:
    """One run: the world, the load and the operator for `minutes`, then the report and its verdict."""

    def __init__(self, lab: Lab, minutes: float):
        self.lab, self.seconds = lab, minutes * 60.0
        self.problems: list[str] = []
        self.shots: list[Shot] = []
        self.samples: dict[str, Sample] = {}
        self.trend: list[int] = []  # RSS every tenth of the run, to tell a climb from a step
        self.cli_calls = 0

    def run(self) -> int:
        self.registry = self.lab.fs_registry()
        seed_moto(self.lab.moto, restarted=False)
        self.proxy = start_proxy(self.lab, self.registry)
        load = Load(Client(self.proxy))
        load.image, setup = push_image(load)
        self.shots += setup
        failed = [s for s in setup if s.outcome not in s.kind.want]
        if failed:
            print("soak: setup failed: " + "; ".join(f"{s.kind.name}: {s.outcome} {s.detail}" for s in failed))
            return 1
        self.aws_cli()
        self.operator = Operator(self.lab, self.proxy, self.registry, self.problems)
        self.load(load)
        self.aws_cli()
        return self.report()

    def aws_cli(self) -> None:
        """The real aws CLI once (`get-login-password`, whose token the proxy learns): its one request is
        the only audit line from 127.0.0.1."""
        self.cli_calls += 1
        result = clients.aws(self.proxy, DEV, ["ecr", "get-login-password"])
        if result.returncode != 0:
            self.problems.append(f"aws ecr get-login-password failed: {clients.text(result).strip()[-300:]}")

    def load(self, load: Load) -> None:
        print(f"soak: {self.seconds / 60:g} min, {WORKERS} workers; proxy pid {self.proxy.proc.pid}, "
              f"temp dir {self.lab.dir}", flush=True)
        stop = threading.Event()
        started = time.monotonic()
        deadline = started + self.seconds
        cycles = [EVERYDAY] * (WORKERS - 1) + [ABUSIVE]
        args = (deadline, stop, self.shots, self.problems)
        workers = [threading.Thread(target=worker, args=(load, cycle, *args), daemon=True) for cycle in cycles]
        for thread in workers:
            thread.start()
        timers = self.operator.start(stop)
        warm_up = started + min(max(0.15 * self.seconds, 5.0), 60.0)
        marks = [(warm_up, "start"), (started + self.seconds / 2, "middle")]
        next_tenth = started
        while time.monotonic() < deadline and self.proxy_alive():
            if marks and time.monotonic() >= marks[0][0]:
                when = marks.pop(0)[1]
                self.samples[when] = sample(self.proxy, when)
                print(f"soak: {self.samples_line()}", flush=True)
            if time.monotonic() >= next_tenth:
                self.trend.append(self.proxy.proc.rss_kb())
                next_tenth += self.seconds / 10
            time.sleep(0.5)
        stop.set()
        for thread in workers + timers:
            thread.join(CLIENT_TIMEOUT + 90)
            if thread.is_alive():
                self.problems.append(f"thread {thread.name} did not end")

    def proxy_alive(self) -> bool:
        code = self.proxy.proc.popen.poll()
        if code is not None and not any("proxy exited" in p for p in self.problems):
            self.problems.append(f"proxy exited with {code}; see {self.proxy.proc.log}")
        return code is None

    def samples_line(self) -> str:
        return ", ".join(f"{s.when}: RSS {s.rss_kb / 1024:.1f} MiB, {s.fds} fds" for s in self.samples.values())

    def report(self) -> int:
        drained = until(lambda: self.proxy.healthz()["active_connections"] == 0, SETTLE_SECS)
        audit, matching = settled(self.proxy, self.shots, self.cli_calls)
        alive = self.proxy_alive()
        self.samples["end"] = sample(self.proxy, "end")
        for shot in self.shots:
            shot.ok = shot.outcome in shot.kind.want or (
                shot.outcome in OUTAGE_OUTCOMES and self.operator.overlaps_outage(shot))
        self.print_kinds(audit)
        self.print_categories()
        failures = [f"{p} (x{n})" if n > 1 else p for p, n in Counter(self.problems).items()]
        failures += self.print_unexpected()
        failures += self.print_operator()
        failures += self.print_resources(drained, alive)
        failures += self.print_audit(audit, matching)
        print("soak: PASS" if not failures else "soak: FAIL\n  " + "\n  ".join(failures))
        return 1 if failures else 0

    def print_kinds(self, audit: Audit) -> None:
        by_kind = defaultdict(list)
        for shot in self.shots:
            by_kind[shot.kind.name].append(shot)
        width = max(len(k) for k in by_kind)
        print(f"\n{'request kind':<{width}}  {'count':>6}  {'audit lines exp/found':>21}  outcomes")
        for name, shots in by_kind.items():
            expected = sum(s.kind.lines for s in shots)
            found = sum(len(audit.by_marker.get(s.marker, [])) for s in shots)
            outcomes = outcomes_text(Counter(s.outcome for s in shots))
            print(f"{name:<{width}}  {len(shots):>6}  {f'{expected}/{found}':>21}  {outcomes}")

    def print_categories(self) -> None:
        counts = Counter(category(s) for s in self.shots)
        print(f"\n{'outcome':<46}  {'requests':>8}")
        for name, n in sorted(counts.items(), key=lambda kv: (kv[0] == "UNEXPECTED", -kv[1])):
            print(f"{name:<46}  {n:>8}")
        print(f"{'total':<46}  {len(self.shots):>8}")

    def print_unexpected(self) -> list:
        bad = [s for s in self.shots if not s.ok]
        if not bad:
            return []
        print("\nunexpected outcomes (first 8):")
        for shot in bad[:8]:
            print(f"  {shot.kind.name}: {shot.outcome} {shot.detail[:160]} (from {shot.marker})")
        return [f"{len(bad)} request(s) with an unexpected outcome"]

    def print_operator(self) -> list:
        done = self.operator.done
        windows = self.operator.windows
        down = sum(end - begin - OUTAGE_GRACE for w in windows.values() for begin, end in w)
        print(f"\noperator: {done['reloads applied']} policy reloads applied, "
              f"{done['invalid reloads refused and reported']} invalid policies refused and reported on /healthz, "
              f"{done['audit rotations']} audit rotations, {done['SIGHUPs (besides rotations)']} more SIGHUPs, "
              f"{done['outages of registry']} registry and {done['outages of moto']} moto restarts "
              f"({down:.0f} s down in all)")
        return []

    def print_resources(self, drained: bool, alive: bool) -> list:
        start, middle, end = (self.samples.get(k) for k in ("start", "middle", "end"))
        print(f"proxy: {self.samples_line()}")
        print("proxy: RSS every tenth of the run (MiB): " + " ".join(f"{kb / 1024:.1f}" for kb in self.trend))
        if not (start and middle and end):
            return ["the soak ended before the RSS and fd samples were taken"]
        rss_bound = (1 + RSS_GROWTH) * middle.rss_kb + RSS_ALLOWANCE_KIB
        fd_bound = start.fds + FD_ALLOWANCE
        print(f"bounds: end RSS <= {1 + RSS_GROWTH:g} x middle + {RSS_ALLOWANCE_KIB // 1024} MiB = "
              f"{rss_bound / 1024:.1f} MiB; end fds <= start + {FD_ALLOWANCE} = {fd_bound}; "
              f"active connections back to 0: {'yes' if drained else 'NO'}")
        failures = []
        if end.rss_kb > rss_bound:
            failures.append(f"RSS grew from {middle.rss_kb} KiB (middle) to {end.rss_kb} KiB (end)")
        if end.fds > fd_bound:
            failures.append(f"open fds grew from {start.fds} (start) to {end.fds} (end)")
        if not drained:
            failures.append(f"/healthz active_connections not 0 within {SETTLE_SECS:g} s of the load's end")
        if not alive:
            failures.append("the proxy exited")
        return failures

    def print_audit(self, audit: Audit, m: Matching) -> list:
        print(f"audit: {audit.lines} lines in {audit.files} files (rotated and current); soak requests: "
              f"{m.expected} lines expected, {len(m.lost)} lost, {len(m.extra)} with extra lines, "
              f"{len(m.wrong_decision)} with another decision; aws CLI: {m.cli[0]} expected, {m.cli[1]} found; "
              f"unattributed {m.unattributed}, unparsable {audit.unparsable}")
        failures = []
        for what, items in (("lost", m.lost), ("extra", m.extra)):
            if items:
                examples = ", ".join(f"{s.kind.name} ({s.outcome}) from {s.marker}" for s in items[:3])
                failures.append(f"{len(items)} request(s) with {what} audit lines, e.g. {examples}")
        if m.wrong_decision:
            examples = ", ".join(f"{s.kind.name}: {d} not {s.kind.decision}" for s, d in m.wrong_decision[:3])
            failures.append(f"{len(m.wrong_decision)} audit line(s) with another decision, e.g. {examples}")
        if m.cli[0] != m.cli[1]:
            failures.append(f"aws CLI: {m.cli[0]} audit line(s) expected from 127.0.0.1, {m.cli[1]} found")
        if m.unattributed or audit.unparsable:
            failures.append(f"{m.unattributed} unattributed and {audit.unparsable} unparsable audit line(s)")
        return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("minutes", type=float, help="how long the load runs, in minutes (e.g. 1 for CI, 30)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, audit files)")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error("MINUTES must be positive")
    lab = Lab(keep=args.keep)
    try:
        return Soak(lab, args.minutes).run()
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
