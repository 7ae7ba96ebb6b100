"""``monitor review``: the log in Datasette, on 127.0.0.1 only, with metadata that explains it.

The metadata names and describes every table, labels articles by title (so a match links to its
article), sets useful facets and sort orders, and adds canned queries for what a reviewer
asks first: today's matches, matches by topic and source, failed alerts, sick sources, and a
full-text search. URLs in any cell are links (Datasette renders http(s) values as anchors).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # the log holds everything the service saw: never serve it beyond this machine

_NOW_ISO = "strftime('%Y-%m-%dT%H:%M:%S', 'now'"  # stored timestamps are ISO 8601 with a 'T'

CANNED_QUERIES: dict[str, dict[str, str]] = {
    "todays_matches": {
        "title": "Today's matches",
        "description": "Every match since midnight (UTC), newest first.",
        "sql": (
            "select m.matched_at, m.topic, round(m.score, 2) as score, a.source, a.title, a.url,"
            " m.why\nfrom matches m join articles a on a.id = m.article_id\n"
            f"where m.matched_at >= {_NOW_ISO}, 'start of day')\norder by m.matched_at desc"
        ),
    },
    "matches_by_topic_and_source": {
        "title": "Matches by topic and source",
        "description": "Which sources bring which stories, over the whole log.",
        "sql": (
            "select m.topic, a.source, count(*) as matches, max(m.matched_at) as latest\n"
            "from matches m join articles a on a.id = m.article_id\n"
            "group by m.topic, a.source\norder by m.topic, matches desc"
        ),
    },
    "failed_alerts": {
        "title": "Failed alerts",
        "description": "Alerts a receiver refused for good, and alerts still being retried.",
        "sql": (
            "select al.created_at, al.notifier, al.status, al.attempts, al.last_error,"
            " al.next_attempt_at, a.title, a.url\n"
            "from alerts al join articles a on a.id = al.article_id\n"
            "where al.status = 'failed' or (al.status = 'pending' and al.attempts > 0)\n"
            "order by al.created_at desc"
        ),
    },
    "sick_sources": {
        "title": "Sick sources",
        "description": "Sources whose last poll failed, or with no success in a day.",
        "sql": (
            "select name, kind, consecutive_failures, last_error, last_error_at, last_success,"
            " next_poll, url\nfrom sources\nwhere consecutive_failures > 0 or last_success is null"
            f" or last_success < {_NOW_ISO}, '-1 day')\n"
            "order by consecutive_failures desc, name"
        ),
    },
    "search": {
        "title": "Search every article",
        "description": 'Full-text search (SQLite FTS5 syntax: words, "exact phrases", NEAR, OR).',
        "sql": (
            "select a.published, a.source, a.title, a.url,"
            " snippet(articles_fts, -1, '»', '«', '…', 16) as snippet,"
            " (select group_concat(topic, ', ') from matches where article_id = a.id) as topics\n"
            "from articles_fts join articles a on a.id = articles_fts.rowid\n"
            "where articles_fts match :q\norder by rank limit 200"
        ),
    },
}


def review_metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for the log stored under the database name ``database``."""
    links = "".join(
        f'<li><a href="/{database}/{name}">{query["title"]}</a>: {query["description"]}</li>'
        for name, query in CANNED_QUERIES.items()
    )
    return {
        "title": "newsmonitor log",
        "description_html": (
            "<p>Everything newsmonitor saw, matched and alerted. Start here:</p>"
            f'<ul><li><a href="/{database}/match_log">The match log</a>: every match with its'
            f" article, faceted by topic, source and matched term</li>{links}</ul>"
        ),
        "databases": {
            database: {
                "queries": CANNED_QUERIES,
                "tables": {
                    "match_log": {
                        "description": "Every match joined with its article, newest first.",
                        "sort_desc": "matched_at",
                        "facets": ["topic", "source", {"array": "why"}],
                    },
                    "articles": {
                        "description": "One row per story URL; search the box for full text.",
                        "label_column": "title",
                        "sort_desc": "fetched_at",
                        "facets": ["source"],
                    },
                    "matches": {
                        "description": "One row per (article, topic) the filter matched.",
                        "sort_desc": "matched_at",
                        "facets": ["topic"],
                    },
                    "alerts": {
                        "description": "The outbox: one alert per (story, notifier).",
                        "sort_desc": "created_at",
                        "facets": ["status", "notifier"],
                        "hidden_columns": ["payload"],
                    },
                    "sources": {
                        "description": "Health of every feed and spider.",
                        "label_column": "name",
                        "facets": ["kind"],
                    },
                    "daemon": {"hidden": True},
                },
            }
        },
    }


def datasette_command(database: Path, metadata: Path, port: int, open_browser: bool) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(database),
        "--host",
        HOST,
        "--port",
        str(port),
        "--metadata",
        str(metadata),
        "--setting",
        "default_page_size",
        "50",
        "--setting",
        "truncate_cells_html",
        "300",
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ]
    return [*command, "--open"] if open_browser else command


def serve_review(database: Path, port: int, open_browser: bool) -> int:
    """Run Datasette in the foreground until interrupted; its exit status is ours."""
    with tempfile.TemporaryDirectory(prefix="newsmonitor-review-") as scratch:
        metadata = Path(scratch) / "metadata.json"
        metadata.write_text(json.dumps(review_metadata(database.stem), indent=2))
        print(f"reviewing {database} at http://{HOST}:{port}/{database.stem} (Ctrl-C to stop)")
        try:
            return subprocess.call(datasette_command(database, metadata, port, open_browser))
        except KeyboardInterrupt:
            return 0
