"""Both published stories again, pulled and pushed by containerd (`ctr`), the client Kubernetes nodes use.

The articles only run docker, so these rows check what a node would see under the same policies: an
allowed pull and push, and a denied one, per story. containerd's first request carries no credentials;
ECR answers it with a Basic challenge before any policy (the `Challenged` audit line), and only the retry
with `--user AWS:$(aws ecr get-login-password)` is decided, as the principal the token was issued to.

containerd 1.6 prints only `unexpected status: 403 Forbidden` for a refused request (and a `HEAD` has no
body at all), so each denied row also prints the audit line's `errorMessage`: that is where a node's
operator reads AWS's message (or `vpce-proxy explain` on the request).
"""

import re
import time
from types import SimpleNamespace

from . import clients
from .containerd import Containerd
from .published import (
    DEVELOPER, EAST, MP_REGISTRY, PROD_REGISTRY, READ_ONLY, ROLE, SELLER, TEST, TEST_REGISTRY, WEST, Published,
    Step, _joined,
)
from .transcript import prose

A, B = "a+containerd: ECR endpoint policies (us-west-2)", "b+containerd: Marketplace-managed ECR (us-east-1)"
SAMPLE = f"{MP_REGISTRY}/len-s-mp/sample-repository"
PROD_REPO = f"{MP_REGISTRY}/len-s-mp/prod-repository"
FORBIDDEN = "containerd 1.6 prints no response body: the AWS message is in the audit line below"
#: What ctr prints for a refused push (after `failed commit on ref ...: ` when the refusal is PutImage).
FORBIDDEN_LINE = r"ctr: (failed commit on ref .*: )?unexpected status: 403 Forbidden"
CHALLENGE = prose(
    "(ECR) a registry request without credentials is answered 401 with a Basic challenge, before any policy",
    r"audit: Challenged - anonymous upstream=None",
    "containerd's first request, a bare manifest HEAD, is never forwarded; its retry carries the token",
)


def _ctr(p: Published, story: str) -> Containerd:
    """Story (a)'s or (b)'s containerd, started on first use, trusting the proxy CA through hosts.toml."""
    cache = p.__dict__.setdefault("_containerd", {})
    if story not in cache:
        proxy, hosts = (p.a().proxy, [PROD_REGISTRY, TEST_REGISTRY]) if story == "a" else (p.b().proxy, [MP_REGISTRY])
        cache[story] = p._own(Containerd(p.lab.dir, proxy, hosts, name=f"containerd-{story}"))
    return cache[story]


def _password(p: Published, proxy, persona, region) -> str:
    """The persona's `get-login-password`, or an error naming why it was refused."""
    out = p.password(proxy, persona, region)
    if out.returncode != 0:
        raise RuntimeError("get-login-password failed: " + clients.text(out))
    return out.stdout.decode().strip()


def _audited(proxy, run):
    """`run()`'s output, then one line per audit record the proxy wrote meanwhile."""
    before = len(proxy.audit_records())
    out = run()
    lines = []
    for r in settled_records(proxy)[before:]:
        line = (f"audit: {r.get('decision')} {r.get('eventName') or '-'} {r['userIdentity']['arn']} "
                f"upstream={r.get('upstreamStatus')}")
        if r.get("decision") not in ("Allow", "Challenged") and r.get("errorMessage"):
            line += f" errorMessage: {r['errorMessage']}"
        lines.append(line)
    audit = SimpleNamespace(returncode=0, stdout=("\n".join(lines) + "\n").encode(), stderr=b"")
    return _joined(out, audit)


def settled_records(proxy) -> list:
    """The audit records once none has been added for 0.2 s (a line is written when its response body is
    done, which can be just after the client exits); bounded at 3 s."""
    records, deadline = proxy.audit_records(), time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = proxy.audit_records()
        if len(again) == len(records):
            break
        records = again
    return records


def _allowed(action, principal, status=r"\d+"):
    return rf"audit: Allow {action} {re.escape(principal)} upstream={status}"


def _denied(action, principal, message):
    return (rf"audit: (Implicit|Explicit)Deny {action} {re.escape(principal)} upstream=None errorMessage: "
            + re.escape(message))


def steps(p: Published) -> list:
    """The containerd rows, after `lab.published.steps` (they pull what those pushed)."""
    return _steps_a(p) + _steps_b(p)


def _run(p: Published, story: str, persona, act):
    """`persona`'s own token through story `story`'s proxy (no static one is configured; moto issues one per
    account, so each row logs in again), then `act(ctr, password)`, audited."""
    proxy, region = (p.a().proxy, WEST) if story == "a" else (p.b().proxy, EAST)
    ctr = _ctr(p, story)
    return _audited(proxy, lambda: act(ctr, _password(p, proxy, persona, region)))


def _a_run(p: Published, act):
    """Story (a): the instance role."""
    return _run(p, "a", ROLE, act)


def _steps_a(p: Published) -> list:
    image1, denied = f"{PROD_REGISTRY}/image1:v1", f"{TEST_REGISTRY}/image1:v1"
    role = ROLE.arn
    why = f"User: {role} is not authorized to perform: ecr:{{0}} on resource: arn:aws:ecr:{WEST}:{TEST}:" \
          "repository/image1 because no VPC endpoint policy allows the ecr:{0} action"
    pull = "ctr images pull --hosts-dir certs.d --user AWS:$(aws ecr get-login-password --region us-west-2)"
    push = pull.replace("pull", "push", 1)
    return [
        Step(A, "node", f"{pull} {image1}", [
            CHALLENGE,
            prose("only an Amazon ECR registry within the account 123456789123 can be accessed",
                  r"unpacking linux/amd64 sha256:[0-9a-f]{64}\.\.\."),
            prose("(the manifest HEAD and GET, decided as the role the token was issued to)",
                  _allowed("BatchGetImage", role, "200")),
            prose("(layers: the registry redirects to the layer bucket)", _allowed("GetDownloadUrlForLayer", role, "307")),
            prose("Amazon ECR uses Amazon S3 to store image layers", _allowed("GetObject", "anonymous", "200")),
        ], lambda: _a_run(p, lambda ctr, pw: ctr.pull(image1, pw))),
        Step(A, "node", f"{pull} {denied}", [
            prose("(a registry outside account 123456789123 is refused)",
                  r"ctr: failed to resolve reference .*: 403 Forbidden",
                  FORBIDDEN),
            prose("(where the message is)", _denied("BatchGetImage", role, why.format("BatchGetImage"))),
        ], lambda: _a_run(p, lambda ctr, pw: ctr.pull(denied, pw))),
        Step(A, "node", f"ctr images tag {image1} {PROD_REGISTRY}/image2:ctr && {push} {PROD_REGISTRY}/image2:ctr", [
            CHALLENGE,
            prose("(a push within account 123456789123)", _allowed("PutImage", role, "201")),
        ], lambda: _a_run(p, lambda ctr, pw: _tag_push(ctr, image1, f"{PROD_REGISTRY}/image2:ctr", pw))),
        Step(A, "node", f"ctr images tag {image1} {TEST_REGISTRY}/image1:ctr && {push} {TEST_REGISTRY}/image1:ctr", [
            prose("(the same push the article shows docker refused)", FORBIDDEN_LINE,
                  FORBIDDEN),
            prose("(where the message is)", _denied("BatchCheckLayerAvailability", role,
                                                    why.format("BatchCheckLayerAvailability"))),
        ], lambda: _a_run(p, lambda ctr, pw: _tag_push(ctr, image1, f"{TEST_REGISTRY}/image1:ctr", pw))),
    ]


def _tag_push(ctr: Containerd, src: str, dst: str, password: str):
    tagged = ctr.tag(src, dst)
    return tagged if tagged.returncode != 0 else ctr.push(dst, password)


def _b_run(p: Published, persona, act):
    """Story (b): the developer or the read-only user."""
    return _run(p, "b", persona, act)


def _b_pull(p: Published, persona, why: str, ref: str, pull: str) -> Step:
    """An allowed `ctr images pull` of story (b) as `persona`, decided as that persona."""
    return Step(B, persona.name, f"{pull} {ref}", [
        CHALLENGE,
        prose(why, r"unpacking linux/amd64 sha256:[0-9a-f]{64}\.\.\."),
        prose(f"(decided as the {persona.name} user)", _allowed("BatchGetImage", persona.arn, "200")),
    ], lambda: _b_run(p, persona, lambda ctr, pw: ctr.pull(ref, pw)))


def _b_push(p: Published, persona, why: str, src: str, dst: str, push: str, action: str, message: str) -> Step:
    """A refused `ctr images push` of story (b): containerd's status line, then the audit line's message."""
    return Step(B, persona.name, f"ctr images tag {src} {dst} && {push} {dst}", [
        prose(why, FORBIDDEN_LINE, FORBIDDEN),
        prose("(where the message is)", _denied(action, persona.arn, message)),
    ], lambda: _b_run(p, persona, lambda ctr, pw: _tag_push(ctr, src, dst, pw)))


def _steps_b(p: Published) -> list:
    v11 = f"{SAMPLE}:v1.1"
    pull = "ctr images pull --hosts-dir certs.d --user AWS:$(aws ecr get-login-password --region us-east-1)"
    push = pull.replace("pull", "push", 1)
    dev, ro = DEVELOPER.arn, READ_ONLY.arn
    prod_arn = f"arn:aws:ecr:{EAST}:{SELLER}:repository/len-s-mp/prod-repository"
    sample_arn = f"arn:aws:ecr:{EAST}:{SELLER}:repository/len-s-mp/sample-repository"
    return [
        _b_pull(p, DEVELOPER, "(the developer has the administrator policy)", v11, pull),
        _b_push(p, DEVELOPER, "(the article's prod-repository denial, word for word, through containerd)", v11,
                f"{PROD_REPO}:ctr", push, "InitiateLayerUpload",
                f"User: {dev} is not authorized to perform: ecr:InitiateLayerUpload on resource: {prod_arn} "
                "because no resource-based policy allows the ecr:InitiateLayerUpload action"),
        _b_pull(p, READ_ONLY, "(the managed repository policy lets the account pull)", v11, pull),
        _b_push(p, READ_ONLY, "(the article's read-only PutImage denial, through containerd)", v11,
                f"{SAMPLE}:ctr", push, "PutImage",
                f"User: {ro} is not authorized to perform: ecr:PutImage on resource: {sample_arn} "
                "with an explicit deny in an identity-based policy"),
    ]
