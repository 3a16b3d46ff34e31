"""A proxy configured the way an operator runs it in production: admin listener, limits, proxy
authentication, policies in a directory of its own that the test rewrites while traffic flows.

Why a separate module: `lab.proxy.Proxy` writes the story config; the operations tests need the same
principals and routes plus the `[listen] admin`, `require_proxy_auth` and `[limits]` settings, and must
own their policy files (hot reload rewrites them), so the config text is extended here, not re-invented.
"""

import json
import os
import shutil
from pathlib import Path

from .proxy import CONNECT_LINE, Proxy, render_config, start


def write_atomically(path: Path, text: str) -> None:
    """Replaces `path` by rename, as `kubectl` (ConfigMap symlink swap) and editors' safe-save do, so the
    watcher never reads a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class OpsProxy(Proxy):
    """`vpce-proxy run` with an admin listener, optional `[limits]` and proxy users, stopped by PID.

    It shares `Proxy`'s attributes (dir, port, ca_dir, audit, config, proc) and so its accessors and stop;
    only the config it writes differs.

    `policies` maps service -> source file; each is copied into the proxy's own `policies/` directory so
    tests may rewrite it (`policy_path(service)`). `proxy_users` are extra `[[principal]]` tables given as
    dicts (`arn`, `org_id`, `proxy_user`, `proxy_password`).
    """

    def __init__(self, workdir, name, policies, principals, routes, extra_ca, limits=None,
                 require_proxy_auth=False, proxy_users=()):
        self.dir = Path(workdir) / name
        (self.dir / "policies").mkdir(parents=True, exist_ok=True)
        self.ca_dir, self.audit = self.dir / "ca", self.dir / "audit.jsonl"
        self.config = self.dir / "vpce-proxy.toml"
        self.policies = {}
        for service, source in policies.items():
            target = self.dir / "policies" / f"{service}.json"
            shutil.copyfile(source, target)
            self.policies[service] = target
        text = render_config(self.ca_dir, self.policies, principals, routes, extra_ca, self.audit)
        extra = [CONNECT_LINE, 'admin = "127.0.0.1:0"']
        if require_proxy_auth:
            extra.append("require_proxy_auth = true")
        text = text.replace(CONNECT_LINE, "\n".join(extra), 1)
        if limits:
            text += "\n[limits]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in limits.items())
        for user in proxy_users:
            text += "\n[[principal]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in user.items())
        self.config.write_text(text)
        self.proc, ports = start(name, self.config, self.dir / "proxy.log", ("connect", "admin"))
        self.port, self.admin_port = ports["connect"], ports["admin"]

    def policy_path(self, service: str) -> Path:
        return self.policies[service]

    def audit_lines(self) -> list:
        """Raw audit lines (every one must be JSON; the tests check that themselves)."""
        return self.audit.read_text(errors="replace").splitlines() if self.audit.exists() else []
