"""The real login flow (ARCHITECTURE.md §5): `aws ecr get-login-password` through the proxy teaches it
which principal the returned registry token belongs to, and every later registry request made with that
token is decided as that principal. No static registry token for it is configured anywhere.

moto's GetAuthorizationToken answers with the same password for every caller of an account
(`ACCOUNT-auth-token`) and, as shipped, with an `expiresAt` in 2015; `lab.moto_server` mends the expiry,
which is why this flow can run at all.
"""

from types import SimpleNamespace

from lab import clients
from lab.standins import MOTO_LOGIN
from lab.stories import Stories
from lab.world import DEV, FOREIGN_REGISTRY, ORG_POLICY, OWN_REGISTRY

USER = "User: arn:aws:iam::123456789123:user/dev is not authorized to perform:"


def login_password(proxy) -> str:
    result = clients.aws(proxy, DEV, ["ecr", "get-login-password"])
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
