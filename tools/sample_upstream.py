#!/usr/bin/env python3
"""Sample upstream: the partner agencies' back-office systems, for the demo and the tests.

    python3 tools/sample_upstream.py --listen 127.0.0.1:0 [--tls-cert F --tls-key F]
        [--fixtures DIR] [--record FILE] [--delay-ms N] [--status N]

Prints exactly one line, `sample-upstream listening on HOST:PORT`, on stdout once bound, then
serves HTTP/1.1 with keep-alive (and pipelining) from JSON fixtures routed by
tools/upstream-fixtures/routes.json. Written on raw sockets (python3 standard library only)
so that --record can log the exact bytes of every request as received:
one JSON line per request, {"raw_b64", "peer", "time", "method", "target"}, flushed at once.

--delay-ms N   sleep N ms before each response (to exercise the gateway's upstream timeout)
--status N     answer every request with status N and a problem body carrying internal
               details that the gateway must never pass on
Unknown paths get 404 with a JSON body. SIGTERM / SIGINT shut the server down cleanly.
Log lines (one per request) go to stderr.
"""
import argparse
import base64
import datetime
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
IDLE_TIMEOUT = 60.0
REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    413: "Content Too Large", 418: "I'm a teapot", 422: "Unprocessable Content", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class BadRequest(Exception):
    pass


class ConnectionGone(Exception):
    pass


def log(msg):
    sys.stderr.write(json.dumps({"time": now_iso(), "component": "sample-upstream", "msg": msg}) + "\n")
    sys.stderr.flush()


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Routes:
    def __init__(self, fixtures_dir):
        self.dir = fixtures_dir
        with open(os.path.join(fixtures_dir, "routes.json"), encoding="utf-8") as fh:
            spec = json.load(fh)
        self.routes = []
        for r in spec["routes"]:
            fixture_path = os.path.join(fixtures_dir, r["fixture"])
            with open(fixture_path, "rb") as fh:
                body = fh.read()
            self.routes.append({
                "method": r["method"],
                "path": re.compile(r["path"]),
                "query": re.compile(r["query"]) if "query" in r else None,
                "body": body,
                "content_type": r.get("content_type", "application/json"),
                "status": int(r.get("status", 200)),
            })

    def lookup(self, method, path, query):
        match_method = "GET" if method == "HEAD" else method
        for r in self.routes:
            if r["method"] != match_method:
                continue
            pm = r["path"].fullmatch(path)
            if not pm:
                continue
            groups = {k: v for k, v in pm.groupdict().items() if v is not None}
            if r["query"] is not None:
                qm = r["query"].fullmatch(query or "")
                if not qm:
                    continue
                groups.update({k: v for k, v in qm.groupdict().items() if v is not None})
            body = r["body"]
            if r["content_type"].startswith("application/json"):
                text = body.decode("utf-8")
                for k, v in groups.items():
                    text = text.replace("${" + k + "}", v)
                body = text.encode("utf-8")
            return r["status"], r["content_type"], body
        return None


class Recorder:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.fh = open(path, "a", encoding="utf-8") if path else None

    def record(self, raw, peer, method, target):
        if not self.fh:
            return
        line = json.dumps({"raw_b64": base64.b64encode(raw).decode("ascii"), "peer": peer, "time": now_iso(),
                           "method": method, "target": target})
        with self.lock:
            self.fh.write(line + "\n")
            self.fh.flush()


class Conn:
    """Buffered reader over a socket that keeps the raw bytes of the current request."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.raw = bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise ConnectionGone("idle timeout")
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise ConnectionGone(str(exc))
        if not data:
            raise ConnectionGone("closed by peer")
        self.buf += data

    def read_until(self, marker, limit):
        while True:
            idx = self.buf.find(marker)
            if idx >= 0:
                out = self.buf[: idx + len(marker)]
                self.buf = self.buf[idx + len(marker):]
                self.raw += out
                return out
            if len(self.buf) > limit:
                raise BadRequest("header section too large")
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = self.buf[:n]
        self.buf = self.buf[n:]
        self.raw += out
        return out

    def sendall(self, data):
        try:
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            raise ConnectionGone(str(exc))


def parse_head(head):
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise BadRequest("malformed request line")
    method, target, version = parts
    if not TOKEN.match(method) or version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise BadRequest("malformed request line")
    headers = []
    for line in lines[1:]:
        if b":" not in line or line[:1] in (b" ", b"\t"):
            raise BadRequest("malformed header line")
        name, value = line.split(b":", 1)
        if not TOKEN.match(name):
            raise BadRequest("invalid header name")
        headers.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    return method.decode("ascii"), target.decode("latin-1"), version.decode("ascii"), headers


def read_body(conn, headers):
    te = [v for k, v in headers if k == "transfer-encoding"]
    cl = [v for k, v in headers if k == "content-length"]
    if te:
        if cl or len(te) != 1 or te[0].lower() != "chunked":
            raise BadRequest("unsupported transfer-encoding framing")
        body = bytearray()
        while True:
            size_line = conn.read_until(b"\r\n", 4096)
            size_text = size_line[:-2].split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                raise BadRequest("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                while conn.read_until(b"\r\n", MAX_HEAD) != b"\r\n":  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise BadRequest("body too large")
            body += conn.read_exact(size)
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("bad chunk terminator")
    if cl:
        if len(set(cl)) != 1 or not re.fullmatch(r"[0-9]{1,12}", cl[0]):
            raise BadRequest("bad content-length")
        n = int(cl[0])
        if n > MAX_BODY:
            raise BadRequest("body too large")
        return conn.read_exact(n)
    return b""


def response_bytes(status, content_type, body, keep_alive, head_only, extra=None):
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
             f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}",
             "Server: northshire-sample-upstream/1.0",
             f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}",
             "Cache-Control: no-store"]
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    if not keep_alive:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + body


def byte_range(spec, payload):
    """One `bytes=A-B` or `bytes=A-` range of a binary fixture (video players seek with these):
    206 with Content-Range, or the whole 200 for anything else, as RFC 9110 allows."""
    m = re.fullmatch(r"bytes=([0-9]+)-([0-9]*)", spec.strip())
    if not m or int(m.group(1)) >= len(payload):
        return 200, payload, None
    first = int(m.group(1))
    last = min(int(m.group(2)) if m.group(2) else len(payload) - 1, len(payload) - 1)
    if last < first:
        return 200, payload, None
    return 206, payload[first:last + 1], {"Content-Range": f"bytes {first}-{last}/{len(payload)}"}


def json_body(obj):
    return (json.dumps(obj, indent=2) + "\n").encode("utf-8")


class Server:
    def __init__(self, args):
        self.args = args
        self.routes = Routes(args.fixtures)
        self.recorder = Recorder(args.record)
        self.stop = threading.Event()
        self.ssl_ctx = None
        if args.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
            self.ssl_ctx = ctx
        host, _, port = args.listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, int(port)))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.bound = self.sock.getsockname()
        self.threads = set()
        self.lock = threading.Lock()

    def serve(self):
        host, port = self.bound[0], self.bound[1]
        shown = f"[{host}]" if ":" in host else host
        sys.stdout.write(f"sample-upstream listening on {shown}:{port}\n")
        sys.stdout.flush()
        while not self.stop.is_set():
            try:
                client, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self.stop.is_set():
                    break
                raise
            t = threading.Thread(target=self.handle, args=(client, addr), daemon=True)
            with self.lock:
                self.threads.add(t)
            t.start()
        self.sock.close()
        deadline = time.monotonic() + 2.0
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def handle(self, client, addr):
        peer = f"{addr[0]}:{addr[1]}"
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.settimeout(IDLE_TIMEOUT)
            if self.ssl_ctx is not None:
                try:
                    client = self.ssl_ctx.wrap_socket(client, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    log(f"TLS handshake with {peer} failed: {exc}")
                    return
            conn = Conn(client)
            while not self.stop.is_set():
                conn.raw = bytearray()
                try:
                    head = conn.read_until(b"\r\n\r\n", MAX_HEAD)
                    method, target, version, headers = parse_head(head)
                    expect = [v.lower() for k, v in headers if k == "expect"]
                    if "100-continue" in expect and version == "HTTP/1.1":
                        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    body = read_body(conn, headers)
                except BadRequest as exc:
                    self.recorder.record(bytes(conn.raw) + conn.buf, peer, None, None)
                    conn.sendall(response_bytes(400, "application/json",
                                                json_body({"error": "bad_request", "detail": str(exc)}), False, False))
                    return
                self.recorder.record(bytes(conn.raw), peer, method, target)
                keep_alive = self.keep_alive(version, headers)
                status, ctype, payload = self.answer(method, target, body)
                extra = None
                ranges = [v for k, v in headers if k == "range"]
                if status == 200 and ctype != "application/json" and len(ranges) == 1:
                    status, payload, extra = byte_range(ranges[0], payload)
                if self.args.delay_ms:
                    time.sleep(self.args.delay_ms / 1000.0)
                conn.sendall(response_bytes(status, ctype, payload, keep_alive, method == "HEAD", extra))
                log(f"{peer} {method} {target} -> {status} ({len(payload)} bytes)")
                if not keep_alive:
                    return
        except ConnectionGone:
            pass
        finally:
            try:
                client.close()
            except OSError:
                pass
            with self.lock:
                self.threads.discard(threading.current_thread())

    @staticmethod
    def keep_alive(version, headers):
        tokens = set()
        for k, v in headers:
            if k == "connection":
                tokens.update(t.strip().lower() for t in v.split(","))
        if version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def answer(self, method, target, body):
        if self.args.status:
            return self.args.status, "application/json", json_body({
                "error": "forced_status", "status": self.args.status,
                "internal_detail": "ORA-00942 at CaseSvc.lookup line 812 (back-office detail a partner must never see)"})
        path, _, query = target.partition("?")
        found = self.routes.lookup(method, path, query)
        if found is None:
            return 404, "application/json", json_body({"error": "not_found", "method": method, "path": path})
        return found


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Sample partner-agency back-office systems for the DSA Gateway demo.")
    ap.add_argument("--listen", required=True, metavar="HOST:PORT")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--fixtures", default=os.path.join(here, "upstream-fixtures"))
    ap.add_argument("--record", metavar="FILE")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--status", type=int, default=0)
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if args.status and not 100 <= args.status <= 599:
        ap.error("--status must be an HTTP status code")

    server = Server(args)

    def on_signal(signum, _frame):
        server.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
