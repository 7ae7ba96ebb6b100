"""Housekeeping keeps the log lean without forgetting what matters; backups restore."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

from conftest import REPO, monitor_env, rss, run_monitor, write_config
from polling import poll_once
from stories import CURRENCY, SPORTS, SWAP

from monitor.config import RetentionConfig
from monitor.housekeeping import run_housekeeping
from monitor.models import Article, Classification
from monitor.store import Store, utcnow


def article(url: str, title: str, text: str) -> Article:
    return Article(url=url, title=title, source="loopback", text=text)


def test_retention_prunes_only_the_text_of_old_unmatched_articles(tmp_path):
    store = Store(tmp_path / "monitor.db")
    long_ago = utcnow() - timedelta(days=40)
    old_match = store.insert_article(
        article("https://x.org/swap", "Prisoners swapped", "zebra exchange in Abu Dhabi"), long_ago
    )
    old_plain = store.insert_article(
        article("https://x.org/rates", "Currency markets", "zebra rates rose"), long_ago
    )
    recent_plain = store.insert_article(
        article("https://x.org/rain", "Heavy rain", "zebra storm warning"), utcnow()
    )
    assert old_match and old_plain and recent_plain
    store.record_matches(
        old_match, Classification(topics=["prisoner_swap"], scores={"prisoner_swap": 1.0})
    )

    report = asyncio.run(
        run_housekeeping(store, RetentionConfig(unmatched_text=timedelta(days=30)))
    )
    texts = dict(store.db.execute("SELECT url, text FROM articles").fetchall())
    found = {
        row[0]
        for row in store.db.execute(
            "SELECT a.url FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
            " WHERE articles_fts MATCH 'zebra'"
        )
    }
    titles = [r[0] for r in store.db.execute("SELECT title FROM articles ORDER BY id")]
    store.close()

    assert report.pruned == 1 and report.optimized
    assert texts["https://x.org/rates"] is None  # old and unmatched: text dropped
    assert texts["https://x.org/swap"] == "zebra exchange in Abu Dhabi"  # matched: kept forever
    assert texts["https://x.org/rain"] == "zebra storm warning"  # recent: kept
    assert found == {"https://x.org/swap", "https://x.org/rain"}  # the index forgot it too
    assert titles == ["Prisoners swapped", "Currency markets", "Heavy rain"]  # rows stay


def test_without_retention_nothing_is_pruned(tmp_path):
    store = Store(tmp_path / "monitor.db")
    store.insert_article(
        article("https://x.org/a", "A", "old text"), utcnow() - timedelta(days=900)
    )
    report = asyncio.run(run_housekeeping(store, RetentionConfig()))
    text = store.db.execute("SELECT text FROM articles").fetchone()[0]
    store.close()
    assert report.pruned == 0 and text == "old text"


def test_backup_is_a_consistent_copy_taken_while_a_write_is_open(tmp_path, server):
    server.routes["/world.xml"] = rss([SWAP, SPORTS, CURRENCY])
    config = write_config(
        tmp_path,
        f'feeds: [{{name: world, url: "{server.url("/world.xml")}"}}]\n'
        'notifiers: [{name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}]',
    )
    poll_once(config)
    live = sqlite3.connect(tmp_path / "monitor.db")
    live.execute("BEGIN IMMEDIATE")  # a writer mid-transaction, as the daemon may be
    live.execute(
        "INSERT INTO articles (url, source, fetched_at) VALUES ('https://x.org/u', 'w', 'now')"
    )

    copy = tmp_path / "backups" / "monitor-copy.db"
    result = run_monitor("backup", str(copy), "--config", str(config))
    live.rollback()

    assert result.returncode == 0, result.stderr
    assert str(copy) in result.stdout
    original, restored = sqlite3.connect(tmp_path / "monitor.db"), sqlite3.connect(copy)
    for table in ("articles", "matches", "alerts", "sources"):
        query = f"SELECT * FROM {table} ORDER BY 1"
        assert restored.execute(query).fetchall() == original.execute(query).fetchall(), table
    assert restored.execute("SELECT count(*) FROM articles").fetchone()[0] == 3  # not the open one
    assert restored.execute("SELECT count(DISTINCT article_id) FROM matches").fetchone()[0] == 1
    assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    search = "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'prisoner'"
    assert restored.execute(search).fetchone()[0] == 1


def test_status_summarises_the_log(tmp_path, server):
    server.routes["/world.xml"] = rss([SWAP, SPORTS])
    server.routes["/down.xml"] = (500, {}, b"")
    config = write_config(
        tmp_path,
        f'feeds: [{{name: world, url: "{server.url("/world.xml")}"}},'
        f' {{name: down, url: "{server.url("/down.xml")}"}}]',
    )
    poll_once(config)

    as_json = run_monitor("status", "--format", "json", "--config", str(config))
    as_text = run_monitor("status", "--format", "text", "--config", str(config))

    assert as_json.returncode == 0 and as_text.returncode == 0, as_json.stderr
    status = json.loads(as_json.stdout)
    assert (status["articles"], status["sources_failing"]) == (2, 1)
    assert status["matches_since"]["prisoner_swap"] == 1
    assert status["running"] is False and status["daemon"] is None
    assert "has never run" in as_text.stdout
    assert "failing  down: 1 in a row" in as_text.stdout


def test_status_and_backup_refuse_a_missing_database(tmp_path):
    config = write_config(tmp_path, "feeds: []")
    for command in (["status"], ["backup", str(tmp_path / "copy.db")]):
        result = run_monitor(*command, "--config", str(config))
        assert result.returncode == 1 and "no database" in result.stderr
    assert not (tmp_path / "monitor.db").exists()


def test_the_daemon_runs_housekeeping_on_its_schedule(tmp_path):
    store = Store(tmp_path / "monitor.db")
    store.insert_article(
        article("https://x.org/old", "Old news", "text to drop"), utcnow() - timedelta(days=60)
    )
    store.close()
    config = write_config(tmp_path, "feeds: []\nretention: {unmatched_text: 30d, every: 1s}")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env=monitor_env(),
        cwd=str(REPO),
    )
    try:
        deadline = time.monotonic() + 30
        db = sqlite3.connect(tmp_path / "monitor.db")
        while time.monotonic() < deadline:
            if db.execute("SELECT text FROM articles").fetchone()[0] is None:
                break
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=20)

    assert daemon.returncode == 0, stderr
    assert db.execute("SELECT title, text FROM articles").fetchall() == [("Old news", None)]
    assert "housekeeping: pruned the text of 1 unmatched articles" in stderr
