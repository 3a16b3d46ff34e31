"""The two acceptance stories as rows: client, command, expected outcome, and the real command that runs it.

Why rows: `scripts/lab` prints them as a table and the pytest suite runs the very same rows, so the table a
newcomer sees and the tests CI runs cannot drift apart. Rows run in order (pulls follow pushes).
"""

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import clients
from .procs import run
from .world import (
    DEV,
    DP_ECR_POLICY,
    DP_S3_POLICY,
    MEMBER,
    ORG_FACTS,
    FOREIGN_REGISTRY,
    OUTSIDER,
    OWN_REGISTRY,
    S3_OTHER_BUCKET_POLICY,
)

EXPLICIT_DENY = "with an explicit deny in a VPC endpoint policy"
NO_ENDPOINT_ALLOW = "because no VPC endpoint policy allows the"


@dataclass
class Outcome:
    """What a client did: allowed (exit 0) or not, and the one line that says why."""

    allowed: bool
    text: str

    def summary(self) -> str:
        """`allowed`, or `refused: ` and the part of the output that says why (the AWS message when shown)."""
        if self.allowed:
            return "allowed"
        for marker in ("denied: User: ", "User: ", "<Code>AccessDenied", "403 (Forbidden)", "rror"):
            at = self.text.find(marker)
            if at >= 0:
                return "refused: " + _shorten(self.text[at:].splitlines()[0].rstrip('"'))
        lines = self.text.strip().splitlines()
        return "refused: " + _shorten(lines[-1] if lines else "(no output)")


def _shorten(line: str, width: int = 170) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


@dataclass
class Row:
    """One table row: `expect` is "allowed" or "denied"; a denial must contain every `needles` string."""

    story: str
    client: str
    command: str
    expect: str
    action: object
    needles: list = field(default_factory=list)

    def expected(self) -> str:
        """The table's `expected` column: what a reader should see the client do."""
        return "allowed" if self.expect == "allowed" else "denied: " + " … ".join(self.needles)

    def check(self, outcome: Outcome) -> bool:
        """Whether the outcome is the expected one; a denial counts only with AWS's words in it."""
        if self.expect == "allowed":
            return outcome.allowed
        return not outcome.allowed and all(n in outcome.text for n in self.needles)


def _result(proc) -> Outcome:
    return Outcome(proc.returncode == 0, clients.text(proc))


def _user(p) -> str:
    return f"User: {p.arn} is not authorized to perform:"


class Stories:
    """Builds the rows against a running `lab.world.Lab` (`None` just lists them); `dockerd` starts on first use."""

    def __init__(self, lab):
        self.lab = lab
        self._dockerd = None
        self._deny_proxy = None
        self._dp_proxy = None
        self._image = None

    @property
    def work(self) -> Path:
        path = Path(self.lab.dir) / "stories"
        path.mkdir(exist_ok=True)
        return path

    @property
    def image(self) -> str:
        """The small OCI image every push row copies (built on first use, so rows can be listed early)."""
        if self._image is None:
            self._image = clients.oci_image(self.work / "oci-src", "v1", payload=b"lab layer " * 5000)
        return self._image

    # -- helpers -------------------------------------------------------------------------------------
    def aws(self, persona, *args, proxy=None) -> Outcome:
        return _result(clients.aws(proxy or self.lab.proxy, persona, ["ecr", *args]))

    def push(self, persona, ref, proxy=None) -> Outcome:
        return _result(
            clients.skopeo_copy(proxy or self.lab.proxy, self.image, f"docker://{ref}", dst_persona=persona)
        )

    def pull(self, persona, ref, proxy=None, name="pulled") -> Outcome:
        out = self.work / f"oci-{name}"
        return _result(
            clients.skopeo_copy(proxy or self.lab.proxy, f"docker://{ref}", f"oci:{out}:v1", src_persona=persona)
        )

    def deny_proxy(self):
        """A second proxy, same story, whose S3 endpoint policy allows only some other bucket."""
        if self._deny_proxy is None:
            self._deny_proxy = self.lab.start_proxy("proxy-s3-other-bucket", s3_policy=S3_OTHER_BUCKET_POLICY)
        return self._deny_proxy

    def dp_proxy(self):
        """Story (c): AWS's published data-perimeter endpoint policies, told the lab account's organization."""
        if self._dp_proxy is None:
            self._dp_proxy = self.lab.start_proxy(
                "proxy-data-perimeter", ecr_policy=DP_ECR_POLICY, s3_policy=DP_S3_POLICY, facts=ORG_FACTS
            )
        return self._dp_proxy

    def dockerd(self):
        if self._dockerd is None:
            self._dockerd = self.lab._own(clients.Dockerd(self.lab.dir, self.lab.proxy))
            tar = self.work / "rootfs.tar"
            _tarball(tar)
            imported = self._dockerd.import_image(tar, "lab/imported:v1")
            if imported.returncode != 0:
                raise RuntimeError("docker import failed: " + clients.text(imported))
        return self._dockerd

    def docker_push(self, persona, ref) -> Outcome:
        d = self.dockerd()
        steps = [d.login(ref.split("/")[0], persona), d.docker("tag", "lab/imported:v1", ref), d.docker("push", ref)]
        return _steps(steps)

    def docker_pull(self, persona, ref) -> Outcome:
        d = self.dockerd()
        d.docker("rmi", ref)
        return _steps([d.login(ref.split("/")[0], persona), d.docker("pull", ref)])

    def registry_redirects(self, repo: str) -> int:
        """How many blob GETs of `repo` the registry answered with a 307 (the S3 layer path)."""
        pattern = re.compile(rf'"GET /v2/{re.escape(repo)}/blobs/sha256:[0-9a-f]+ HTTP/[0-9.]+" 307')
        return len(pattern.findall(self.lab.registry.access_log()))

    # -- the stories ---------------------------------------------------------------------------------
    def rows(self) -> list:
        own, foreign = OWN_REGISTRY, FOREIGN_REGISTRY
        a, c = "org-only endpoint (us-east-1 variant)", "data perimeter (aws-samples)"
        return [
            Row(a, "aws", "ecr get-authorization-token (dev, org member)", "allowed",
                lambda: self.aws(DEV, "get-authorization-token")),
            Row(a, "aws", "ecr describe-images --repository-name app", "allowed",
                lambda: self.aws(DEV, "describe-images", "--repository-name", "app")),
            Row(a, "aws", "ecr delete-repository --repository-name base-image3", "denied",
                lambda: self.aws(DEV, "delete-repository", "--repository-name", "base-image3"),
                ["AccessDeniedException", _user(DEV), "ecr:DeleteRepository", EXPLICIT_DENY]),
            Row(a, "aws", "ecr get-authorization-token (outsider, other org)", "denied",
                lambda: self.aws(OUTSIDER, "get-authorization-token"),
                [_user(OUTSIDER), NO_ENDPOINT_ALLOW + " ecr:GetAuthorizationToken action"]),
            Row(a, "skopeo", f"copy oci:… docker://{own}/app:lab", "allowed",
                lambda: self.push(DEV, f"{own}/app:lab")),
            # skopeo's first request is `HEAD blob` (ecr:BatchCheckLayerAvailability); a denied HEAD has no
            # body, so skopeo can only print the status; the registry's log shows the proxy stopped it.
            Row(a, "skopeo", f"copy oci:… docker://{foreign}/app:lab", "denied",
                lambda: self._foreign_skopeo_push(),
                ["403 (Forbidden)", f"registry saw no request for {foreign} beyond the /v2/ ping"]),
            Row(a, "skopeo", f"copy docker://{own}/app:lab oci:… (layer via S3 307, bucket allowed)", "allowed",
                lambda: self._pull_via_s3()),
            # skopeo prints only the status of the refused S3 GET; curl, following the same 307, shows
            # the body S3 would send.
            Row(a, "skopeo+curl", "same pull, S3 endpoint policy allows another bucket only", "denied",
                lambda: self._pull_s3_denied(),
                ["403 (Forbidden)", "<Code>AccessDenied</Code>", "s3:GetObject on resource: "
                 '"arn:aws:s3:::prod-us-east-1-starport-layer-bucket/', NO_ENDPOINT_ALLOW + " s3:GetObject"]),
            Row(a, "docker", f"push {own}/app:docker", "allowed",
                lambda: self.docker_push(DEV, f"{own}/app:docker")),
            Row(a, "docker", f"pull {own}/app:docker (after rmi)", "allowed",
                lambda: self.docker_pull(DEV, f"{own}/app:docker")),
            Row(a, "docker", f"push {foreign}/app:docker", "denied",
                lambda: self.docker_push(DEV, f"{foreign}/app:docker"),
                ["denied: " + _user(DEV)]),
            # Story (c): the member's organization and the repository's come from `[[account]]` alone.
            Row(c, "skopeo", f"member copy oci:… docker://{own}/app:dp", "allowed",
                lambda: self.push(MEMBER, f"{own}/app:dp", proxy=self.dp_proxy())),
            Row(c, "skopeo", f"member copy docker://{own}/app:dp oci:… (layer via the starport bucket)", "allowed",
                lambda: self._pull_via_s3(MEMBER, "app:dp", self.dp_proxy())),
            Row(c, "skopeo", f"member copy oci:… docker://{foreign}/app:dp (outside the organization)", "denied",
                lambda: self._refused_before_registry(
                    self.push(MEMBER, f"{foreign}/app:dp", proxy=self.dp_proxy()), foreign, "app"),
                ["403 (Forbidden)", f"registry saw no request for {foreign}/app"]),
            Row(c, "aws", "member ecr describe-images --repository-name app", "allowed",
                lambda: self.aws(MEMBER, "describe-images", "--repository-name", "app", proxy=self.dp_proxy())),
            Row(c, "aws", "outsider ecr describe-images --repository-name app", "denied",
                lambda: self.aws(OUTSIDER, "describe-images", "--repository-name", "app", proxy=self.dp_proxy()),
                ["AccessDeniedException", _user(OUTSIDER), NO_ENDPOINT_ALLOW + " ecr:DescribeImages action"]),
        ]

    def _foreign_skopeo_push(self) -> Outcome:
        outcome = self.push(DEV, f"{FOREIGN_REGISTRY}/app:lab")
        if not foreign_repository_requests(self.lab.registry.access_log()):
            outcome.text += f"\nregistry saw no request for {FOREIGN_REGISTRY} beyond the /v2/ ping"
        return outcome

    def _refused_before_registry(self, outcome: Outcome, host: str, repo: str) -> Outcome:
        if not registry_requests(self.lab.registry.access_log(), host, repo):
            outcome.text += f"\nregistry saw no request for {host}/{repo}"
        return outcome

    def _pull_s3_denied(self) -> Outcome:
        proxy = self.deny_proxy()
        outcome = self.pull(DEV, f"{OWN_REGISTRY}/app:lab", proxy=proxy, name="pulled-deny")
        digest = re.search(r"reading blob (sha256:[0-9a-f]{64})", outcome.text)
        if digest:
            body = run(
                ["curl", "-sS", "-L", "--proxy", proxy.url, "--cacert", str(proxy.ca_cert),
                 "-u", f"{DEV.registry_user}:{DEV.token}",
                 f"https://{OWN_REGISTRY}/v2/app/blobs/{digest.group(1)}"],
                env=clients.base_env(None), timeout=60,
            )
            outcome.text += "\ncurl -L: " + html.unescape(clients.text(body))
        return outcome

    def _pull_via_s3(self, persona=DEV, ref="app:lab", proxy=None) -> Outcome:
        before = self.registry_redirects("app")
        outcome = self.pull(persona, f"{OWN_REGISTRY}/{ref}", proxy=proxy, name=f"via-s3-{persona.name}")
        if outcome.allowed and self.registry_redirects("app") <= before:
            return Outcome(False, "pull succeeded but the registry never answered a blob GET with 307")
        return outcome


def registry_requests(registry_log: str, host: str, repo: str = "") -> list:
    """Request URIs the registry logged for `host` (and under `/v2/<repo>` when given), without the
    `GET /v2/` ping (it needs no permission and is forwarded): what a refused push must leave empty."""
    found = re.findall(rf"http\.request\.host={re.escape(host)} .*?http\.request\.uri=(\S+)", registry_log)
    uris = [uri.strip('"') for uri in found]
    return [u for u in uris if u != "/v2/" and u.startswith(f"/v2/{repo}")]


def foreign_repository_requests(registry_log: str) -> list:
    """Requests the registry received for the foreign account's registry beyond the ping."""
    return registry_requests(registry_log, FOREIGN_REGISTRY)


def _steps(procs) -> Outcome:
    for p in procs:
        if p.returncode != 0:
            return _result(p)
    return Outcome(True, clients.text(procs[-1]))


def _tarball(path: Path) -> None:
    """A tiny root filesystem tarball for `docker import` (no image pulls from the internet)."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        data = b"imported by the vpce-proxy lab\n"
        info = tarfile.TarInfo("etc/lab-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def run_rows(rows, out=print) -> int:
    """Runs rows in order, prints the table, returns how many rows differed from what was expected."""
    header = ("story", "client", "command", "expected", "got", "")
    out(" | ".join(header))
    out("-" * 120)
    failures = 0
    for row in rows:
        try:
            outcome = row.action()
        except Exception as err:  # a client that could not even start is a row that differs
            outcome = Outcome(False, f"{type(err).__name__}: {err}")
        ok = row.check(outcome)
        failures += not ok
        out(" | ".join([row.story, row.client, row.command, row.expected(), outcome.summary(), "ok" if ok else "DIFFERS"]))
        if not ok:
            out("    output: " + _shorten(" ".join(outcome.text.split()), 600))
    return failures
