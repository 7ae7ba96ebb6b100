"""The analyst's commands: `monitor eval`, `monitor classify --explain`, `monitor reclassify`."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from dataclasses import dataclass
from datetime import timedelta

import pytest
from conftest import REPO, write_config
from stories import SPORTS, SWAP

from monitor.cli import main
from monitor.config import load_config
from monitor.models import Article
from monitor.store import Store, utcnow

CONFIG = str(REPO / "config.yaml")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_monitor(capsys, monkeypatch):
    """Run the CLI in this process (faster than a child; the core's tests cover that path)."""
    for name in ("SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET", "MONITOR_CONFIG"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, input: str = "") -> Run:
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        code = main(list(args))
        out = capsys.readouterr()
        return Run(code, out.out, out.err)

    return run


def labelled(tmp_path):
    rows = [
        {
            "id": "s1",
            "title": SWAP["title"],
            "text": SWAP["description"],
            "labels": ["prisoner_swap", "diplomacy"],
        },
        {
            "id": "n1",
            "title": SPORTS["title"],
            "text": SPORTS["description"],
            "labels": [],
            "note": "NBA trade",
        },
        {
            "id": "m1",
            "title": SPORTS["title"],
            "text": SPORTS["description"],
            "labels": ["diplomacy"],
            "note": "mislabelled on purpose",
        },
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_eval_prints_scores_per_topic_and_lists_mistakes(run_monitor, tmp_path):
    result = run_monitor("eval", str(labelled(tmp_path)), "--config", CONFIG)

    assert result.returncode == 0, result.stderr
    assert "3 labelled articles" in result.stdout
    assert "prisoner_swap" in result.stdout and "diplomacy" in result.stdout
    assert "m1" in result.stdout and "false negative" in result.stdout
    assert "mislabelled on purpose" in result.stdout


def test_eval_json_has_precision_recall_f1_and_mistakes(run_monitor, tmp_path):
    result = run_monitor("eval", str(labelled(tmp_path)), "--format", "json", "--config", CONFIG)

    report = json.loads(result.stdout)
    assert report["topics"]["prisoner_swap"] == {
        "topic": "prisoner_swap",
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "tp": 1,
        "fp": 0,
        "fn": 1 - 1,
        "tn": 2,
    }
    assert report["topics"]["diplomacy"]["recall"] == 0.5
    assert [(m["id"], m["kind"]) for m in report["mistakes"]] == [("m1", "false negative")]


def test_eval_reports_rows_without_labels(run_monitor, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"id": "x", "title": "t", "text": "u"}) + "\n{oops\n")

    result = run_monitor("eval", str(path), "--config", CONFIG)

    assert result.returncode == 1
    assert "no 'labels'" in result.stderr and "line 2" in result.stderr


def test_eval_of_a_missing_file_is_an_error(run_monitor):
    result = run_monitor("eval", "/nonexistent/rows.jsonl", "--config", CONFIG)

    assert result.returncode == 1 and "cannot read" in result.stderr


def test_classify_explain_shows_terms_entities_and_threshold(run_monitor):
    text = f"{SWAP['title']}\n\n{SWAP['description']}\n"

    result = run_monitor("classify", "--explain", "--config", CONFIG, input=text)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "prisoner_swap: MATCH" in out and "threshold 0.60" in out
    assert "'prisoner exchange'" in out
    assert "Sergey Lavrov (PERSON, Foreign Minister, Russia)" in out


def test_classify_explain_says_why_a_look_alike_was_excluded(run_monitor):
    line = json.dumps({"id": "nba", "title": SPORTS["title"], "text": SPORTS["description"]})

    result = run_monitor("classify", "--explain", "-", "--config", CONFIG, input=line)

    assert "nba: " + SPORTS["title"] in result.stdout
    assert "prisoner_swap: no" in result.stdout and "diplomacy: no" in result.stdout


def stored(config_path, *articles: tuple[Article, timedelta]) -> None:
    store = Store(load_config(config_path, env={}).database)
    for article, age in articles:
        store.insert_article(article, fetched_at=utcnow() - age)
    store.close()


def article(story: dict[str, str], url: str) -> Article:
    return Article(url=url, title=story["title"], source="loopback", summary=story["description"])


def test_reclassify_records_new_matches_and_alerts_only_when_asked(run_monitor, tmp_path, receiver):
    config = write_config(
        tmp_path,
        f"notifiers: [{{name: ops, type: webhook, url: '{receiver.url('/hook')}'}}]",
    )
    stored(
        config,
        (article(SWAP, "https://n.example/swap"), timedelta(days=2)),
        (article(SPORTS, "https://n.example/nba"), timedelta(days=2)),
        (article(SWAP, "https://n.example/old-swap"), timedelta(days=40)),
    )

    preview = run_monitor("reclassify", "--since", "30d", "--config", str(config))
    again = run_monitor("reclassify", "--since", "30d", "--config", str(config))
    assert receiver.posts() == []
    alerted = run_monitor("reclassify", "--since", "30d", "--alert", "--config", str(config))
    repeat = run_monitor("reclassify", "--since", "30d", "--alert", "--config", str(config))

    assert preview.returncode == 0, preview.stderr
    assert (
        "new match prisoner_swap,diplomacy" in preview.stdout and "n.example/swap" in preview.stdout
    )
    assert "2 stored articles re-classified: 1 match, 2 new matches" in preview.stdout
    assert "0 new matches" in again.stdout
    assert "1 alerts queued, 1 sent" in alerted.stdout
    assert "0 alerts queued" in repeat.stdout
    assert len(receiver.posts("/hook")) == 1
    db = sqlite3.connect(tmp_path / "monitor.db")
    topics = db.execute("SELECT topic FROM matches ORDER BY topic").fetchall()
    assert topics == [("diplomacy",), ("prisoner_swap",)]


def test_reclassify_rejects_a_bad_duration(run_monitor, tmp_path):
    config = write_config(tmp_path, "")

    result = run_monitor("reclassify", "--since", "soon", "--config", str(config))

    assert result.returncode == 2 and "--since" in result.stderr
