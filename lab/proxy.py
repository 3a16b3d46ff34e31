"""The real `vpce-proxy` binary, started with a generated `vpce-proxy.toml` and stopped by PID.

Why: every end-to-end test must cross the binary users run, configured the way an operator would configure
it; only the `[[upstream]]` routes differ from production, sending AWS host names to the loopback stand-ins.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .procs import LabError, Proc, free_port, wait_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def binary() -> Path:
    """The binary under test: `$VPCE_PROXY_BIN`, else the release build in `$CARGO_TARGET_DIR` or `target/`."""
    if os.environ.get("VPCE_PROXY_BIN"):
        return Path(os.environ["VPCE_PROXY_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    return target / "release" / "vpce-proxy"


@dataclass
class Principal:
    """One `[[principal]]`: how the proxy recognises a caller and what it knows about it."""

    arn: str
    access_key_ids: list = field(default_factory=list)
    registry_tokens: list = field(default_factory=list)
    org_id: str | None = None
    account: str | None = None
    identity_policies: list = field(default_factory=list)


def _q(value) -> str:
    """A TOML value: JSON string and list syntax is valid TOML for strings and string arrays."""
    return json.dumps(value if not isinstance(value, Path) else str(value))


def render_config(port, ca_dir, policies, principals, routes, extra_ca, audit_path) -> str:
    """The `vpce-proxy.toml` text (format: src/config.rs)."""
    lines = [
        "[listen]",
        f'connect = "127.0.0.1:{port}"',
        "",
        "[endpoint]",
        'id = "vpce-0lab0000000000001"',
        'vpc_id = "vpc-0lab0000000000001"',
        'account = "123456789123"',
        "",
        "[ca]",
        f"dir = {_q(ca_dir)}",
        "",
        "[policies]",
    ]
    lines += [f"{_q(service)} = {_q(path)}" for service, path in policies.items()]
    for p in principals:
        lines += ["", "[[principal]]", f"arn = {_q(p.arn)}"]
        if p.account:
            lines.append(f"account = {_q(p.account)}")
        if p.org_id:
            lines.append(f"org_id = {_q(p.org_id)}")
        lines.append(f"access_key_ids = {_q(p.access_key_ids)}")
        lines.append(f"registry_tokens = {_q(p.registry_tokens)}")
        lines.append(f"identity_policies = {_q([str(x) for x in p.identity_policies])}")
    for host, address in routes:
        lines += ["", "[[upstream]]", f"host = {_q(host)}", f"address = {_q(address)}"]
    lines += ["", "[upstream_tls]", f"extra_ca = {_q(extra_ca)}", ""]
    lines += ["[audit]", "enabled = true", f"path = {_q(audit_path)}", ""]
    return "\n".join(lines)


def start(name: str, config: Path, log: Path, port: int, *more_ports: int) -> Proc:
    """Runs `vpce-proxy run --config CONFIG` without the caller's own proxy variables, waits until it
    announces `127.0.0.1:PORT` and every port accepts; a proxy that fails to start is stopped, not leaked."""
    exe = binary()
    if not exe.exists():
        raise LabError(f"proxy binary {exe} missing: build it with `cargo build --release`")
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.setdefault("VPCE_PROXY_LOG", "info")
    proc = Proc(name, [str(exe), "run", "--config", str(config)], log, env=env)
    try:
        line = proc.wait_log("listening on", timeout=30)
        if not re.search(rf"listening on 127\.0\.0\.1:{port}\b", line):
            raise LabError(f"unexpected listen line {line!r}; see {proc.log}")
        for p in (port, *more_ports):
            wait_port(p, proc)
    except BaseException:
        proc.stop()
        raise
    return proc


class Proxy:
    """One running `vpce-proxy run --config FILE` on a free loopback port, with its own CA directory."""

    def __init__(self, workdir: Path, name: str, policies, principals, routes, extra_ca: Path):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.ca_dir = self.dir / "ca"
        self.audit = self.dir / "audit.jsonl"
        self.config = self.dir / "vpce-proxy.toml"
        self.config.write_text(
            render_config(self.port, self.ca_dir, policies, principals, routes, extra_ca, self.audit)
        )
        self.proc = start(name, self.config, self.dir / "proxy.log", self.port)

    @property
    def url(self) -> str:
        """The `HTTPS_PROXY` value for clients."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The proxy CA clients must trust (created by the proxy on first run)."""
        return self.ca_dir / "ca.crt"

    def audit_records(self) -> list:
        """The proxy's audit log (one JSON object per decision), parsed; unparsable lines are skipped."""
        records = []
        if self.audit.exists():
            for line in self.audit.read_text(errors="replace").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def log_text(self) -> str:
        """The proxy's stdout/stderr so far (for failure messages)."""
        return self.proc.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (the proxy drains), then SIGKILL if it lingers."""
        self.proc.stop()
