"""Crash safety: ``kill -9`` the real daemon again and again while stories arrive; nothing is
lost, nothing is alerted twice under different ids, and the database stays sound."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import REPO, Request, monitor_env, rss, write_config
from stories import NEGATIVES, SWAP

from monitor.demo import load_demo_stories
from monitor.normalize import canonical_url

KILLS = 5
ARRIVAL_EVERY = 0.9  # seconds between two stories appearing in the feed


def start_daemon(config) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=monitor_env(),
        cwd=str(REPO),
    )


def settled(db_path, urls: list[str]) -> bool:
    """Every story stored and no alert left pending."""
    try:
        db = sqlite3.connect(db_path, timeout=5)
        try:
            stored = {r[0] for r in db.execute("SELECT url FROM articles")}
            pending = db.execute("SELECT count(*) FROM alerts WHERE status != 'sent'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return stored >= set(urls) and pending[0] == 0


def test_kill_9_while_stories_arrive_loses_and_duplicates_nothing(tmp_path, server, receiver):
    stories = [*load_demo_stories(), SWAP, *NEGATIVES]
    random.Random(5).shuffle(stories)
    started = time.monotonic()

    def feed_so_far(request: Request):
        arrived = 1 + int((time.monotonic() - started) / ARRIVAL_EVERY)
        return rss(stories[:arrived])

    flaky = random.Random(2)

    def slow_and_flaky(request: Request):
        time.sleep(0.05)  # widen the gap between "sent" and "marked sent"
        return (200, {}, b"ok") if flaky.random() < 0.7 else (503, {}, b"busy")

    server.routes["/wire.xml"] = feed_so_far
    receiver.routes["/all"] = receiver.routes["/swaps"] = slow_and_flaky
    config = write_config(
        tmp_path,
        f"""
defaults: {{interval: 1s}}
feeds: [{{name: wire, url: "{server.url("/wire.xml")}"}}]
notifiers:
  - {{name: all, type: webhook, url: "{receiver.url("/all")}", backoff: 1s, backoff_cap: 2s}}
  - {{name: swaps, type: webhook, url: "{receiver.url("/swaps")}", topics: [prisoner_swap],
      backoff: 1s, backoff_cap: 2s}}
""",
    )
    db_path = tmp_path / "monitor.db"
    urls = [canonical_url(s["link"]) for s in stories]
    chaos = random.Random(1)

    for _ in range(KILLS):
        daemon = start_daemon(config)
        time.sleep(chaos.uniform(1.0, 3.0))  # sometimes mid-start-up, sometimes mid-poll or send
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        assert daemon.returncode == -signal.SIGKILL
    daemon = start_daemon(config)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not settled(db_path, urls):
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=20)

    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r[0] for r in db.execute("SELECT url FROM articles")}
    assert stored == set(urls)  # no story lost, none stored twice
    matched = dict(
        db.execute("SELECT article_id, group_concat(topic) FROM matches GROUP BY article_id")
    )
    assert len(matched) >= 3  # the swaps, talks and summit among the stories
    alerts = db.execute("SELECT id, notifier, article_id, status FROM alerts").fetchall()
    expected = {(a, "all") for a in matched} | {
        (a, "swaps") for a, topics in matched.items() if "prisoner_swap" in topics
    }
    assert sorted((a, n) for _, n, a, _ in alerts) == sorted(expected)  # exactly one each
    assert {status for *_, status in alerts} == {"sent"}
    received = {(r.path.strip("/"), r.headers["Idempotency-Key"]) for r in receiver.posts()}
    assert received == {(n, i) for i, n, _, _ in alerts}  # each id arrived; repeats only as it
    for post in receiver.posts():
        assert post.json()["id"] == post.headers["Idempotency-Key"]
