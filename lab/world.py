"""The acceptance-story world: who the callers are, which policies apply, and the stand-ins behind the proxy.

Why one place: `scripts/lab` and the pytest suite must run the same stories against the same setup, so the
principals, tokens, host names and policy files are defined once here.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .ca import LabCA
from .echo import LISTENING as ECHO_LISTENING
from .procs import Proc, announced_port, started
from .proxy import REPO_ROOT, Principal, Proxy
from .standins import ACCOUNT, LAYER_BUCKET, MOTO_LOGIN, REGION, Moto, Registry

#: The shipped policies of the published stories (policies/README.md); `lab.published` runs exactly these.
POLICIES = REPO_ROOT / "policies"
#: Test-only variants that have no place among the published policies: this world runs in us-east-1, so
#: its org-only and layer-bucket policies are story (a)'s moved to that region.
TEST_POLICIES = REPO_ROOT / "tests" / "e2e" / "policies"
ORG_POLICY = TEST_POLICIES / "org-only-ecr-us-east-1.json"
S3_POLICY = TEST_POLICIES / "s3-layer-bucket-us-east-1.json"
S3_OTHER_BUCKET_POLICY = TEST_POLICIES / "s3-other-bucket-only.json"
#: AWS's published data-perimeter endpoint policies, placeholders filled in (that folder's README).
DATA_PERIMETER = REPO_ROOT / "tests" / "requests" / "data-perimeter"
DP_ECR_POLICY = DATA_PERIMETER / "ecr.api_endpoint_policy.json"
DP_S3_POLICY = DATA_PERIMETER / "s3_endpoint_policy.json"
ORG = "o-21ej9awi6a"
FOREIGN_ACCOUNT = "999999999999"
OWN_REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
FOREIGN_REGISTRY = f"{FOREIGN_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
API_HOST = f"api.ecr.{REGION}.amazonaws.com"
BUCKET_HOST = f"{LAYER_BUCKET}.s3.{REGION}.amazonaws.com"
#: Repositories that exist in moto's ECR (DescribeImages / DeleteRepository targets).
REPOSITORIES = ["base-image3", "app"]


class Persona:
    """A caller: its IAM identity, its SigV4 key pair and its registry login (user, token)."""

    def __init__(self, name, arn, org, key_id, registry_user, identity_policies=()):
        self.name, self.arn, self.org, self.key_id = name, arn, org, key_id
        self.secret = f"{name}-secret-key"
        self.registry_user, self.token = registry_user, f"{name}-registry-token"
        self.identity_policies = list(identity_policies)

    def principal(self) -> Principal:
        """The `[[principal]]` the proxy uses to recognise this caller."""
        return Principal(
            arn=self.arn,
            access_key_ids=[self.key_id],
            registry_tokens=[self.token],
            org_id=self.org,
            identity_policies=self.identity_policies,
        )


DEV = Persona("dev", f"arn:aws:iam::{ACCOUNT}:user/dev", ORG, "AKIALABDEV0000000001", "dev")
OUTSIDER = Persona(
    "outsider", "arn:aws:iam::444455556666:user/outsider", "o-0therorg00", "AKIALABOUTSIDER00001", "outsider"
)
#: An organization member whose organization is not configured on the principal: it comes from the
#: `[[account]]` of its account, as the data-perimeter story configures it.
MEMBER = Persona("member", f"arn:aws:iam::{ACCOUNT}:user/member", None, "AKIALABMEMBER0000001", "member")
PERSONAS = [DEV, OUTSIDER, MEMBER]
#: The facts the data-perimeter proxy is told: the organization of the lab's own account.
ORG_FACTS = f"""
[[account]]
id = "{ACCOUNT}"
org_id = "{ORG}"
"""


class Lab:
    """Everything the stories need, started once; `close()` stops every process by PID and removes temp dirs.

    Started eagerly: lab CA, moto, the S3-backed registry and the story proxy. Started on first use: a
    filesystem registry (big transfers), a proxy whose S3 policy refuses the layer bucket, ad-hoc proxies.
    """

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="vpce-lab-"))
        self._stoppables = []
        try:
            self.ca = LabCA(self.dir / "lab-ca")
            self.cert, self.key = self.ca.leaf("standin")
            self.moto = self._own(Moto(self.dir, self.cert, self.key, self.ca.cert_path))
            self.moto.seed(REPOSITORIES)
            users = dict([MOTO_LOGIN], **{p.registry_user: p.token for p in PERSONAS})
            self.registry = self._own(
                Registry(self.dir, "registry-s3", self.cert, self.key, self.ca.cert_path, self.moto, users)
            )
            self.proxy = self.start_proxy("proxy-story", s3_policy=S3_POLICY)
        except BaseException:
            self.close()
            raise
        self._fs_registry = None

    def _own(self, thing):
        """Registers something to stop at `close()`; returns it."""
        self._stoppables.append(thing)
        return thing

    def routes(self, registry=None) -> list:
        """`[[upstream]]` routes: ECR API and S3 names to moto, every account's registry name to a registry."""
        moto = f"127.0.0.1:{self.moto.port}"
        reg = f"127.0.0.1:{(registry or self.registry).port}"
        return [
            (API_HOST, moto),
            (f"*.dkr.ecr.{REGION}.amazonaws.com", reg),
            (f"*.s3.{REGION}.amazonaws.com", moto),
            (f"s3.{REGION}.amazonaws.com", moto),
        ]

    def start_proxy(
        self, name, s3_policy=None, ecr_policy=ORG_POLICY, registry=None, routes=None, facts=""
    ) -> Proxy:
        """A proxy with the story principals; `None` policies mean the AWS default endpoint policy (allow all)."""
        policies = {}
        if ecr_policy:
            policies = {"ecr.api": ecr_policy, "ecr.dkr": ecr_policy}
        if s3_policy:
            policies["s3"] = s3_policy
        principals = [p.principal() for p in PERSONAS]
        return self._own(
            Proxy(self.dir, name, policies, principals, routes or self.routes(registry), self.ca.cert_path, facts)
        )

    def start_echo(self, name="echo"):
        """The recording TLS upstream of `lab.echo`; returns (process, port, record dir)."""
        records = self.dir / name
        proc = self._own(
            Proc(
                name,
                [sys.executable, "-m", "lab.echo", "0", str(self.cert), str(self.key), str(records)],
                self.dir / f"{name}.log",
                env={"PYTHONPATH": str(REPO_ROOT), "PATH": os.environ.get("PATH", "")},
            )
        )
        port = started(lambda: announced_port(proc, ECHO_LISTENING), proc)
        return proc, port, records

    def fs_registry(self) -> Registry:
        """A registry with filesystem storage (keeps moto out of big transfers)."""
        if self._fs_registry is None:
            users = {p.registry_user: p.token for p in PERSONAS}
            self._fs_registry = self._own(
                Registry(self.dir, "registry-fs", self.cert, self.key, self.ca.cert_path, None, users)
            )
        return self._fs_registry

    def close(self) -> None:
        for thing in reversed(self._stoppables):
            try:
                thing.stop()
            except Exception as err:  # keep stopping the others
                print(f"lab: stopping {thing!r} failed: {err}")
        self._stoppables.clear()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
