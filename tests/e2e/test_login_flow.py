"""The real login flow (ARCHITECTURE.md §5): `aws ecr get-login-password` through the proxy teaches it
which principal the returned registry token belongs to, and every later registry request made with that
token is decided as that principal. No static registry token for it is configured anywhere.

moto's GetAuthorizationToken answers with the same password for every caller of an account
(`ACCOUNT-auth-token`) and, as shipped, with an `expiresAt` in 2015; `lab.moto_server` mends the expiry,
which is why this flow can run at all.
"""

from types import SimpleNamespace

from lab import clients
from lab.standins import MOTO_LOGIN, Moto
from lab.world import API_HOST, DEV, FOREIGN_REGISTRY, MEMBER, ORG_POLICY, OWN_REGISTRY

USER = "User: arn:aws:iam::123456789123:user/dev is not authorized to perform:"


def login_password(proxy, persona=DEV) -> str:
    result = clients.aws(proxy, persona, ["ecr", "get-login-password"])
    assert result.returncode == 0, clients.text(result)
    return result.stdout.decode().strip()


def registry_principals(proxy, repository: str) -> set:
    """The principals of the proxy's ecr.dkr decisions on one repository, from its audit log."""
    return {
        r["userIdentity"]["arn"]
        for r in proxy.audit_records()
        if r.get("service") == "ecr.dkr" and any(repository in res["ARN"] for res in r.get("resources", []))
    }


def test_skopeo_with_the_learned_token_pushes_and_pulls_as_the_principal_that_logged_in(lab, stories):
    token = login_password(lab.proxy)
    assert token == MOTO_LOGIN[1]
    creds = SimpleNamespace(registry_user=MOTO_LOGIN[0], token=token)
    push = clients.skopeo_copy(lab.proxy, stories.image, f"docker://{OWN_REGISTRY}/app:login", dst_persona=creds)
    assert push.returncode == 0, clients.text(push)
    out = f"oci:{stories.work / 'oci-login'}:v1"
    pull = clients.skopeo_copy(lab.proxy, f"docker://{OWN_REGISTRY}/app:login", out, src_persona=creds)
    assert pull.returncode == 0, clients.text(pull)
    assert registry_principals(lab.proxy, "repository/app") >= {DEV.arn}
    assert "anonymous" not in registry_principals(lab.proxy, "repository/app")


def test_docker_login_with_the_learned_token_and_a_denial_that_names_the_principal(lab, stories):
    token = login_password(lab.proxy)
    docker = stories.dockerd()
    login = docker.docker(
        "login", "--username", MOTO_LOGIN[0], "--password-stdin", OWN_REGISTRY, input_bytes=token.encode()
    )
    assert login.returncode == 0 and b"Login Succeeded" in login.stdout, clients.text(login)
    docker.docker("tag", "lab/imported:v1", f"{OWN_REGISTRY}/app:login-docker")
    push = docker.docker("push", f"{OWN_REGISTRY}/app:login-docker")
    assert push.returncode == 0, clients.text(push)
    foreign = docker.docker(
        "login", "--username", MOTO_LOGIN[0], "--password-stdin", FOREIGN_REGISTRY, input_bytes=token.encode()
    )
    assert foreign.returncode == 0, clients.text(foreign)
    docker.docker("tag", "lab/imported:v1", f"{FOREIGN_REGISTRY}/app:login-docker")
    denied = docker.docker("push", f"{FOREIGN_REGISTRY}/app:login-docker")
    text = clients.text(denied)
    assert denied.returncode != 0 and f"denied: {USER}" in text, text


def test_a_token_this_proxy_never_saw_issued_names_nobody(lab, stories):
    """A proxy that did not carry the GetAuthorizationToken call has no binding for the token: its
    requests are `anonymous`, and the org-only policy refuses them."""
    fresh = lab.start_proxy("proxy-never-saw-login", ecr_policy=ORG_POLICY)
    creds = SimpleNamespace(registry_user=MOTO_LOGIN[0], token=MOTO_LOGIN[1])
    out = f"oci:{stories.work / 'oci-never'}:v1"
    pull = clients.skopeo_copy(fresh, f"docker://{OWN_REGISTRY}/app:lab", out, src_persona=creds)
    assert pull.returncode != 0, clients.text(pull)
    assert registry_principals(fresh, "repository/app") == {"anonymous"}


def push_with(proxy, stories, token: str, tag: str):
    creds = SimpleNamespace(registry_user=MOTO_LOGIN[0], token=token)
    return clients.skopeo_copy(proxy, stories.image, f"docker://{OWN_REGISTRY}/app:{tag}", dst_persona=creds)


def test_a_token_issued_already_expired_binds_nobody(lab, stories):
    """ECR's `expiresAt` bounds the binding: a token that GetAuthorizationToken returns already expired
    teaches the proxy nothing, so the registry requests made with it are `anonymous` and refused."""
    moto = lab._own(Moto(lab.dir, lab.cert, lab.key, lab.ca.cert_path, name="moto-expired",
                         expired_keys=[DEV.key_id]))
    routes = [(host, f"127.0.0.1:{moto.port}" if host == API_HOST else to) for host, to in lab.routes()]
    fresh = lab.start_proxy("proxy-expired-token", ecr_policy=ORG_POLICY, routes=routes)
    token = login_password(fresh)
    issued = [r for r in fresh.audit_records() if r.get("eventName") == "GetAuthorizationToken"]
    assert [r["decision"] for r in issued] == ["Allow"], issued
    push = push_with(fresh, stories, token, "expired")
    assert push.returncode != 0 and "403 (Forbidden)" in clients.text(push), clients.text(push)
    assert registry_principals(fresh, "repository/app") == {"anonymous"}


def test_a_token_is_decided_as_the_principal_it_was_issued_to(lab, stories):
    """Whoever presents a token, the registry request is decided as its issuee. moto issues one password per
    account, so a second principal's login re-issues the same password to it: the latest issue wins.
    (skopeo's first request to a repository carries no credentials; it is `anonymous`, ignored here.)"""
    fresh = lab.start_proxy("proxy-token-issuee", ecr_policy=None)
    token = login_password(fresh, MEMBER)
    assert push_with(fresh, stories, token, "issuee-member").returncode == 0
    assert registry_principals(fresh, "repository/app") - {"anonymous"} == {MEMBER.arn}
    assert login_password(fresh, DEV) == token
    before = len(fresh.audit_records())
    assert push_with(fresh, stories, token, "issuee-dev").returncode == 0
    later = fresh.audit_records()[before:]
    assert {r["userIdentity"]["arn"] for r in later if r.get("service") == "ecr.dkr"} - {"anonymous"} == {DEV.arn}
