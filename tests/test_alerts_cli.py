"""The operator's side of alerting: ``monitor alerts``, ``deliver --retry-failed``,
``test-notify``, topic routing and notifier config errors, through the real CLI."""

from __future__ import annotations

import json
import sqlite3

from alerting import Courier, webhook
from conftest import REPO, rss, run_monitor, write_config
from stories import SPORTS, SWAP

TALKS = {
    "title": "Foreign ministers open ceasefire talks in Geneva",
    "link": "https://news.example.org/world/geneva-ceasefire-talks",
    "description": (
        "The foreign ministers of Armenia and Azerbaijan opened talks in Geneva on Monday on a "
        "ceasefire and a peace deal, the Swiss government said. The UN envoy called the "
        "negotiations between the two governments constructive."
    ),
    "pubDate": "Mon, 26 May 2025 09:00:00 GMT",
}


def test_alerts_lists_by_status_and_retry_failed_sends_them_again(tmp_path, receiver):
    receiver.routes["/hook"] = (410, {}, b"gone for now")
    config = write_config(
        tmp_path, f"notifiers: [{{name: ops, type: webhook, url: '{receiver.url('/hook')}'}}]"
    )
    courier = Courier(tmp_path / "monitor.db", [webhook(receiver.url("/hook"))])
    courier.enqueue(1, 2)
    courier.deliver()
    courier.close()

    failed = run_monitor(
        "alerts", "--status", "failed", "--format", "json", "--config", str(config)
    )

    assert failed.returncode == 0, failed.stderr
    rows = [json.loads(line) for line in failed.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert "410" in rows[0]["last_error"] and rows[0]["title"].startswith("Prisoner exchange")

    receiver.routes["/hook"] = (200, {}, b"ok")
    again = run_monitor("deliver", "--retry-failed", "--config", str(config))

    assert again.returncode == 0, again.stderr
    assert "2 failed alerts queued again" in again.stdout and "2 sent" in again.stdout
    listed = run_monitor("alerts", "--format", "csv", "--config", str(config))
    assert listed.stdout.count(",sent,") == 2
    assert len(receiver.posts("/hook")) == 4


def test_test_notify_sends_a_sample_alert(tmp_path, receiver):
    config = write_config(
        tmp_path,
        f"notifiers: [{{name: ops, type: webhook, url: '{receiver.url('/hook')}', secret: x}}]",
    )

    result = run_monitor("test-notify", "ops", "--config", str(config))

    assert result.returncode == 0, result.stderr
    (post,) = receiver.posts("/hook")
    body = post.json()
    assert body["event"] == "test" and "Test alert" in body["article"]["title"]
    assert post.headers["Idempotency-Key"] == body["id"] and "X-Monitor-Signature" in post.headers
    assert "sent to ops" in result.stdout
    assert not (tmp_path / "monitor.db").exists()  # a sample, not an alert in the log


def test_test_notify_reports_a_failing_channel_and_an_unknown_name(tmp_path, receiver):
    receiver.routes["/hook"] = (404, {}, b"no_service")
    config = write_config(
        tmp_path, f"notifiers: [{{name: ops, type: slack, url: '{receiver.url('/hook')}'}}]"
    )

    failing = run_monitor("test-notify", "ops", "--config", str(config))
    unknown = run_monitor("test-notify", "nope", "--config", str(config))

    assert failing.returncode == 1
    assert "HTTP 404" in failing.stderr and "no_service" in failing.stderr
    assert unknown.returncode == 2
    assert "no notifier named 'nope'" in unknown.stderr and "ops" in unknown.stderr


def test_notifier_config_errors_name_the_key(tmp_path):
    config = write_config(
        tmp_path,
        """
notifiers:
  - {name: pager, type: pagerduty, url: "https://example.org/x"}
  - {name: chat, type: apprise, url: "nosuchservice://token"}
  - {name: ops, type: webhook, url: "https://example.org/hook", rate_limit: lots}
""",
    )

    result = run_monitor("check-config", "--config", str(config))

    assert result.returncode == 2
    assert "notifiers[0:pager].type: unknown notifier type 'pagerduty'" in result.stderr
    assert "apprise" in result.stderr and "webhook" in result.stderr
    assert "notifiers[1:chat]: url: not an Apprise URL" in result.stderr
    assert "notifiers[2:ops].rate_limit: not a rate limit: 'lots'" in result.stderr


def test_each_notifier_gets_only_the_topics_it_asked_for(tmp_path, server, receiver):
    server.routes["/world.xml"] = rss([SWAP, TALKS, SPORTS])
    config = write_config(
        tmp_path,
        f"""
feeds: [{{name: loopback, url: "{server.url("/world.xml")}"}}]
notifiers:
  - {{name: swaps, type: webhook, url: "{receiver.url("/swaps")}", topics: [prisoner_swap]}}
  - {{name: talks, type: webhook, url: "{receiver.url("/talks")}", topics: [diplomacy]}}
  - {{name: everything, type: webhook, url: "{receiver.url("/all")}"}}
""",
    )

    result = run_monitor("poll", "--once", "--config", str(config))

    assert result.returncode == 0, result.stderr
    titles = {
        p: {r.json()["article"]["title"] for r in receiver.posts(p)} for p in receiver_paths()
    }
    assert SWAP["title"] in titles["/swaps"] and TALKS["title"] not in titles["/swaps"]
    assert TALKS["title"] in titles["/talks"]
    assert titles["/all"] == titles["/swaps"] | titles["/talks"]
    db = sqlite3.connect(tmp_path / "monitor.db")
    for notifier, topic in (("swaps", "prisoner_swap"), ("talks", "diplomacy")):
        wanted = db.execute("SELECT count(*) FROM matches WHERE topic = ?", [topic]).fetchone()[0]
        sent = db.execute(
            "SELECT count(*) FROM alerts WHERE notifier = ? AND status = 'sent'", [notifier]
        ).fetchone()[0]
        assert sent == wanted


def receiver_paths() -> list[str]:
    return ["/swaps", "/talks", "/all"]


def test_alert_commands_are_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    help_text = run_monitor("--help").stdout

    for command in ("alerts", "deliver --retry-failed", "test-notify NAME", "demo"):
        assert f"| `monitor {command}` |" in readme
        assert command.split()[0] in help_text
