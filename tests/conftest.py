"""Shared fixtures: the third-party corpora beside the repo, loopback servers, config files."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path | None:
    """``../shared`` beside the checkout (or ``$NEWSMONITOR_SHARED``), if it is there."""
    candidate = Path(os.environ.get("NEWSMONITOR_SHARED", REPO.parent / "shared"))
    return candidate if (candidate / "SPEC.md").is_file() else None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared corpora and data; tests that need them skip when they are absent."""
    path = shared_path()
    if path is None:
        pytest.skip("../shared (third-party corpora and labelled data) is not beside this checkout")
    return path


# -- loopback HTTP servers ------------------------------------------------------------------


Reply = tuple[int, dict[str, str], bytes]
Route = Callable[["Request"], Reply] | Reply | bytes


@dataclass
class Request:
    """One request a loopback server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0  # tells the client's connections apart

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 in a thread; routes map a path to a reply or a function."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    default: Reply = (404, {"Content-Type": "text/plain"}, b"not found")
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server-side context

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    self.client_address[1],
                )
                server.requests.append(request)
                route = server.routes.get(self.path.split("?")[0], server.default)
                if callable(route):
                    route = route(request)
                if isinstance(route, bytes):
                    route = (200, {"Content-Type": "application/rss+xml"}, route)
                status, headers, payload = route
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _serve  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if self.tls is not None:
            # The handshake runs in accept(); a client that rejects the certificate makes
            # accept() raise an OSError, which the server drops like any failed connection.
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        # A short poll interval so that closing a server at the end of a test is quick.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def posts(self, path: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and (path is None or r.path == path)]

    def wait_for_posts(
        self, count: int, path: str | None = None, timeout: float = 20
    ) -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.posts(path)) >= count:
                return self.posts(path)
            time.sleep(0.05)
        return self.posts(path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A loopback HTTP server for feeds and pages."""
    srv = LoopbackServer()
    yield srv
    srv.close()


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    """A loopback webhook receiver that answers 200 unless told otherwise."""
    srv = LoopbackServer(default=(200, {"Content-Type": "text/plain"}, b"ok"))
    yield srv
    srv.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- feeds, configs and the CLI ----------------------------------------------------------------


def rss(items: list[dict[str, str]], title: str = "Loopback News") -> bytes:
    """An RSS 2.0 document with the given items (title, link, description, pubDate, guid)."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{xml_escape(title)}</title><link>http://127.0.0.1/</link>",
        "<description>test feed</description>",
    ]
    for item in items:
        parts.append("<item>")
        for key in ("title", "link", "description", "pubDate", "guid"):
            if key in item:
                parts.append(f"<{key}>{xml_escape(item[key])}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def write_config(directory: Path, body: str) -> Path:
    """A config file in ``directory`` whose topics are the shipped rules of config.yaml."""
    import yaml

    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    data = yaml.safe_load(body) or {}
    data.setdefault("database", str(directory / "monitor.db"))
    data.setdefault("topics", shipped["topics"])
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def feeds_yaml(server: LoopbackServer, feeds: dict[str, str]) -> str:
    """A ``feeds:`` config section: each name polls that path on the loopback server."""
    lines = [f'  - {{name: {name}, url: "{server.url(path)}"}}' for name, path in feeds.items()]
    return "feeds:\n" + "\n".join(lines) + "\n"


def monitor_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WEBHOOK_", "MONITOR_"))
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def start_daemon(config: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """Start ``monitor run`` as a real process, its output piped for the test to read."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=monitor_env(**env),
        cwd=str(REPO),
    )


def run_monitor(
    *args: str, timeout: float = 60, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=monitor_env(**env),
        cwd=str(REPO),
    )
