"""The real `vpce-proxy` binary, started with a generated `vpce-proxy.toml` and stopped by PID.

Why: every end-to-end test must cross the binary users run, configured the way an operator would configure
it; only the `[[upstream]]` routes differ from production, sending AWS host names to the loopback stand-ins.
"""

import json
import os
import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .procs import LabError, Proc, announced_port

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
    source_cidrs: list = field(default_factory=list)


def _q(value) -> str:
    """A TOML value: JSON string and list syntax is valid TOML for strings and string arrays."""
    return json.dumps(value if not isinstance(value, Path) else str(value))


# The CONNECT listener line of every lab config: port 0, so the kernel picks a free port while the proxy
# binds it (no window in which another process can take it); `start` reads the port the proxy announces.
CONNECT_LINE = 'connect = "127.0.0.1:0"'
# The admin listener line of a story proxy (`render_config(..., admin=True)`), port 0 for the same reason.
ADMIN_LINE = 'admin = "127.0.0.1:0"'
#: Decisions a story proxy's viewer keeps: more than every story together sends, so the viewer can show
#: each of them (tests/e2e/test_viewer.py).
VIEWER_DECISIONS = 5000


def render_config(ca_dir, policies, principals, routes, extra_ca, audit_path, facts="", admin=False) -> str:
    """The `vpce-proxy.toml` text (format: src/config/mod.rs); `facts` is extra TOML such as `[[account]]`
    tables (ARCHITECTURE.md §9). `admin` adds the admin listener (`ADMIN_LINE`) and an `[admin]` table
    keeping `VIEWER_DECISIONS` for the decision viewer; callers that add their own `admin =` line
    (`lab.ops_proxy`, `lab.rollout`) leave it False, so no config gets the key twice."""
    lines = [
        "[listen]",
        CONNECT_LINE,
        *([ADMIN_LINE] if admin else []),
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
        if p.source_cidrs:
            lines.append(f"source_cidrs = {_q(p.source_cidrs)}")
    for host, address in routes:
        lines += ["", "[[upstream]]", f"host = {_q(host)}", f"address = {_q(address)}"]
    lines += ["", "[upstream_tls]", f"extra_ca = {_q(extra_ca)}", ""]
    lines += ["[audit]", "enabled = true", f"path = {_q(audit_path)}", ""]
    if admin:
        lines += ["[admin]", f"decisions = {VIEWER_DECISIONS}", ""]
    return "\n".join(lines) + facts


# What `vpce-proxy run` prints on stderr for each bound listener (`announce` in src/commands/run.rs): the
# address the kernel bound, then `: `. Anchored at the line start, so no log line quoting one can match.
ANNOUNCED = {
    "connect": re.compile(r"^vpce-proxy listening on 127\.0\.0\.1:(\d+): set HTTPS_PROXY="),
    "sni": re.compile(r"^vpce-proxy SNI listener on 127\.0\.0\.1:(\d+): "),
    "admin": re.compile(r"^vpce-proxy admin listener on 127\.0\.0\.1:(\d+): "),
}


def start(name: str, config: Path, log: Path, listeners=("connect",), env=None) -> tuple[Proc, dict]:
    """Runs `vpce-proxy run --config CONFIG` without the caller's own proxy variables, waits until it
    announces each of `listeners` (keys of `ANNOUNCED`) on 127.0.0.1 and each announced port accepts, and
    returns the process and the ports by listener; a proxy that fails to start is stopped, not leaked."""
    exe = binary()
    if not exe.exists():
        raise LabError(f"proxy binary {exe} missing: build it with `cargo build --release`")
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.setdefault("VPCE_PROXY_LOG", "info")
    proc = Proc(name, [str(exe), "run", "--config", str(config)], log, env=env)
    try:
        ports = {which: announced_port(proc, ANNOUNCED[which]) for which in listeners}
    except BaseException:
        proc.stop()
        raise
    return proc, ports


def admin_get(port: int, path: str) -> str:
    """GET on an admin listener (never through a proxy: urllib's opener here has no proxies)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.read().decode()


class Proxy:
    """One running `vpce-proxy run --config FILE` on a loopback port it chose, with its own CA directory,
    and an admin listener (`/healthz`, `/metrics`, the decision viewer) on another one (`admin_port`)."""

    def __init__(self, workdir: Path, name: str, policies, principals, routes, extra_ca: Path, facts=""):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_dir = self.dir / "ca"
        self.audit = self.dir / "audit.jsonl"
        self.config = self.dir / "vpce-proxy.toml"
        self.config.write_text(
            render_config(self.ca_dir, policies, principals, routes, extra_ca, self.audit, facts, admin=True)
        )
        self.proc, ports = start(name, self.config, self.dir / "proxy.log", ("connect", "admin"))
        self.port, self.admin_port = ports["connect"], ports["admin"]

    @property
    def admin_url(self) -> str:
        """The admin listener's base URL (the decision viewer is its `/`)."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def url(self) -> str:
        """The `HTTPS_PROXY` value for clients."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The proxy CA clients must trust (created by the proxy on first run)."""
        return self.ca_dir / "ca.crt"

    def admin_get(self, path: str) -> str:
        return admin_get(self.admin_port, path)

    def healthz(self) -> dict:
        return json.loads(self.admin_get("/healthz"))

    def metrics_text(self) -> str:
        return self.admin_get("/metrics")

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
