"""The read-only commands an operator uses: classify, matches, feeds."""

from __future__ import annotations

import json

from conftest import REPO, feeds_yaml, rss, run_monitor, write_config
from stories import SPORTS, SWAP

CONFIG = str(REPO / "config.yaml")


def test_classify_answers_each_json_line_and_reports_bad_ones():
    lines = [
        json.dumps({"id": "swap", "title": SWAP["title"], "text": SWAP["description"]}),
        "{not json",
        json.dumps({"id": "nba", "title": SPORTS["title"], "summary": SPORTS["description"]}),
    ]

    result = run_monitor("classify", "-", "--config", CONFIG, input="\n".join(lines) + "\n")

    assert result.returncode == 1  # one bad line
    assert "line 2" in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["swap", "nba"]
    assert "prisoner_swap" in out[0]["topics"] and out[1]["topics"] == []
    assert set(out[0]) >= {"topics", "scores", "entities", "why"}


def test_classify_takes_one_plain_text_article():
    text = f"{SWAP['title']}\n\n{SWAP['description']}\n"

    result = run_monitor("classify", "--config", CONFIG, input=text)

    assert result.returncode == 0
    assert "prisoner_swap" in json.loads(result.stdout)["topics"]


def test_feeds_reports_failures_and_matches_lists_stories(tmp_path, server):
    server.routes["/good.xml"] = rss([SWAP, SPORTS])
    server.routes["/html.xml"] = (
        200,
        {"Content-Type": "text/html"},
        b"<html><body>hi</body></html>",
    )
    config = write_config(
        tmp_path,
        feeds_yaml(server, {"good": "/good.xml", "gone": "/missing.xml", "page": "/html.xml"}),
    )

    polled = run_monitor("poll", "--once", "--config", str(config))
    feeds = run_monitor("feeds", "--config", str(config), "--format", "json")
    matches = run_monitor("matches", "--config", str(config), "--format", "json")
    as_csv = run_monitor("matches", "--config", str(config), "--format", "csv", "--since", "1h")

    assert polled.returncode == 0, polled.stderr
    health = {row["name"]: row for row in map(json.loads, feeds.stdout.splitlines())}
    assert health["good"]["consecutive_failures"] == 0 and health["good"]["last_success"]
    assert health["gone"]["consecutive_failures"] == 1 and "404" in health["gone"]["last_error"]
    assert "not a feed" in health["page"]["last_error"]
    assert all(row["next_poll"] for row in health.values())
    found = [json.loads(line) for line in matches.stdout.splitlines()]
    assert {m["title"] for m in found} == {SWAP["title"]}
    assert as_csv.stdout.splitlines()[0].startswith("matched_at,topic,score,source,title")
