"""``monitor review``: the log in Datasette, on 127.0.0.1 only, with metadata that explains it.

The metadata names and describes every table, labels articles by title (so a match links to its
article), sets useful facets and sort orders, and adds canned queries for what a reviewer
asks first: today's matches, matches by topic and source, failed alerts, sick sources, and a
full-text search. URLs in any cell are links (Datasette renders http(s) values as anchors).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # the log holds everything the service saw: never serve it beyond this machine

_NOW_ISO = "strftime('%Y-%m-%dT%H:%M:%S', 'now'"  # stored timestamps are ISO 8601 with a 'T'


def _minute(column: str) -> str:
    """An ISO timestamp shown as ``2025-05-22 10:00``."""
    return f"replace(substr({column}, 1, 16), 'T', ' ')"


# One line per matching article: its topics, each with the terms that matched.
_ARTICLE_MATCHES = (
    f"select {_minute('max(m.matched_at)')} as matched, group_concat(m.topic, ', ') as topics,"
    " a.source, a.title, a.url,\n group_concat(m.topic || ': ' || (select group_concat(value,"
    " ', ') from json_each(m.why)), '; ') as why,\n"
    " (select reported_by from story_sources where story_id = a.story_id) as reported_by\n"
    "from matches m join articles a on a.id = m.article_id\n"
)

CANNED_QUERIES: dict[str, dict[str, Any]] = {
    "todays_matches": {
        "title": "Today's matches",
        "description": "Every matching article since midnight (UTC), newest first.",
        "sql": (
            f"{_ARTICLE_MATCHES}where m.matched_at >= {_NOW_ISO}, 'start of day')\n"
            "group by a.id order by max(m.matched_at) desc"
        ),
    },
    "matches_by_topic_and_source": {
        "title": "Matches by topic and source",
        "description": "Which sources bring which stories, over the whole log.",
        "sql": (
            f"select m.topic, a.source, count(*) as matches, {_minute('max(m.matched_at)')}"
            " as latest\nfrom matches m join articles a on a.id = m.article_id\n"
            "group by m.topic, a.source\norder by m.topic, matches desc"
        ),
    },
    "failed_alerts": {
        "title": "Failed alerts",
        "description": "Alerts a receiver refused for good, and alerts still being retried.",
        "sql": (
            f"select {_minute('al.created_at')} as created, al.notifier, al.status, al.attempts,"
            f" al.last_error, {_minute('al.next_attempt_at')} as next_attempt, a.title, a.url\n"
            "from alerts al join articles a on a.id = al.article_id\n"
            "where al.status = 'failed' or (al.status = 'pending' and al.attempts > 0)\n"
            "order by al.created_at desc"
        ),
    },
    "sick_sources": {
        "title": "Sick sources",
        "description": "Sources whose last poll failed, or with no success in a day.",
        "sql": (
            f"select name, kind, consecutive_failures as failures, last_error,"
            f" {_minute('last_error_at')} as last_error_at,"
            f" {_minute('last_success')} as last_success, url\nfrom sources\n"
            "where consecutive_failures > 0 or last_success is null"
            f" or last_success < {_NOW_ISO}, '-1 day')\n"
            "order by consecutive_failures desc, name"
        ),
    },
    "search": {
        "title": "Search every article",
        "description": 'Full-text search (SQLite FTS5 syntax: words, "exact phrases", NEAR, OR).',
        "sql": (
            f"select {_minute('a.published')} as published, a.source, a.title, a.url,"
            " snippet(articles_fts, -1, '»', '«', '…', 16) as snippet,"
            " (select group_concat(topic, ', ') from matches where article_id = a.id) as topics\n"
            "from articles_fts join articles a on a.id = articles_fts.rowid\n"
            "where articles_fts match :q\norder by rank limit 200"
        ),
    },
}
for _query in CANNED_QUERIES.values():
    _query["hide_sql"] = True


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
            f" article, faceted by topic, source and matched term</li>{links}"
            f'<li><a href="/{database}/story_sources">Stories</a>: each story once, with every'
            " source that carried it</li></ul>"
        ),
        "databases": {
            database: {
                "queries": CANNED_QUERIES,
                "tables": {
                    "match_log": {
                        "description": "Every match joined with its article, newest first.",
                        "sort_desc": "matched_at",
                        "facets": ["topic", "source", {"array": "why"}, {"date": "matched_at"}],
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
                    "story_sources": {
                        "description": "One row per story: which sources carried it, since when.",
                        "sort_desc": "last_seen",
                    },
                    "stories": {"description": "Copies of one article across outlets."},
                    "story_sightings": {
                        "description": "Which source carried which copy of a story, and how it"
                        " was recognised.",
                        "facets": ["source", "how"],
                    },
                    "daemon": {"hidden": True},
                    "story_keys": {"hidden": True},
                    "story_signatures": {"hidden": True},
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
        server = subprocess.Popen(datasette_command(database, metadata, port, open_browser))
        # Stopping us stops Datasette too (and lets the scratch folder be removed).
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: server.terminate())
        try:
            return server.wait()
        except KeyboardInterrupt:  # the terminal sent Ctrl-C to Datasette as well
            server.wait()
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
