"""A TLS HTTP/1.1 upstream that records every request it receives (run as `python3 -m lab.echo`).

Why: the transparency test must see exactly what arrives upstream after crossing the proxy — method, target,
every header in order with its value, and the body bytes — to prove the proxy changed nothing SigV4 signs.
It answers like the ECR API (`{}` JSON) so the aws CLI completes.
"""

import base64
import json
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The line `main` prints once it listens; group 1 is the port the kernel chose.
LISTENING = re.compile(r"^echo listening on 127\.0\.0\.1:(\d+)$")


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    record_dir: Path = Path(".")
    count = 0

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).count += 1
        record = {
            "method": self.command,
            "target": self.path,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_b64": base64.b64encode(body).decode(),
        }
        (self.record_dir / f"{type(self).count:04d}.json").write_text(json.dumps(record))
        reply = b'{"imageDetails": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", "echo-0001")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = _handle

    def log_message(self, fmt, *args):
        sys.stdout.write("echo: " + (fmt % args) + "\n")
        sys.stdout.flush()


def main() -> None:
    """argv: PORT CERT KEY RECORD_DIR; PORT 0 lets the kernel choose, and the listen line names the port."""
    port, cert, key, record_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    record_dir.mkdir(parents=True, exist_ok=True)
    _Recorder.record_dir = record_dir
    server = ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"echo listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
