"""The upstream stand-ins: moto_server (ecr.api and S3) and the CNCF distribution registry (ecr.dkr).

Why: the end-to-end tests must talk to real servers speaking the real protocols. moto answers the ECR JSON API
and S3; the registry speaks the Docker Registry v2 API and, with its S3 driver in moto, answers blob GETs with
307 redirects to presigned URLs on `prod-us-east-1-starport-layer-bucket` — ECR's real layer path.
"""

import os
import sys
from pathlib import Path

from .procs import Proc, announced_port, free_port, started, wait_port
from .tunnel import LISTENING as TUNNEL_LISTENING

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789123"
#: The registry password moto's GetAuthorizationToken issues for the lab account (user `AWS`), so the
#: registry accepts a login made with `aws ecr get-login-password`, as ECR's registry does.
MOTO_LOGIN = ("AWS", f"{ACCOUNT}-auth-token")
LAYER_BUCKET = "prod-us-east-1-starport-layer-bucket"
#: Credentials the registry uses for its S3 storage (and so the key id in its presigned URLs).
REGISTRY_S3_KEY = ("AKIALABREGISTRY00001", "labregistrysecret")


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    for k in ("AWS_CA_BUNDLE", "SSL_CERT_FILE", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    env.update(extra)
    return env


class Moto:
    """moto_server over TLS on 127.0.0.1, serving ECR and S3 for account 123456789123."""

    def __init__(self, workdir: Path, cert: Path, key: Path, ca: Path, account=ACCOUNT, name="moto_server", expired_keys=()):
        self.port = free_port()
        self.ca = ca
        self.account = account
        env = _clean_env(MOTO_ACCOUNT_ID=account, AWS_DEFAULT_REGION=REGION, PYTHONPATH=str(REPO_ROOT))
        env["LAB_EXPIRED_TOKEN_KEYS"] = ",".join(expired_keys)
        # lab.moto_server: moto with GetAuthorizationToken's expiresAt in the future (see that module).
        argv = [sys.executable, "-m", "lab.moto_server", "-H", "127.0.0.1", "-p", str(self.port),
                "-c", str(cert), "-k", str(key)]
        self.proc = Proc(name, argv, workdir / f"{name}.log", env=env)
        started(lambda: wait_port(self.port, self.proc, timeout=60), self.proc)

    @property
    def url(self) -> str:
        """moto's own loopback address, for setup calls that must not cross the proxy."""
        return f"https://127.0.0.1:{self.port}"

    def client(self, service: str, region: str = REGION):
        """A boto3 client talking to moto directly (setup only; tests go through the proxy)."""
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            verify=str(self.ca),
            aws_access_key_id="AKIALABSETUP00000001",
            aws_secret_access_key="setup",
        )

    def seed(self, repositories, region: str = REGION, bucket: str = LAYER_BUCKET) -> None:
        """Creates the region's layer bucket and the ECR repositories the stories use."""
        s3 = self.client("s3", region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        ecr = self.client("ecr", region)
        for name in repositories:
            ecr.create_repository(repositoryName=name)

    def stop(self) -> None:
        """Stops moto by PID."""
        self.proc.stop()


REGISTRY_YAML = """version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
{storage}  delete:
    enabled: true
auth:
  htpasswd:
    realm: lab-registry
    path: {htpasswd}
http:
  addr: 127.0.0.1:{port}
  tls:
    certificate: {cert}
    key: {keyfile}
"""

# S3 in moto: blob GETs answer 307 to presigned URLs on the layer bucket, the real ECR layer path.
S3_STORAGE = """  s3:
    accesskey: {key}
    secretkey: {secret}
    region: {region}
    bucket: {bucket}
    secure: true
    v4auth: true
  redirect:
    disable: false
  cache:
    blobdescriptor: inmemory
"""

FS_STORAGE = """  filesystem:
    rootdirectory: {root}
"""


def _htpasswd(users: dict) -> str:
    """bcrypt htpasswd lines. Why auth at all: registry clients send their Basic credentials only after a
    challenge (as ECR sends one), and the proxy needs the token to know the principal."""
    import bcrypt

    return "".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()
    )


class Registry:
    """`docker-registry serve` over TLS on 127.0.0.1, with S3 storage in moto or plain filesystem storage.

    With S3, the registry's S3 calls go through a CONNECT tunnel to moto (see `lab.tunnel`) under the real
    AWS host name, so its presigned redirect URLs name `prod-us-east-1-starport-layer-bucket.s3.us-east-1...`.
    """

    def __init__(
        self, workdir: Path, name: str, cert: Path, key: Path, ca: Path, moto, users: dict,
        region: str = REGION, bucket: str = LAYER_BUCKET,
    ):
        self.port = free_port()
        self.tunnel = None
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        htpasswd = self.dir / "htpasswd"
        htpasswd.write_text(_htpasswd(users))
        env = _clean_env()
        if moto is not None:
            lab_root = str(Path(__file__).resolve().parent.parent)
            self.tunnel = Proc(
                f"{name}-tunnel",
                [sys.executable, "-m", "lab.tunnel", "0", str(moto.port)],
                self.dir / "tunnel.log",
                env=_clean_env(PYTHONPATH=lab_root),
            )
            tport = started(lambda: announced_port(self.tunnel, TUNNEL_LISTENING), self.tunnel)
            storage = S3_STORAGE.format(
                key=REGISTRY_S3_KEY[0], secret=REGISTRY_S3_KEY[1], region=region, bucket=bucket
            )
            env.update(
                HTTPS_PROXY=f"http://127.0.0.1:{tport}",
                SSL_CERT_FILE=str(ca),
                AWS_S3_US_EAST_1_REGIONAL_ENDPOINT="regional",
            )
        else:
            storage = FS_STORAGE.format(root=self.dir / "data")
        text = REGISTRY_YAML.format(storage=storage, port=self.port, htpasswd=htpasswd, cert=cert, keyfile=key)
        config = self.dir / "config.yml"
        config.write_text(text)
        self.proc = Proc(name, ["docker-registry", "serve", str(config)], self.dir / "registry.log", env=env)
        started(lambda: wait_port(self.port, self.proc), *[p for p in (self.proc, self.tunnel) if p])

    def access_log(self) -> str:
        """The registry's log: what actually reached the stand-in (the proof a refusal stopped at the proxy)."""
        return self.proc.log.read_text(errors="replace")

    def stop(self) -> None:
        """Stops the registry and its S3 tunnel by PID."""
        self.proc.stop()
        if self.tunnel is not None:
            self.tunnel.stop()
