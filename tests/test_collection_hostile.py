"""Broken, slow and hostile sources: one pass still finishes in bounded time and memory, the
good sources' stories are stored, and every bad source's reason is recorded in ``sources``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

import pytest
from conftest import REPO, LoopbackServer, monitor_env, rss, run_monitor, write_config
from stories import SWAP

from monitor.sources.http import FetchLimits, FetchResult, Validators, build_client, fetch

MB = 1024 * 1024
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>http://127.0.0.1/bomb</link></item></channel></rss>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>x</title>
<item><title>&secret;</title><link>http://127.0.0.1/xxe</link></item></channel></rss>"""


def gzip_bomb(decoded: int) -> bytes:
    """``decoded`` bytes of zeros, gzip-compressed (about a thousandth of the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b"\0" * MB
    parts = [compressor.compress(block) for _ in range(decoded // MB)]
    return b"".join(parts) + compressor.flush()


class HostileServer:
    """Loopback server whose routes misbehave in every way a feed can."""

    def __init__(self, good: bytes, bomb: bytes) -> None:
        routes = {
            "/good.xml": self._good,
            "/trickle.xml": self._trickle,
            "/huge.xml": self._huge,
            "/bomb.xml": self._bomb,
            "/loop.xml": self._loop,
            "/missing.xml": self._status(404),
            "/broken.xml": self._status(500),
            "/page.html": self._body(b"<!DOCTYPE html><html><body><p>Hello</p></body></html>"),
            "/empty.xml": self._body(b""),
            "/truncated.xml": self._body(b'<?xml version="1.0"?><rss version="2.0"><chan'),
            "/laughs.xml": self._body(BILLION_LAUGHS),
            "/xxe.xml": self._body(EXTERNAL_ENTITY),
        }
        self.good, self.bomb_body = good, bomb
        self.huge_sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                # The client hanging up on us is what it should do.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def do_GET(self) -> None:  # noqa: N802
                routes[self.path](self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        del server

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
        h.send_response(status)
        for key, value in {"Content-Type": "application/rss+xml", **headers}.items():
            h.send_header(key.replace("_", "-"), value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _good(self, h: BaseHTTPRequestHandler) -> None:
        self._send(h, 200, self.good)

    def _body(self, body: bytes):  # type: ignore[no-untyped-def]
        return lambda h: self._send(h, 200, body)

    def _status(self, status: int):  # type: ignore[no-untyped-def]
        return lambda h: self._send(h, status, b"nope", Content_Type="text/plain")

    def _trickle(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100000):  # one byte every 0.2 s: never a read timeout, never done
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.2)

    def _huge(self, h: BaseHTTPRequestHandler) -> None:
        # 300 MB, streamed without a Content-Length, generated as it goes.
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
        chunk = b"x" * MB
        for _ in range(300):
            h.wfile.write(chunk)
            self.huge_sent += len(chunk)

    def _bomb(self, h: BaseHTTPRequestHandler) -> None:
        self._send(h, 200, self.bomb_body, Content_Encoding="gzip")

    def _loop(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/loop.xml")
        h.send_header("Content-Length", "0")
        h.end_headers()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    srv = HostileServer(rss([SWAP]), gzip_bomb(512 * MB))
    yield srv
    srv.close()


BAD = {
    "trickle": ("/trickle.xml", "timeout"),
    "huge": ("/huge.xml", "too_large"),
    "bomb": ("/bomb.xml", "too_large"),
    "loop": ("/loop.xml", "redirects"),
    "missing": ("/missing.xml", "http_status"),
    "broken": ("/broken.xml", "http_status"),
    "page": ("/page.html", "not_feed"),
    "empty": ("/empty.xml", "not_feed"),
    "truncated": ("/truncated.xml", "parse"),
    "laughs": ("/laughs.xml", "unsafe_xml"),
    "xxe": ("/xxe.xml", "unsafe_xml"),
}

# Runs the CLI and reports the peak RSS of it and its parse workers (ru_maxrss, in KiB).
MEASURED_RUN = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


def test_hostile_sources_fail_with_reasons_and_good_ones_are_stored(tmp_path, hostile):
    feeds = [{"name": "good", "url": hostile.url("/good.xml")}]
    feeds += [{"name": name, "url": hostile.url(path)} for name, (path, _) in BAD.items()]
    config = write_config(
        tmp_path,
        json.dumps(
            {
                "fetch": {
                    "deadline": "3s",
                    "read_timeout": "2s",
                    "max_bytes": "4MB",
                    "max_decoded_bytes": "8MB",
                    "max_redirects": 3,
                },
                "feeds": feeds,
            }
        ),
    )
    done = subprocess.run(
        [sys.executable, "-c", MEASURED_RUN, sys.executable, "-m", "monitor", "poll", "--once"]
        + ["--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,  # the per-fetch deadline bounds the pass, not the trickle
        env=monitor_env(),
        cwd=str(REPO),
    )

    assert done.returncode == 0, done.stderr
    assert f"{len(feeds)} feeds polled ({len(BAD)} failed)" in done.stdout
    peak_mb = int(done.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mb < 250, f"peak RSS {peak_mb:.0f} MB"  # 300 MB body, 512 MB bomb: neither held
    assert hostile.huge_sent < 100 * MB  # the client hung up long before the end
    db = sqlite3.connect(tmp_path / "monitor.db")
    titles = [r[0] for r in db.execute("SELECT title FROM articles WHERE source = 'good'")]
    assert titles == [SWAP["title"]]
    rows = {
        name: (kind, error, failures)
        for name, kind, error, failures in db.execute(
            "SELECT name, last_error_kind, last_error, consecutive_failures FROM sources"
        )
    }
    assert rows["good"] == (None, None, 0)
    for name, (_, kind) in BAD.items():
        assert rows[name][0] == kind, (name, rows[name])
        assert rows[name][1] and rows[name][2] == 1


def test_redirects_within_the_limit_are_followed(tmp_path, server):
    server.routes["/old.xml"] = (301, {"Location": "/new.xml"}, b"")
    server.routes["/new.xml"] = rss([SWAP])
    config = write_config(tmp_path, f'feeds: [{{name: moved, url: "{server.url("/old.xml")}"}}]')
    result = run_monitor("poll", "--once", "--config", str(config))

    assert result.returncode == 0, result.stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1


def test_a_cookie_set_on_a_redirect_lasts_for_that_fetch_only(server):
    # A consent wall: no cookie, and the feed sends you to itself with one.
    def consent(request):  # type: ignore[no-untyped-def]
        if "consent=yes" in cookie_of(request):
            return rss([SWAP])
        return (302, {"Location": "/feed.xml", "Set-Cookie": "consent=yes; Path=/"}, b"")

    server.routes["/feed.xml"] = consent

    async def poll_twice() -> list[FetchResult]:
        limits = FetchLimits()
        async with build_client("newsmonitor-test", 4, limits) as client:
            return [
                await fetch(client, server.url("/feed.xml"), Validators(), limits) for _ in "ab"
            ]

    results = asyncio.run(poll_twice())

    assert [r.status for r in results] == [200, 200]
    assert all(b"<item>" in r.content for r in results)
    # Sent back on the redirect it came with, never on a later poll.
    assert [cookie_of(r) for r in server.requests] == ["", "consent=yes", "", "consent=yes"]


def cookie_of(request) -> str:  # type: ignore[no-untyped-def]
    return next((v for k, v in request.headers.items() if k.lower() == "cookie"), "")


def test_feeds_go_through_the_proxy_the_environment_names(tmp_path, server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here: only the proxy can answer
    feed = f"http://127.0.0.1:{port}/feed.xml"
    server.routes[feed] = rss([SWAP])  # the proxy sees the absolute URL, and relays the feed
    config = write_config(tmp_path, f'feeds: [{{name: proxied, url: "{feed}"}}]')

    result = run_monitor(
        "poll", "--once", "--config", str(config), HTTP_PROXY=server.base, NO_PROXY="", no_proxy=""
    )

    assert result.returncode == 0, result.stderr
    assert [r.path for r in server.requests] == [feed]
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    assert db.execute("SELECT last_error FROM sources").fetchone()[0] is None


def test_a_refused_connection_is_a_network_failure(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        config = write_config(
            tmp_path, f'feeds: [{{name: down, url: "http://127.0.0.1:{port}/feed.xml"}}]'
        )
        result = run_monitor("poll", "--once", "--config", str(config))

    assert result.returncode == 0, result.stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    kind, error = db.execute("SELECT last_error_kind, last_error FROM sources").fetchone()
    assert kind == "network" and "Connect" in error


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key (PEM files)."""
    x509 = pytest.importorskip("cryptography.x509", reason="cryptography comes with Scrapy")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_feeds_are_read_only_with_a_trusted_certificate(tmp_path):
    """The client verifies certificates as httpx does by default (certifi's bundle, or the
    operator's ``SSL_CERT_FILE``), though it loads them in a thread beside start-up."""
    cert, key = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = LoopbackServer(routes={"/feed.xml": rss([SWAP])}, tls=tls)
    try:
        results = {}
        for trusted in (False, True):
            directory = tmp_path / ("trusted" if trusted else "untrusted")
            directory.mkdir()
            feeds = f'feeds: [{{name: secure, url: "{server.url("/feed.xml")}"}}]'
            config = write_config(directory, feeds)
            env = {"SSL_CERT_FILE": str(cert) if trusted else "", "SSL_CERT_DIR": ""}
            result = run_monitor("poll", "--once", "--config", str(config), **env)
            assert result.returncode == 0, result.stderr
            db = sqlite3.connect(directory / "monitor.db")
            stored = [r[0] for r in db.execute("SELECT title FROM articles")]
            failure = db.execute("SELECT last_error_kind, last_error FROM sources").fetchone()
            results[trusted] = (stored, failure)
    finally:
        server.close()

    assert results[True] == ([SWAP["title"]], (None, None))
    stored, (kind, error) = results[False]
    assert stored == [] and kind == "network" and "CERTIFICATE_VERIFY_FAILED" in error
