"""The real clients, configured the way the README tells a user: `HTTPS_PROXY` plus trust in the proxy CA.

Why a module: each client trusts a CA and picks up credentials differently (aws: `AWS_CA_BUNDLE`; skopeo and
dockerd, Go programs: `SSL_CERT_FILE`), and every test must set that up identically.
"""

import os
import subprocess
from pathlib import Path

from .procs import Proc, run, started
from .standins import REGION


def base_env(proxy, **extra) -> dict:
    """The calling environment minus any proxy or CA settings of the machine, plus the proxy's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and not k.startswith("AWS_") and k != "SSL_CERT_FILE"
    }
    if proxy is not None:
        env["HTTPS_PROXY"] = proxy.url
        env["SSL_CERT_FILE"] = str(proxy.ca_cert)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def aws(proxy, persona, args, debug=False, region=REGION, session=None) -> subprocess.CompletedProcess:
    """`aws ARGS` as `persona` through `proxy` (one attempt: no retries hide a denial); `session` is the
    session token of temporary (ASIA) credentials, as an instance role has."""
    env = base_env(
        proxy,
        AWS_CA_BUNDLE=proxy.ca_cert,
        AWS_ACCESS_KEY_ID=persona.key_id,
        AWS_SECRET_ACCESS_KEY=persona.secret,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
    )
    if session:
        env["AWS_SESSION_TOKEN"] = session
    argv = ["aws", *args] + (["--debug"] if debug else [])
    return run(argv, env=env, timeout=120)


def skopeo_copy(proxy, src, dst, src_persona=None, dst_persona=None, timeout=600, tmpdir=None):
    """`skopeo copy SRC DST` through `proxy`, logging in to registries as the given personas."""
    argv = ["skopeo", "--insecure-policy", "copy", "--retry-times", "0"]
    if src_persona is not None:
        argv += ["--src-creds", f"{src_persona.registry_user}:{src_persona.token}"]
    if dst_persona is not None:
        argv += ["--dest-creds", f"{dst_persona.registry_user}:{dst_persona.token}"]
    argv += [src, dst]
    env = base_env(proxy, REGISTRY_AUTH_FILE="/dev/null")
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return run(argv, env=env, timeout=timeout)


def run_curl(proxy, *args, timeout=60) -> subprocess.CompletedProcess:
    """`curl ARGS` through `proxy`, trusting its CA: a request shaped by hand (a header no client sends)."""
    argv = ["curl", "-sS", "--proxy", proxy.url, "--cacert", str(proxy.ca_cert), *args]
    return run(argv, env=base_env(None), timeout=timeout)


def oci_image(directory: Path, tag: str, payload: bytes | None = None, size: int = 0, seed: str = "") -> str:
    """An OCI layout at `directory` with one layer holding `payload` (or `size` random bytes); returns
    the `oci:DIR:TAG` reference skopeo copies from."""
    directory = Path(directory)
    rootfs = directory.parent / f"{directory.name}-payload"
    rootfs.mkdir(parents=True, exist_ok=True)
    blob = rootfs / "payload.bin"
    if payload is not None:
        blob.write_bytes(payload + seed.encode())
    else:
        with open(blob, "wb") as out, open("/dev/urandom", "rb") as rnd:
            left = size
            while left > 0:
                chunk = rnd.read(min(left, 4 << 20))
                out.write(chunk)
                left -= len(chunk)
    if not (directory / "index.json").exists():
        subprocess.run(["umoci", "init", "--layout", str(directory)], check=True, capture_output=True)
    subprocess.run(["umoci", "new", "--image", f"{directory}:{tag}"], check=True, capture_output=True)
    subprocess.run(
        ["umoci", "insert", "--image", f"{directory}:{tag}", str(blob), "/payload.bin"],
        check=True,
        capture_output=True,
    )
    blob.unlink()
    return f"oci:{directory}:{tag}"


def text(result: subprocess.CompletedProcess) -> str:
    """stdout and stderr of a finished client, decoded."""
    return (result.stdout or b"").decode(errors="replace") + (result.stderr or b"").decode(errors="replace")


class Dockerd:
    """A docker daemon of our own (own socket, data and exec roots) whose registry traffic uses the proxy.

    Why `SSL_CERT_FILE` and not `/etc/docker/certs.d`: the daemon must trust the proxy CA for the registry
    host and for the S3 host its layer downloads are redirected to; certs.d only covers registry hosts and
    is machine-wide state.
    """

    def __init__(self, workdir: Path, proxy, name: str = "dockerd"):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = self.dir / "docker.sock"
        self.config_dir = self.dir / "client-config"
        self.config_dir.mkdir(exist_ok=True)
        argv = [
            "dockerd",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "docker.pid"),
            "--host", f"unix://{self.sock}",
            "--config-file", str(self._daemon_json()),
        ]
        env = base_env(proxy, NO_PROXY="")
        self.proc = Proc(name, argv, self.dir / "dockerd.log", env=env)
        started(lambda: self.proc.wait_log("API listen on", timeout=60), self.proc)

    def _daemon_json(self) -> Path:
        path = self.dir / "daemon.json"
        path.write_text("{}\n")
        return path

    def docker(self, *args, timeout=300, input_bytes=None, config_dir=None) -> subprocess.CompletedProcess:
        """The docker CLI against this daemon, with a private client config (logins stay there); another
        `config_dir` is another user's shell on the same host."""
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        env.update(DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(config_dir or self.config_dir))
        return run(["docker", *args], env=env, timeout=timeout, input_bytes=input_bytes)

    def login(self, registry, persona) -> subprocess.CompletedProcess:
        """`docker login` with the persona's registry token (as `aws ecr get-login-password | docker login`)."""
        return self.docker(
            "login", "--username", persona.registry_user, "--password-stdin", registry,
            input_bytes=persona.token.encode(),
        )

    def import_image(self, tarball: Path, ref: str) -> subprocess.CompletedProcess:
        """`docker import`: an image without pulling anything from the internet."""
        return self.docker("import", str(tarball), ref)

    def stop(self) -> None:
        """SIGTERM lets dockerd stop its containerd; the process group is killed if it lingers."""
        self.proc.stop(timeout=20)
