"""containerd as a Kubernetes node runs it, and `ctr` as its client, with the proxy in between.

Why its own daemon: a node's kubelet pulls through containerd, not dockerd, and containerd resolves and
authenticates differently (a bare manifest `HEAD` first, credentials only after a 401 challenge, layers
with `Range` requests). The daemon here has its own root, state and sockets, so it never touches the
machine's containerd; it trusts the proxy CA the way the README tells a node to: a `hosts.toml` per
registry host in a hosts directory (`ctr --hosts-dir`, containerd's `config_path`).

In containerd 1.6 `ctr images pull/push` resolve and fetch in the `ctr` process itself (the daemon stores
content and unpacks), so `ctr` gets the proxy environment too, as the daemon does.
"""

from pathlib import Path

from .clients import base_env
from .procs import Proc, run, started

CONFIG = """version = 2
root = "{root}"
state = "{state}"
# CRI needs a node (cgroups, CNI); the lab only pulls and pushes. Snapshotters that need a kernel feature
# are off too: pulls unpack with `native`.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "{hosts}"
"""

#: One registry host, reached through the proxy, whose TLS the proxy signs with its CA. The root-level `ca`
#: applies to `server`; containerd 1.6 refuses a file without a `host` table, so an empty one says "no
#: mirrors" (a `[host."https://HOST"]` entry would be tried before `server`, so a refused request would be
#: sent, and refused, twice).
HOSTS_TOML = """server = "https://{host}"
ca = "{ca}"

[host]
"""


class Containerd:
    """A containerd of our own whose registry traffic goes through `proxy`; `ctr()` runs its client."""

    def __init__(self, workdir: Path, proxy, hosts: list, name: str = "containerd"):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock = self.dir / "containerd.sock"
        self.proxy = proxy
        self.hosts_dir = self.dir / "certs.d"
        for host in hosts:
            self.trust(host)
        config = self.dir / "config.toml"
        config.write_text(CONFIG.format(
            root=self.dir / "root", state=self.dir / "state", sock=self.sock, hosts=self.hosts_dir
        ))
        self.proc = Proc(name, ["containerd", "--config", str(config)], self.dir / "containerd.log", env=self._env())
        started(lambda: self.proc.wait_log("containerd successfully booted", timeout=60), self.proc)

    def trust(self, host: str) -> None:
        """`certs.d/HOST/hosts.toml`: the registry host's TLS is trusted through the proxy CA."""
        d = self.hosts_dir / host
        d.mkdir(parents=True, exist_ok=True)
        (d / "hosts.toml").write_text(HOSTS_TOML.format(host=host, ca=self.proxy.ca_cert))

    def _env(self) -> dict:
        """The proxy's environment for the daemon and `ctr`, without a CA file: the CA comes from hosts.toml,
        as on a node."""
        env = base_env(self.proxy, NO_PROXY="")
        env.pop("SSL_CERT_FILE", None)
        return env

    def ctr(self, *args, timeout=300):
        """`ctr -a SOCK -n lab ARGS` with the proxy's environment."""
        return run(["ctr", "-a", str(self.sock), "-n", "lab", *args], env=self._env(), timeout=timeout)

    def _registry(self, verb, ref, password, user, *extra):
        return self.ctr("images", verb, "--hosts-dir", str(self.hosts_dir), "--user", f"{user}:{password}",
                        *extra, ref)

    def pull(self, ref: str, password: str, user: str = "AWS"):
        """`ctr images pull --user AWS:$(aws ecr get-login-password) REF`, unpacked with `native`."""
        return self._registry("pull", ref, password, user, "--snapshotter", "native")

    def push(self, ref: str, password: str, user: str = "AWS"):
        """`ctr images push --user AWS:$(aws ecr get-login-password) REF`."""
        return self._registry("push", ref, password, user)

    def tag(self, src: str, dst: str):
        """`ctr images tag --force SRC DST`: a pulled image under another registry's name."""
        return self.ctr("images", "tag", "--force", src, dst)

    def stop(self) -> None:
        self.proc.stop(timeout=20)
