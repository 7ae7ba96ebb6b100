"""Feed server → ``monitor poll --once`` → SQLite → webhook and Slack receivers, for real."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from pathlib import Path

import pytest
from conftest import LoopbackServer, free_port, rss, run_monitor, write_config
from stories import NEGATIVES, SWAP

SECRET = "s3cret-for-tests"


def config_for(tmp_path: Path, server: LoopbackServer) -> Path:
    return write_config(
        tmp_path,
        f"""
feeds:
  - name: loopback-world
    url: {server.url("/world.xml")}
notifiers:
  - name: team-slack
    type: slack
    url: ${{SLACK_WEBHOOK_URL:-}}
  - name: ops
    type: webhook
    url: ${{WEBHOOK_URL:-}}
    secret: ${{WEBHOOK_SECRET:-}}
""",
    )


def notifier_env(receiver: LoopbackServer) -> dict[str, str]:
    return {
        "SLACK_WEBHOOK_URL": receiver.url("/slack"),
        "WEBHOOK_URL": receiver.url("/hook"),
        "WEBHOOK_SECRET": SECRET,
    }


def assert_signed(body: bytes, header: str) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert header == expected


def test_swap_story_alerts_webhook_and_slack_once(tmp_path, server, receiver):
    server.routes["/world.xml"] = rss([SWAP, *NEGATIVES])
    config = config_for(tmp_path, server)

    result = run_monitor("poll", "--once", "--config", str(config), **notifier_env(receiver))

    assert result.returncode == 0, result.stderr
    hooks, slacks = receiver.posts("/hook"), receiver.posts("/slack")
    assert len(hooks) == 1 and len(slacks) == 1
    alert = hooks[0].json()
    assert_signed(hooks[0].body, hooks[0].headers["X-Monitor-Signature"])
    assert hooks[0].headers["Idempotency-Key"] == alert["id"]
    assert alert["event"] == "match"
    assert "prisoner_swap" in alert["topics"]
    assert alert["article"]["title"] == SWAP["title"]
    assert (
        alert["article"]["url"] == "https://news.example.org/world/2025/russia-us-prisoner-exchange"
    )
    assert alert["article"]["source"] == "loopback-world"
    assert alert["article"]["published"] == "2025-05-22T10:00:00+00:00"
    assert alert["why"]["prisoner_swap"]
    slack = slacks[0].json()
    assert SWAP["title"] in slack["text"]
    assert any("russia-us-prisoner-exchange" in str(b) for b in slack["blocks"])


def test_repolling_the_same_feed_sends_nothing_new(tmp_path, server, receiver):
    server.routes["/world.xml"] = rss([SWAP, *NEGATIVES])
    config = config_for(tmp_path, server)
    env = notifier_env(receiver)

    first = run_monitor("poll", "--once", "--config", str(config), **env)
    second = run_monitor("poll", "--once", "--config", str(config), **env)

    assert first.returncode == second.returncode == 0
    assert len(receiver.posts()) == 2  # one webhook + one Slack, from the first pass only
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2


def test_dead_receiver_leaves_alert_pending_until_deliver(tmp_path, server, receiver):
    server.routes["/world.xml"] = rss([SWAP])
    config = config_for(tmp_path, server)
    dead = f"http://127.0.0.1:{free_port()}/hook"

    polled = run_monitor(
        "poll", "--once", "--config", str(config), WEBHOOK_URL=dead, WEBHOOK_SECRET=SECRET
    )

    assert polled.returncode == 0, polled.stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    status, attempts, error = db.execute(
        "SELECT status, attempts, last_error FROM alerts"
    ).fetchone()
    assert (status, attempts) == ("pending", 1)
    assert "ConnectError" in error and dead not in error  # the webhook URL is a secret

    delivered = run_monitor("deliver", "--config", str(config), **notifier_env(receiver))

    assert delivered.returncode == 0, delivered.stderr
    assert len(receiver.posts("/hook")) == 1
    assert db.execute("SELECT status FROM alerts").fetchone()[0] == "sent"


def test_seed_story_matches_both_topics_end_to_end(tmp_path, server, receiver, shared_dir):
    seed = (shared_dir / "seeds" / "000_21992df74e6d58a5.txt").read_text()
    lines = [line for line in seed.splitlines() if line.strip()]
    title = lines[3]
    item = {
        "title": title,
        "link": "https://news.example.org/seed",
        "description": "\n".join(lines[4:]),
    }
    server.routes["/world.xml"] = rss([item, *NEGATIVES])
    config = config_for(tmp_path, server)

    result = run_monitor("poll", "--once", "--config", str(config), **notifier_env(receiver))

    assert result.returncode == 0, result.stderr
    hooks = receiver.posts("/hook")
    assert len(hooks) == 1
    assert set(hooks[0].json()["topics"]) == {"prisoner_swap", "diplomacy"}
    assert len(receiver.posts("/slack")) == 1


@pytest.mark.parametrize("story", NEGATIVES, ids=lambda s: s["link"].split("/")[2])
def test_look_alike_stories_are_stored_but_not_alerted(tmp_path, server, receiver, story):
    server.routes["/world.xml"] = rss([story])
    config = config_for(tmp_path, server)

    result = run_monitor("poll", "--once", "--config", str(config), **notifier_env(receiver))

    assert result.returncode == 0
    assert receiver.posts() == []
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM matches").fetchone()[0] == 0
