"""The policy rollout loop on the lab (ARCHITECTURE.md §10), with the real clients and the real binary:

1. record: one proxy in report mode under a deny-all policy, while the aws CLI, skopeo, docker and
   containerd do their jobs (every request decided, audited, forwarded);
2. generate an endpoint policy per service from that audit log, and `validate` it;
3. replay the log against the generated policies (nothing that succeeded may become denied);
4. enforce them (the same proxy, reloaded): the same commands succeed, one outside the recorded set is
   refused;
5. shadow: a candidate that drops one statement is decided beside the live policy, and the audit shows
   exactly the requests that statement allowed.

Why one proxy reloaded between steps: that is how an operator rolls out, and the daemons (dockerd,
containerd) keep the `HTTPS_PROXY` they started with.
"""

import fnmatch
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from . import clients
from .containerd import Containerd
from .ops_proxy import OpsProxy, write_atomically
from .procs import run
from .proxy import CONNECT_LINE, binary, render_config, start
from .world import DEV, OWN_REGISTRY, PERSONAS

SERVICES = ("ecr.api", "ecr.dkr", "s3")
#: Refuses everything: the recording starts from nothing allowed.
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "NothingYet", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}],
}
REPO = "rollout/app"


def vpce(*args, timeout=300) -> subprocess.CompletedProcess:
    """`vpce-proxy ARGS`, the binary under test."""
    return run([str(binary()), *map(str, args)], env=clients.base_env(None), timeout=timeout)


class RolloutProxy(OpsProxy):
    """One `vpce-proxy run` with an admin listener whose config `configure` rewrites and reloads (SIGHUP);
    the admin accessors (`admin_get`, `healthz`, `metrics_text`) are `OpsProxy`'s."""

    def __init__(self, lab, name="proxy-rollout"):
        self.lab = lab
        self.dir = Path(lab.dir) / name
        (self.dir / "policies").mkdir(parents=True, exist_ok=True)
        self.ca_dir, self.audit = self.dir / "ca", self.dir / "audit.jsonl"
        self.config = self.dir / "vpce-proxy.toml"
        self._write({s: DENY_ALL for s in SERVICES}, mode="report")
        self.proc, ports = start(name, self.config, self.dir / "proxy.log", ("connect", "admin"))
        self.port, self.admin_port = ports["connect"], ports["admin"]
        lab._own(self)

    def _write(self, policies: dict, mode: str, shadow: dict | None = None) -> None:
        """The config with `policies` (service -> policy document) in force, `[enforcement] mode` and
        optional shadow documents."""
        paths = {}
        for service, doc in policies.items():
            paths[service] = self.dir / "policies" / f"{service}.json"
            write_atomically(paths[service], json.dumps(doc, indent=2) + "\n")
        principals = [p.principal() for p in PERSONAS]
        text = render_config(self.ca_dir, paths, principals, self.lab.routes(), self.lab.ca.cert_path, self.audit)
        text = text.replace(CONNECT_LINE, CONNECT_LINE + '\nadmin = "127.0.0.1:0"', 1)
        text += f'\n[enforcement]\nmode = "{mode}"\n'
        if shadow:
            text += "\n[shadow_policies]\n"
            for service, doc in shadow.items():
                path = self.dir / "policies" / f"shadow-{service}.json"
                write_atomically(path, json.dumps(doc, indent=2) + "\n")
                text += f'"{service}" = "{path}"\n'
        write_atomically(self.config, text)

    def configure(self, policies: dict, mode: str, shadow: dict | None = None) -> dict:
        """Rewrites the config and reloads it with SIGHUP; returns `/healthz` once the reload is in force."""
        before = self.healthz()["reloads"]
        self._write(policies, mode, shadow)
        os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = self.healthz()
            if health["reloads"] > before:
                if health["last_reload_error"]:
                    raise RuntimeError(f"reload rejected: {health['last_reload_error']}")
                return health
            time.sleep(0.1)
        raise RuntimeError(f"reload not applied within 30 s: {self.healthz()}")

    def metric(self, series: str) -> float:
        """The value of one series (`name{labels}` as rendered, without the `vpce_proxy_` prefix), 0 if absent."""
        for line in self.metrics_text().splitlines():
            if line.startswith("vpce_proxy_" + series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


class Rollout:
    """The loop's steps against one `RolloutProxy`, with the clients the recorded set uses."""

    def __init__(self, lab):
        self.lab = lab
        self.work = Path(lab.dir) / "rollout"
        self.work.mkdir(exist_ok=True)
        self.proxy = RolloutProxy(lab)
        self.image = clients.oci_image(self.work / "oci-src", "v1", payload=b"rollout layer " * 4000)
        self._dockerd = None
        self._containerd = None

    # -- the clients ---------------------------------------------------------------------------------
    def dockerd(self) -> clients.Dockerd:
        if self._dockerd is None:
            self._dockerd = self.lab._own(clients.Dockerd(self.lab.dir, self.proxy, name="dockerd-rollout"))
        return self._dockerd

    def containerd(self) -> Containerd:
        if self._containerd is None:
            self._containerd = self.lab._own(
                Containerd(self.lab.dir, self.proxy, [OWN_REGISTRY], name="containerd-rollout")
            )
        return self._containerd

    def aws(self, *args) -> subprocess.CompletedProcess:
        return clients.aws(self.proxy, DEV, ["ecr", *args])

    def recorded_set(self) -> list:
        """(name, thunk) per client command the rollout records and then expects to keep working."""
        own = f"{OWN_REGISTRY}/{REPO}"
        d = self.dockerd
        return [
            ("aws ecr get-authorization-token", lambda: self.aws("get-authorization-token")),
            ("aws ecr describe-images --repository-name app",
             lambda: self.aws("describe-images", "--repository-name", "app")),
            (f"skopeo copy oci:… docker://{own}:v1",
             lambda: clients.skopeo_copy(self.proxy, self.image, f"docker://{own}:v1", dst_persona=DEV)),
            (f"skopeo copy docker://{own}:v1 oci:…",
             lambda: clients.skopeo_copy(self.proxy, f"docker://{own}:v1", f"oci:{self.work / 'pulled'}:v1",
                                         src_persona=DEV)),
            (f"docker push {own}:docker", lambda: _steps(
                d().login(OWN_REGISTRY, DEV), d().docker("tag", self.image_for_docker(), f"{own}:docker"),
                d().docker("push", f"{own}:docker"))),
            (f"docker pull {own}:docker (after rmi)", lambda: _steps(
                d().docker("rmi", f"{own}:docker"), d().docker("pull", f"{own}:docker"))),
            (f"ctr images pull {own}:v1", lambda: self.containerd().pull(f"{own}:v1", DEV.token, DEV.registry_user)),
        ]

    def outside_set(self) -> list:
        """Commands the recording never saw: the generated policy must refuse them."""
        other = f"{OWN_REGISTRY}/rollout/other"
        return [
            ("aws ecr delete-repository --repository-name base-image3",
             lambda: self.aws("delete-repository", "--repository-name", "base-image3")),
            (f"skopeo copy oci:… docker://{other}:v1",
             lambda: clients.skopeo_copy(self.proxy, self.image, f"docker://{other}:v1", dst_persona=DEV)),
        ]

    def image_for_docker(self) -> str:
        """A local image for `docker push`, imported once from a tiny root filesystem (no internet)."""
        ref = "rollout/imported:v1"
        listed = self.dockerd().docker("image", "inspect", ref)
        if listed.returncode != 0:
            from .stories import _tarball

            tar = self.work / "rootfs.tar"
            _tarball(tar)
            imported = self.dockerd().import_image(tar, ref)
            if imported.returncode != 0:
                raise RuntimeError("docker import failed: " + clients.text(imported))
        return ref

    @staticmethod
    def run_all(commands) -> list:
        """(name, returncode, output) per command, in order."""
        results = []
        for name, thunk in commands:
            proc = thunk()
            results.append((name, proc.returncode, clients.text(proc)))
        return results

    # -- the tools -----------------------------------------------------------------------------------
    def generate(self, audit: Path, service: str) -> tuple[dict, str, Path]:
        """`vpce-proxy generate --audit AUDIT --service SERVICE`: the policy, its stderr, and its file."""
        out = vpce("generate", "--audit", audit, "--service", service, "--config", self.proxy.config)
        if out.returncode != 0:
            raise RuntimeError(f"generate {service} failed ({out.returncode}): {clients.text(out)}")
        path = self.work / f"generated-{service}.json"
        path.write_bytes(out.stdout)
        return json.loads(out.stdout), out.stderr.decode(errors="replace"), path

    def replay(self, audit: Path, policies: dict, *extra) -> subprocess.CompletedProcess:
        """`vpce-proxy replay --audit AUDIT --policy SERVICE=FILE... --config CONFIG`."""
        args = ["replay", "--audit", audit, "--config", self.proxy.config]
        for service, path in policies.items():
            args += ["--policy", f"{service}={path}"]
        return vpce(*args, *extra)


def statement_allows(statement: dict, action: str, resource: str) -> bool:
    """Whether an Allow statement's Action and Resource patterns cover one permission (IAM wildcards:
    actions case-insensitively, resources as written)."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        fnmatch.fnmatchcase(resource, r) for r in resources
    )


def permissions(record: dict) -> list:
    """(action, resource) of every permission an audit line's request needed."""
    authorization = record.get("authorization") or {}
    main = [(authorization["action"], authorization["resource"])] if authorization.get("action") else []
    return main + [(p["action"], p["resource"]) for p in authorization.get("additional", [])]


def _steps(*procs) -> subprocess.CompletedProcess:
    """The first failing step, else the last (steps already ran; their order is the argument order)."""
    for p in procs:
        if p.returncode != 0:
            return p
    return procs[-1]
