"""The two published articles, line by line: every transcript line they print, next to what the real client
printed here, with the articles' accounts, regions, names and principals (policies/README.md).

(a) AWS Containers blog, "Using VPC endpoint policies to control Amazon ECR access": us-west-2, production
account 123456789123 in organization o-21ej9awi6a, test account 987654321987, repositories image1..image3,
an EC2 instance role recognised by its host's address. The article prints one transcript line; its other
claims (prose) are rows too, each quoting the sentence it checks.

(b) AWS Marketplace blog, "AWS Marketplace managed Amazon ECR": us-east-1, seller account 111111111111,
the developer (the administrator policy attached) and the read-only user, each in their own shell.

Why a module of its own: `lab.stories` runs the lab's broader rows in a us-east-1 world; these rows need
their own stand-ins (a us-west-2 registry, a moto for account 111111111111) and their own proxies.
"""

import hashlib
import json
import re
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from . import clients
from .procs import run
from .proxy import REPO_ROOT, Principal, Proxy, binary
from .standins import Moto, Registry
from .transcript import Line, check_lines, prose, transcript

POLICIES = REPO_ROOT / "policies"
ORG = "o-21ej9awi6a"
WEST = "us-west-2"
PROD = "123456789123"
TEST = "987654321987"
PROD_REGISTRY = f"{PROD}.dkr.ecr.{WEST}.amazonaws.com"
TEST_REGISTRY = f"{TEST}.dkr.ecr.{WEST}.amazonaws.com"
WEST_BUCKET = f"prod-{WEST}-starport-layer-bucket"
EAST = "us-east-1"
SELLER = "111111111111"
MP_REGISTRY = f"{SELLER}.dkr.ecr.{EAST}.amazonaws.com"
EAST_BUCKET = f"prod-{EAST}-starport-layer-bucket"

#: The instance role of story (a). Its session keys rotate, so no key id is configured: the proxy knows it
#: by its host's address, and the key id (ASIA, account 123456789123) only has to be of its account.
ROLE = SimpleNamespace(
    name="instance-role", arn=f"arn:aws:sts::{PROD}:assumed-role/Admin-Access/i-04c4c603bb7b33708",
    key_id="ASIABZPUZDKBVIISEM2E", secret="instance-role-secret", session="instance-role-session",
)
OUTSIDER = SimpleNamespace(
    name="outsider", arn="arn:aws:iam::444455556666:user/outsider", key_id="AKIALABOUTSIDER00001",
    secret="outsider-secret", session=None,
)
DEVELOPER = SimpleNamespace(
    name="developer", arn=f"arn:aws:iam::{SELLER}:user/developer", key_id="AKIALABMPDEV00000001",
    secret="developer-secret", session=None,
)
READ_ONLY = SimpleNamespace(
    name="read-only", arn=f"arn:aws:iam::{SELLER}:user/read-only", key_id="AKIALABMPREAD0000001",
    secret="read-only-secret", session=None,
)

#: Story (b)'s facts: the managed repository policies of the seller's two Marketplace repositories.
MP_FACTS = f"""
[[repository]]
arn = "arn:aws:ecr:{EAST}:{SELLER}:repository/len-s-mp/sample-repository"
policy = "{POLICIES / 'marketplace-seller-repository.json'}"

[[repository]]
arn = "arn:aws:ecr:{EAST}:{SELLER}:repository/len-s-mp/prod-repository"
policy = "{POLICIES / 'marketplace-prod-repository.json'}"
"""


@dataclass
class Step:
    """One command as the article runs it, the lines it must print, and how the lab runs it."""

    story: str
    shell: str
    command: str
    lines: list
    action: object


def _routes(moto, registry, region) -> list:
    m, r = f"127.0.0.1:{moto.port}", f"127.0.0.1:{registry.port}"
    return [
        (f"api.ecr.{region}.amazonaws.com", m),
        (f"*.dkr.ecr.{region}.amazonaws.com", r),
        (f"*.s3.{region}.amazonaws.com", m),
        (f"s3.{region}.amazonaws.com", m),
    ]


class Published:
    """Stand-ins, proxies and docker daemons for both articles, started on first use, stopped by `lab`."""

    def __init__(self, lab):
        self.lab = lab
        self.work = Path(lab.dir) / "published"
        self.work.mkdir(exist_ok=True)
        self._a = self._a_final = self._b = None

    def _own(self, thing):
        return self.lab._own(thing)

    # -- story (a) ----------------------------------------------------------------------------------
    def a(self):
        """us-west-2 on the lab's moto (account 123456789123), a registry on the region's layer bucket."""
        if self._a is None:
            lab = self.lab
            lab.moto.seed(["image1", "image2", "image3", "base-image3"], region=WEST, bucket=WEST_BUCKET)
            registry = self._own(Registry(
                lab.dir, "registry-us-west-2", lab.cert, lab.key, lab.ca.cert_path, lab.moto,
                {"AWS": f"{PROD}-auth-token"}, region=WEST, bucket=WEST_BUCKET,
            ))
            routes = _routes(lab.moto, registry, WEST)
            principals = [
                Principal(arn=ROLE.arn, org_id=ORG, source_cidrs=["127.0.0.1/32"]),
                Principal(arn=OUTSIDER.arn, access_key_ids=[OUTSIDER.key_id], org_id="o-0therorg00"),
            ]
            ecr = POLICIES / "org-only-ecr.json"
            policies = {"ecr.api": ecr, "ecr.dkr": ecr, "s3": POLICIES / "s3-layer-bucket.json"}
            proxy = self._own(Proxy(lab.dir, "proxy-published-a", policies, principals, routes, lab.ca.cert_path))
            final = POLICIES / "org-only-ecr-final.json"
            final_proxy = self._own(Proxy(
                lab.dir, "proxy-published-a-final", {"ecr.api": final, "ecr.dkr": final}, principals, routes,
                lab.ca.cert_path,
            ))
            docker = self._own(clients.Dockerd(lab.dir, proxy, name="dockerd-a"))
            _import(docker, self.work / "a.tar", "lab/image:v1", b"story a\n")
            self._a = SimpleNamespace(registry=registry, proxy=proxy, final=final_proxy, docker=docker)
        return self._a

    # -- story (b) ----------------------------------------------------------------------------------
    def b(self):
        """A moto of its own for account 111111111111, its registry, the seller's proxy and docker daemon."""
        if self._b is None:
            lab = self.lab
            moto = self._own(Moto(lab.dir, lab.cert, lab.key, lab.ca.cert_path, account=SELLER, name="moto-seller"))
            moto.seed(["len-s-mp/sample-repository", "len-s-mp/prod-repository"], region=EAST, bucket=EAST_BUCKET)
            registry = self._own(Registry(
                lab.dir, "registry-seller", lab.cert, lab.key, lab.ca.cert_path, moto,
                {"AWS": f"{SELLER}-auth-token"}, region=EAST, bucket=EAST_BUCKET,
            ))
            principals = [
                Principal(arn=DEVELOPER.arn, access_key_ids=[DEVELOPER.key_id], identity_policies=[
                    POLICIES / "marketplace-administrator.json", POLICIES / "marketplace-seller-login.json"]),
                Principal(arn=READ_ONLY.arn, access_key_ids=[READ_ONLY.key_id], identity_policies=[
                    POLICIES / "marketplace-readonly.json", POLICIES / "marketplace-seller-login.json"]),
            ]
            proxy = self._own(Proxy(
                lab.dir, "proxy-published-b", {}, principals, _routes(moto, registry, EAST), lab.ca.cert_path,
                MP_FACTS,
            ))
            docker = self._own(clients.Dockerd(lab.dir, proxy, name="dockerd-b"))
            _import(docker, self.work / "b1.tar", "lab/seller:v1", b"seller image one\n")
            _import(docker, self.work / "b2.tar", "lab/seller:v2", b"seller image two\n")
            shells = {p.name: self.work / f"shell-{p.name}" for p in (DEVELOPER, READ_ONLY)}
            for d in shells.values():
                d.mkdir(exist_ok=True)
            self._b = SimpleNamespace(moto=moto, registry=registry, proxy=proxy, docker=docker, shells=shells)
        return self._b

    # -- client runs --------------------------------------------------------------------------------
    def aws(self, proxy, persona, region, *args):
        return clients.aws(proxy, persona, ["ecr", *args], region=region, session=persona.session)

    def password(self, proxy, persona, region):
        """`aws ecr get-login-password --region R` through `proxy`: the proxy learns whom it was issued to."""
        return clients.aws(proxy, persona, ["ecr", "get-login-password", "--region", region], region=region,
                           session=persona.session)

    def login(self, proxy, docker, persona, region, registry, shell=None):
        """`aws ecr get-login-password --region R | docker login --username AWS --password-stdin HOST`."""
        password = self.password(proxy, persona, region)
        login = docker.docker("login", "--username", "AWS", "--password-stdin", registry,
                              input_bytes=password.stdout, config_dir=shell)
        return _joined(password, login)

    def push(self, docker, local, ref, shell=None):
        tag = docker.docker("tag", local, ref, config_dir=shell)
        if tag.returncode != 0:
            return tag
        return docker.docker("push", ref, config_dir=shell)

    def pull(self, docker, ref):
        docker.docker("rmi", ref)
        return docker.docker("pull", ref)

    def mirror(self, ref: str) -> None:
        """ECR's registry and its API share one store; the stand-ins do not. After a push, the lab copies
        the manifest the registry stored into moto (directly, not through the proxy) so DescribeImages
        lists what was pushed, under the registry's digest."""
        b = self.b()
        repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=str(self.lab.ca.cert_path))
        req = urllib.request.Request(f"https://127.0.0.1:{b.registry.port}/v2/{repo}/manifests/{tag}", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json",
            "Authorization": "Basic " + _b64(f"AWS:{SELLER}-auth-token"),
        })
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            manifest = resp.read()
        b.moto.client("ecr", EAST).put_image(
            repositoryName=repo, imageManifest=manifest.decode(), imageTag=tag,
            imageDigest="sha256:" + hashlib.sha256(manifest).hexdigest(),
        )

    def s3_layer_reads(self, proxy) -> list:
        """The proxy's allowed `s3:GetObject` decisions on the layer bucket (the pull's layer path)."""
        return [r for r in proxy.audit_records()
                if r.get("eventName") == "GetObject" and r.get("decision") == "Allow"]


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def aws_denied(operation: str) -> str:
    """The aws CLI's prefix of an AccessDenied error; CLI v2 adds its retry count, which the article predates."""
    return (re.escape(f"An error occurred (AccessDeniedException) when calling the {operation} operation")
            + r"( \(reached max retries: \d+\))?: ")


def _joined(*procs):
    """The output of a pipeline's commands together; it fails when any command failed."""
    out = SimpleNamespace(returncode=0, stdout=b"", stderr=b"")
    for p in procs:
        out.stdout += p.stdout or b""
        out.stderr += p.stderr or b""
        out.returncode = out.returncode or p.returncode
    return out


def _import(docker, tar: Path, ref: str, content: bytes) -> None:
    import io
    import tarfile

    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("etc/lab-release")
        info.size = len(content)
        t.addfile(info, io.BytesIO(content))
    result = docker.import_image(tar, ref)
    if result.returncode != 0:
        raise RuntimeError("docker import failed: " + clients.text(result))


ROLE_USER = f"User: {ROLE.arn} is not authorized to perform:"
WARNING = r"WARNING! Your (password will be|credentials are) stored unencrypted in '?\S+/config\.json'?\.?"
CONFIGURE = r"Configure a credential helper to remove this warning\. See( https://docs\.docker\.com/\S+)?"
DOCKER_WORDING = "docker 28 words its warning differently from the article's docker"


def _login_lines():
    return [
        Line("WARNING! Your password will be stored unencrypted in /root/.docker/config.json.", WARNING,
             DOCKER_WORDING),
        Line("Configure a credential helper to remove this warning. See "
             "https://docs.docker.com/engine/reference/commandline/login/#credentials-store", CONFIGURE,
             DOCKER_WORDING),
        transcript("Login Succeeded"),
    ]


def _describe(lines: str):
    return [transcript(x) for x in lines.strip("\n").splitlines()]


DEV_DESCRIBE = '''{
"imageDetails": [
{
     "registryId": 111111111111,
     "repositoryName": "len-s-mp/sample-repository",
     "imageDigest": "sha256:226ca8f2a281fcd9f7cfeaf58c6a9453f6260eefa052cd300b3b71ff9010cc82",
     "imageTags": [
     "v1.1"
],
     "imageSizeInBytes": 3409578,
     "imagePushedAt": "2024-05-10T13:23:30+00:00",
     "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "artifactMediaType": "application/vnd.docker.container.image.v1+json"
   }
  ]
}'''
RO_DESCRIBE = '''{
    "imageDetails": [
     {
      "artifactMediaType": "application/vnd.docker.container.image.v1+json",
      "imageSizeInBytes": 3624637,
      "imageDigest": "sha256:89ede73d8aa968bdb607a18990d078317da59fff8958ab2ab804f2e90c1d1228",
      "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "imageTags": [
         "v2",
         "v3"
],
      "registryId": "111111111111",
      "repositoryName": "len-s-mp/sample-repository",
      "imagePushedAt": 1720085807.0
   }
  ]
}'''


def steps(p: Published) -> list:
    """Every command of both articles, in the articles' order (later steps read what earlier ones wrote)."""
    a, b = "a: ECR endpoint policies (us-west-2)", "b: Marketplace-managed ECR (us-east-1)"
    return _steps_a(p, a) + _steps_b(p, b)


def _steps_a(p: Published, a: str) -> list:
    login = f"aws ecr get-login-password --region {WEST} | docker login --username AWS --password-stdin {PROD_REGISTRY}"
    rows = [Step(a, "instance", login, [prose(
        "With private registries, GetAuthorizationToken API call must be called in order to authenticate a "
        "Docker client.", "Login Succeeded")], lambda: p.login(p.a().proxy, p.a().docker, ROLE, WEST, PROD_REGISTRY))]
    for n in (1, 2, 3):
        ref = f"{PROD_REGISTRY}/image{n}:v1"
        rows.append(Step(a, "instance", f"docker push {ref}", [prose(
            "only an Amazon ECR registry within the account 123456789123 can be accessed through the VPC endpoint",
            r"v1: digest: sha256:[0-9a-f]{64} size: \d+")], lambda ref=ref: p.push(p.a().docker, "lab/image:v1", ref)))
    for n in (1, 2, 3):
        ref = f"{PROD_REGISTRY}/image{n}:v1"
        rows.append(Step(a, "instance", f"docker rmi {ref} && docker pull {ref}", [
            prose("Docker client commands such as pull and push use this VPC endpoint.",
                  re.escape(f"Status: Downloaded newer image for {ref}")),
            prose("Amazon ECR uses Amazon S3 to store image layers, an S3 endpoint is required",
                  rf"s3:GetObject allowed on arn:aws:s3:::{WEST_BUCKET}/\S+"),
        ], lambda ref=ref: _with_s3_reads(p, p.pull(p.a().docker, ref))))
    rows.append(Step(a, "instance", f"docker push {TEST_REGISTRY}/image1:v1", [Line(
        f"denied: {ROLE_USER} ecr:InitiateLayerUpload on resource: arn:aws:ecr:{WEST}:{TEST}:repository/image1",
        re.escape(f"denied: {ROLE_USER} ecr:InitiateLayerUpload on resource: arn:aws:ecr:{WEST}:{TEST}:"
                  "repository/image1 because no VPC endpoint policy allows the ecr:InitiateLayerUpload action"),
        "AWS now ends the message with its reason clause")],
        lambda: _joined(p.login(p.a().proxy, p.a().docker, ROLE, WEST, TEST_REGISTRY),
                        p.push(p.a().docker, "lab/image:v1", f"{TEST_REGISTRY}/image1:v1"))))
    rows.append(Step(a, "outsider", f"aws ecr describe-images --registry-id {PROD} --repository-name image1 --region us-west-2", [prose(
        "Any requests that come from an account outside of the AWS Organization will be denied access.",
        aws_denied("DescribeImages") + re.escape(f"User: "
                  f"{OUTSIDER.arn} is not authorized to perform: ecr:DescribeImages on resource: arn:aws:ecr:{WEST}:"
                  f"{PROD}:repository/image1 because no VPC endpoint policy allows the ecr:DescribeImages action"))],
        lambda: p.aws(p.a().proxy, OUTSIDER, WEST, "describe-images", "--registry-id", PROD,
                      "--repository-name", "image1")))
    rows.append(Step(a, "instance", "aws ecr delete-repository --repository-name base-image3 --region us-west-2", [prose(
        "ecr:DeleteRepository calls to the specific Amazon ECR repository "
        "arn:aws:ecr:us-west-2:123456789123:repository/base-image3 will be denied.",
        aws_denied("DeleteRepository") + re.escape(f"{ROLE_USER} ecr:DeleteRepository on resource: arn:aws:ecr:{WEST}:{PROD}:repository/base-image3 "
                  "with an explicit deny in a VPC endpoint policy"))],
        lambda: p.aws(p.a().proxy, ROLE, WEST, "delete-repository", "--repository-name", "base-image3")))
    return rows + _final_policy_steps(p, a, login)


def _final_policy_steps(p: Published, a: str, login: str) -> list:
    final = "policies/org-only-ecr-final.json"
    return [
        Step(a, "instance (final policy as published)", login, [prose(
            "the customer can use a final VPC endpoint policy as follows: { ... } (no ecr:GetAuthorizationToken "
            "on \"*\")",
            aws_denied("GetAuthorizationToken") + re.escape(f"{ROLE_USER} ecr:GetAuthorizationToken on resource: * because no VPC endpoint policy allows "
                      "the ecr:GetAuthorizationToken action"),
            "the final policy as printed, its `*` restored, refuses docker login through the endpoint")],
            lambda: p.login(p.a().final, p.a().docker, ROLE, WEST, PROD_REGISTRY)),
        Step(a, "operator", f"vpce-proxy validate {final}", [prose(
            "(the same policy) ", re.escape(f"{final}:2:18 warning ecr-login-not-allowed ") + ".*",
            "validate warns before it is deployed")],
            lambda: run([str(binary()), "validate", final], cwd=REPO_ROOT)),
    ]


def _with_s3_reads(p: Published, pulled):
    """The pull's output plus one line per layer read the proxy allowed on the S3 endpoint."""
    reads = [f"s3:GetObject allowed on {r['resources'][0]['ARN']}" for r in p.s3_layer_reads(p.a().proxy)
             if r.get("resources")]
    return _joined(pulled, SimpleNamespace(returncode=0, stdout=("\n".join(reads) + "\n").encode(), stderr=b""))


def _steps_b(p: Published, b: str) -> list:
    dev, ro = "cloudshell-developer", "cloudshell-read-only"
    sample, prod = f"{MP_REGISTRY}/len-s-mp/sample-repository", f"{MP_REGISTRY}/len-s-mp/prod-repository"
    login = f"aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin {MP_REGISTRY}"
    describe = f"aws ecr describe-images --registry-id {SELLER} --repository-name len-s-mp/sample-repository --region us-east-1"
    shell = lambda persona: p.b().shells[persona.name]  # noqa: E731
    return [
        Step(b, dev, login, _login_lines(),
             lambda: p.login(p.b().proxy, p.b().docker, DEVELOPER, EAST, MP_REGISTRY, shell(DEVELOPER))),
        Step(b, dev, f"docker push {sample}:v1.1", [
            transcript(f"The push refers to repository [{sample}]"),
            transcript("d4fc045c9e3a: Pushed"),
            transcript("v1.1: digest: sha256:226ca8f2a281fcd9f7cfeaf58c6a9453f6260eefa052cd300b3b71ff9010cc82 size: 527"),
        ], lambda: _mirrored(p, p.push(p.b().docker, "lab/seller:v1", f"{sample}:v1.1", shell(DEVELOPER)),
                             f"{sample}:v1.1")),
        Step(b, dev, describe, _describe(DEV_DESCRIBE),
             lambda: p.aws(p.b().proxy, DEVELOPER, EAST, "describe-images", "--registry-id", SELLER,
                           "--repository-name", "len-s-mp/sample-repository")),
        Step(b, "cloudshell- developer", f"docker push {prod}:v1", [
            transcript(f"The push refers to repository [{prod}]"),
            transcript("94e5f06ff8e3: Preparing"),
            transcript(f"denied: User: arn:aws:iam:: {SELLER}:user/developer is not authorized to perform: "
                       f"ecr:InitiateLayerUpload on resource: arn:aws:ecr:us-east-1:{SELLER}:repository/len-s-mp/"
                       "prod-repository because no resource-based policy allows the ecr:InitiateLayerUpload action"),
        ], lambda: p.push(p.b().docker, "lab/seller:v2", f"{prod}:v1", shell(DEVELOPER))),
        Step(b, ro, login + "   (its own shell; the article does not print this step)", [transcript("Login Succeeded")],
             lambda: _setup_v2_v3_then(p, sample, shell, lambda: p.login(
                 p.b().proxy, p.b().docker, READ_ONLY, EAST, MP_REGISTRY, shell(READ_ONLY)))),
        Step(b, ro, describe, _describe(RO_DESCRIBE),
             lambda: p.aws(p.b().proxy, READ_ONLY, EAST, "describe-images", "--registry-id", SELLER,
                           "--repository-name", "len-s-mp/sample-repository")),
        Step(b, ro, f"docker push {sample}:v1.2", [
            transcript(f"The push refers to repository [{sample}]"),
            transcript("d4fc045c9e3a: Layer already exists"),
            transcript(f"denied: User: arn:aws:iam:: {SELLER}:user/ read-only is not authorized to perform: "
                       f"ecr:PutImage on resource: arn:aws:ecr:us-east-1:{SELLER}:repository/len-s-mp/"
                       "sample-repository with an explicit deny in an identity-based policy"),
        ], lambda: p.push(p.b().docker, "lab/seller:v1", f"{sample}:v1.2", shell(READ_ONLY))),
    ]


def _mirrored(p: Published, pushed, ref: str):
    if pushed.returncode == 0:
        p.mirror(ref)
    return pushed


def _setup_v2_v3_then(p: Published, sample: str, shell, then):
    """Setup the article implies: the developer's image tagged v2 and v3 (the read-only user lists it)."""
    for tag in ("v2", "v3"):
        pushed = p.push(p.b().docker, "lab/seller:v2", f"{sample}:{tag}", shell(DEVELOPER))
        if pushed.returncode != 0:
            return pushed
        p.mirror(f"{sample}:{tag}")
    return then()


@dataclass
class Result:
    step: Step
    returncode: int
    output: str
    matched: list


def run_step(step: Step) -> Result:
    try:
        proc = step.action()
        output = clients.text(proc)
        code = proc.returncode
    except Exception as err:  # a client that could not even start is a step whose lines all differ
        output, code = f"{type(err).__name__}: {err}", -1
    return Result(step, code, output, check_lines(step.lines, output))


def check_step(step: Step) -> None:
    """Runs `step` and raises AssertionError with its table rows when it checks no line or any differs
    (what each end-to-end row asserts)."""
    result = run_step(step)
    report = []
    differs = print_table([result], out=report.append)
    assert result.matched, f"step {step.command!r} checks no line"
    assert differs == 0, "\n".join(report)


def labels(make_steps) -> list:
    """pytest ids for `make_steps(published)`; built without starting anything (steps are lazy)."""
    return [f"{i:02d}-{s.story[0]}-{s.shell}" for i, s in enumerate(make_steps(Published.__new__(Published)))]


def print_table(results, out=print) -> int:
    """Prints article line, client line and verdict for every line; returns how many lines differ."""
    failures = 0
    for r in results:
        out(f"[{r.step.story}] [{r.step.shell}] $ {r.step.command}")
        for line, got in r.matched:
            failures += got is None
            out(f"    article: {line.article}")
            out(f"    client:  {got if got is not None else '(no line matches /' + line.pattern + '/)'}")
            out(f"    {'matched' if got is not None else 'DIFFERS'}{'  (' + line.note + ')' if line.note else ''}")
        if any(got is None for _, got in r.matched):
            out("    output was: " + " | ".join(r.output.strip().splitlines()))
    return failures
