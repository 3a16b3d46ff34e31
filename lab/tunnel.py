"""A plain CONNECT tunnel that sends every target to one loopback address (run as `python3 -m lab.tunnel`).

Why: the registry's own S3 traffic must reach moto while the registry believes it talks to
`BUCKET.s3.us-east-1.amazonaws.com`, so that the presigned URLs it hands to clients name the real AWS bucket
host. Go never proxies loopback names, so the registry gets `HTTPS_PROXY` = this tunnel. It does not look inside
TLS (moto's certificate, from the lab CA, is valid for the AWS names), so it is plumbing, not a stand-in.
"""

import re
import socket
import sys
import threading

# The line `main` prints once it listens; group 1 is the port the kernel chose.
LISTENING = re.compile(r"^tunnel listening on 127\.0\.0\.1:(\d+)$")


def pipe(src: socket.socket, dst: socket.socket, on_chunk=None) -> None:
    """Copies src to dst until either side ends, then shuts both down; `on_chunk(n)` sees every chunk's size."""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            if on_chunk is not None:
                on_chunk(len(chunk))
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 16384:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    if not head.startswith(b"CONNECT "):
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    upstream = socket.create_connection(target, timeout=30)
    upstream.settimeout(None)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        upstream.sendall(rest)
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)


def main() -> None:
    """argv: LISTEN_PORT TARGET_PORT (both on 127.0.0.1); LISTEN_PORT 0 lets the kernel choose, and the listen
    line names the port."""
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    print(f"tunnel listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve, args=(client, ("127.0.0.1", target_port)), daemon=True).start()


if __name__ == "__main__":
    main()
