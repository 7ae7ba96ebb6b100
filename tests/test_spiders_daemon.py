"""`monitor run` crawls each spider at its interval, many times in one process, and alerts once."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

from conftest import start_daemon, write_config
from news_site import FAST, USER_AGENT, build_site


def test_daemon_crawls_on_schedule_and_alerts_the_seed_story_once(
    tmp_path, server, receiver, shared_dir
):
    site = build_site(server, shared_dir, with_seed=True)
    spider = {
        **FAST,
        "name": "site",
        "spider": "news_sitemap",
        "url": server.url("/robots.txt"),
        "interval": "1s",
    }
    config = write_config(
        tmp_path,
        json.dumps(
            {
                "user_agent": USER_AGENT,
                "spiders": [spider],
                "notifiers": [{"name": "ops", "type": "webhook", "url": receiver.url("/hook")}],
            }
        ),
    )
    daemon = start_daemon(config)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(site.requested("/sitemaps/news.xml")) < 3:
            time.sleep(0.2)
        hooks = receiver.wait_for_posts(1, "/hook", timeout=10)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)

    assert daemon.returncode == 0, stderr
    assert len(site.requested("/sitemaps/news.xml")) >= 3, stderr  # three crawls, one process
    assert len(site.requested("/news/seed-story.html")) == 1  # later crawls skip the stored page
    assert len(hooks) == 1 and len(receiver.posts("/hook")) == 1
    alert = hooks[0].json()
    assert alert["article"]["url"] == server.url("/news/seed-story.html")
    assert alert["article"]["source"] == "site"
    assert set(alert["topics"]) == {"prisoner_swap", "diplomacy"}
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT status FROM alerts").fetchall() == [("sent",)]
    assert db.execute("SELECT consecutive_failures FROM sources").fetchone() == (0,)
