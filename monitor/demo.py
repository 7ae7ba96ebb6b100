"""``monitor demo``: an offline tour. A sample feed and a webhook receiver on 127.0.0.1, one
pass with the config's own rules into a scratch database, and what matched, why, and the
alert that arrived."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

from monitor.config import Config, FeedConfig, NotifierConfig
from monitor.normalize import canonical_url
from monitor.notify.webhook import verify

DEMO_SECRET = "demo-secret"
FEED_PATH = "/demo-wire.xml"
HOOK_PATH = "/hook"
Print = Callable[[str], None]


def load_demo_stories() -> list[dict[str, Any]]:
    """The demo's stories (``monitor/data/demo_stories.yaml``): RSS item fields plus
    ``expect`` (topics a newcomer should see matched) and ``note`` (why it is in the tour)."""
    text = resources.files("monitor").joinpath("data/demo_stories.yaml").read_text("utf-8")
    stories: list[dict[str, Any]] = yaml.safe_load(text)
    return stories


def demo_feed(stories: list[dict[str, Any]]) -> bytes:
    """The stories as an RSS 2.0 document."""
    items = "".join(
        "<item>"
        + "".join(f"<{k}>{escape(str(s[k]))}</{k}>" for k in ("title", "link", "description"))
        + f"<pubDate>{escape(s['pubDate'])}</pubDate><guid>{escape(s['link'])}</guid></item>"
        for s in stories
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Demo Wire</title><link>http://127.0.0.1/</link>"
        f"<description>stories written for the newsmonitor demo</description>{items}"
        "</channel></rss>"
    ).encode()


@dataclass
class Received:
    """One request the demo's webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class DemoServer:
    """The feed and the webhook receiver, on one loopback port, in a thread."""

    feed: bytes
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        demo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                found = self.path == FEED_PATH
                self._reply(200 if found else 404, demo.feed if found else b"not found")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                demo.received.append(Received(self.path, dict(self.headers.items()), body))
                self._reply(200, b"ok")

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def demo_config(config: Config, database: Path, server: DemoServer) -> Config:
    """The operator's config with only its rules kept: the demo feed, receiver and database."""
    feed = FeedConfig(name="demo-wire", url=server.url(FEED_PATH))
    hook = NotifierConfig(
        name="demo-webhook", type="webhook", url=server.url(HOOK_PATH), secret=DEMO_SECRET
    )
    return config.model_copy(
        update={"database": database, "feeds": [feed], "spiders": [], "notifiers": [hook]}
    )


async def one_pass(config: Config) -> str:
    """Poll the demo feed once and deliver, as ``monitor poll --once`` does; a summary line."""
    from monitor.service import poll_and_deliver

    report = await poll_and_deliver(config)
    ingest = report.ingest
    return (
        f"One pass: {ingest.seen} stories fetched, {ingest.new} stored, {ingest.matched}"
        f" matched, {ingest.alerts} alerts queued, {report.delivery.sent} delivered."
    )


def run_demo(config: Config, out: Print = print) -> int:
    """The whole tour; 0 when the matching stories' alerts arrived, else 1."""
    logging.getLogger("monitor").setLevel(logging.WARNING)  # the tour speaks for itself
    stories = load_demo_stories()
    server = DemoServer(demo_feed(stories))
    try:
        with tempfile.TemporaryDirectory(prefix="newsmonitor-demo-") as scratch:
            tour = demo_config(config, Path(scratch) / "demo.db", server)
            _introduce(out, config, tour, len(stories))
            out(asyncio.run(one_pass(tour)))
            out("")
            matches = _matches_by_url(tour)
            for story in stories:
                found = matches.get(canonical_url(story["link"]))
                _describe_story(out, story, found, config)
    finally:
        server.close()
    return _show_alerts(out, server.received, expected=sum(bool(m) for m in matches.values()))


def _introduce(out: Print, config: Config, tour: Config, count: int) -> None:
    out("newsmonitor demo: an offline tour; nothing leaves 127.0.0.1.")
    out("")
    out(f"  rules     the topics of {config.path}: {', '.join(config.topics)}")
    out(f"  feed      {tour.feeds[0].url}  ({count} short stories written for the demo)")
    out(f"  receiver  {tour.notifiers[0].url}  (a generic webhook, signed with a demo secret)")
    out(f"  database  {tour.database}  (scratch, deleted afterwards)")
    out("")


def _matches_by_url(config: Config) -> dict[str, list[dict[str, Any]]]:
    """What the pass recorded, per story URL, read back from the scratch database."""
    from monitor.store import Store

    store = Store(config.database)
    try:
        found: dict[str, list[dict[str, Any]]] = {}
        for row in store.recent_matches(limit=1000):
            found.setdefault(row["url"], []).append(row)
        return found
    finally:
        store.close()


def _describe_story(
    out: Print, story: dict[str, Any], matched: list[dict[str, Any]] | None, config: Config
) -> None:
    from monitor.classify import Classifier

    topics = sorted(m["topic"] for m in matched or [])
    out(f"{'MATCHED' if matched else 'skipped':8} {story['title']}")
    out(f"         ({story['note']})")
    if matched:
        for m in sorted(matched, key=lambda m: m["topic"]):
            why = ", ".join(json.loads(m["why"] or "[]"))
            out(f"         {m['topic']:14} score {m['score']:.2f}  why: {why}")
        entities = json.loads(matched[0]["entities"] or "[]")
        if entities:
            out("         entities: " + ", ".join(f"{e['text']} ({e['type']})" for e in entities))
    else:
        verdict = Classifier(config.topics).classify(story["title"], story["description"])
        scores = ", ".join(f"{t} {s:.2f}" for t, s in verdict.scores.items())
        out(f"         no topic reached its threshold (scores: {scores})")
    missing = sorted(set(story.get("expect") or []) - set(topics))
    if missing:
        out(f"         !! the demo expected {', '.join(missing)} here: the rules have changed")
    out("")


def _show_alerts(out: Print, received: list[Received], expected: int) -> int:
    hooks = [r for r in received if r.path == HOOK_PATH]
    now = time.time()
    valid = all(
        verify(DEMO_SECRET, r.body, r.headers.get("X-Monitor-Signature-V2", ""), now) for r in hooks
    )
    out(
        f"{len(hooks)} alerts arrived at the webhook receiver, one per matching story"
        f" (signatures checked: {'all valid' if valid else 'INVALID'})."
    )
    if not hooks:
        return 1
    first = hooks[0]
    out("The first, exactly as the receiver got it:")
    out("")
    out(f"  POST {first.path}")
    for name in ("Content-Type", "Idempotency-Key", "X-Monitor-Timestamp"):
        out(f"  {name}: {first.headers.get(name, '')}")
    for name in ("X-Monitor-Signature", "X-Monitor-Signature-V2"):
        out(f"  {name}: {first.headers.get(name, '')}")
    out("")
    body = json.dumps(json.loads(first.body), indent=2, ensure_ascii=False)
    out("\n".join("  " + line for line in body.splitlines()))
    out("")
    out("Next: set SLACK_WEBHOOK_URL (or add an apprise notifier), check it with")
    out("`monitor test-notify team-slack`, then start the service with `make run`.")
    return 0 if len(hooks) == expected and valid else 1
