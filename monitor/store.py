"""The only module that touches SQLite: schema, migrations, and the queries the service needs.

WAL mode, one writer (the process that owns the ``Store``), batched transactions through
``Store.atomic()``. Readers such as ``monitor matches`` or Datasette may run beside the daemon.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.models import Article, Classification

if TYPE_CHECKING:
    import sqlite_utils

SCHEMA_VERSION = 7
CACHE_KIB = 16 * 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    """The current time as stored (whole seconds), formatted once per second: the store
    stamps several rows for every article it writes."""
    second = int(time.time())
    if _NOW_CACHE[0] != second:
        _NOW_CACHE[:] = [second, iso(utcnow())]
    return str(_NOW_CACHE[1])


_NOW_CACHE: list[int | str | None] = [None, None]


def iso(moment: datetime | None) -> str | None:
    """Timestamps are stored as ISO 8601 strings in UTC, which sort and compare as text."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


FEED_STATE_COLUMNS = {
    "etag": "TEXT",  # validators of the last good answer, for a conditional GET
    "last_modified": "TEXT",
    "validated_url": "TEXT",  # the URL those validators belong to
    "body_hash": "TEXT",  # sha256 of the last body parsed: the same bytes are not parsed again
    "weekly_entries": "REAL",  # publishing rate measured on the feed, entries per week
    "poll_interval": "REAL",  # seconds until the next poll, as last scheduled
    "last_status": "TEXT",  # new | unchanged | not modified | failed
    "last_error_kind": "TEXT",  # timeout, too_large, http_status, not_feed, unsafe_xml ...
}


@dataclass(frozen=True)
class FeedState:
    """What the last polls of one feed left for the next one."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    weekly_entries: float | None = None
    consecutive_failures: int = 0
    next_poll: datetime | None = None


@dataclass(frozen=True)
class FeedPoll:
    """One poll of a feed as its ``sources`` row records it: a good poll (``new``,
    ``unchanged``, ``not modified``) with the validators to send next time, or a failure
    (``error`` set) with its kind."""

    name: str
    url: str
    status: str
    polled_at: datetime
    next_poll: datetime
    new_articles: int = 0
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    weekly_entries: float | None = None
    error: str | None = None
    error_kind: str | None = None


@dataclass(frozen=True)
class StoryCandidate:
    """A stored article that a new copy might belong with, and the story it belongs to."""

    article_id: int
    story_id: int
    story_key: str
    first_published: datetime
    source: str
    title: str
    signature: bytes | None
    via: str


@dataclass(frozen=True)
class KnownArticle:
    """A stored article found by its canonical URL."""

    id: int
    story_id: int | None
    source: str


@dataclass(frozen=True)
class AlertRow:
    """One alert in the outbox."""

    id: str
    notifier: str
    article_id: int
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    digest_id: str | None = None


class Store:
    """The SQLite log: articles, matches, alerts (the outbox) and source health."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit outside ``atomic`` (which begins and commits itself), as sqlite-utils
        # behaves; queries go straight to the connection.
        self.conn = sqlite3.connect(
            str(path), timeout=30, check_same_thread=False, isolation_level=None
        )
        self.path = path
        self.conn.execute("PRAGMA busy_timeout = 30000")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        # Beyond SQLite's default 2 MB: the full-text index and the review's queries touch
        # more pages than that on a log of some size.
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        # Each source's batch is a savepoint, and SQLite keeps the pages a savepoint may have
        # to restore in a statement journal: a temporary file once it passes 64 KB, which a
        # batch of thirty articles does. In memory it costs no system calls (about half the
        # kernel time of storing a cold pass). Sorts and temporary tables that outgrow the
        # page cache are kept in memory too.
        self.conn.execute("PRAGMA temp_store = MEMORY")
        self._depth = 0  # how many ``atomic`` blocks are open
        self._unindexed_from: int | None = None  # first article id this transaction stored
        self._migrate()

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils on the same connection, for creating tables and for the review's
        queries; made on first use (with numpy, which it imports, about 0.1 s), so a poll in
        which nothing changed never loads it."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def atomic(self) -> Iterator[Store]:
        """One transaction; nested calls are savepoints, rolled back alone when they raise.

        The articles a transaction stores enter the full-text index in one statement just
        before it commits: FTS5 writes out its pending terms at every savepoint, so indexing
        each row as it is stored (the trigger sqlite-utils makes, or an insert per row inside
        a feed's savepoint) left one tiny index segment per article to merge again, about
        four times the cost of indexing them together."""
        outermost = self._depth == 0
        savepoint = f"store_{self._depth}" if self.conn.in_transaction else None
        self.conn.execute(f"SAVEPOINT {savepoint}" if savepoint else "BEGIN")
        self._depth += 1
        try:
            yield self
            if outermost:
                self._index_stored_articles()
        except BaseException:
            # An error can have ended the transaction already (nothing left to undo then).
            if self.conn.in_transaction:
                if savepoint:
                    self.conn.execute(f"ROLLBACK TO {savepoint}")
                    self.conn.execute(f"RELEASE {savepoint}")
                else:
                    self.conn.execute("ROLLBACK")
            raise
        else:
            if savepoint:
                self.conn.execute(f"RELEASE {savepoint}")
            else:
                try:
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.rollback()
                    raise
        finally:
            self._depth -= 1
            if outermost:
                self._unindexed_from = None

    # -- schema -------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Run each missing step in order; every step records its version in its transaction."""
        steps = {
            1: self._create_v1,
            2: self._migrate_v2,
            3: self._migrate_v3,
            4: self._migrate_stories,
            5: self._migrate_feed_state,
            6: self._migrate_band_keys,
            7: self._migrate_fts_on_commit,
        }
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.atomic():
                steps[target]()
                self.conn.execute(f"PRAGMA user_version = {target}")

    def _create_v1(self) -> None:
        db = self.db
        articles, matches, alerts, sources = (
            db.table(name) for name in ("articles", "matches", "alerts", "sources")
        )
        articles.create(
            {
                "id": int,
                "url": str,
                "title": str,
                "source": str,
                "published": str,
                "fetched_at": str,
                "summary": str,
                "text": str,
                "guid": str,
                "author": str,
                "language": str,
            },
            pk="id",
            not_null={"url", "source", "fetched_at"},
            if_not_exists=True,
        )
        articles.create_index(["url"], unique=True, if_not_exists=True)
        articles.create_index(["published"], if_not_exists=True)
        if not articles.detect_fts():
            articles.enable_fts(["title", "summary", "text"], create_triggers=True)
        matches.create(
            {
                "id": int,
                "article_id": int,
                "topic": str,
                "score": float,
                "why": str,
                "entities": str,
                "matched_at": str,
            },
            pk="id",
            foreign_keys=[("article_id", "articles", "id")],
            not_null={"article_id", "topic", "score", "matched_at"},
            if_not_exists=True,
        )
        matches.create_index(["article_id", "topic"], unique=True, if_not_exists=True)
        matches.create_index(["matched_at"], if_not_exists=True)
        alerts.create(
            {
                "id": str,
                "notifier": str,
                "article_id": int,
                "topics": str,
                "payload": str,
                "status": str,
                "attempts": int,
                "last_error": str,
                "created_at": str,
                "next_attempt_at": str,
                "sent_at": str,
            },
            pk="id",
            foreign_keys=[("article_id", "articles", "id")],
            not_null={"notifier", "article_id", "status", "attempts", "created_at"},
            defaults={"status": "pending", "attempts": 0},
            if_not_exists=True,
        )
        alerts.create_index(["status", "next_attempt_at"], if_not_exists=True)
        sources.create(
            {
                "name": str,
                "kind": str,
                "url": str,
                "last_success": str,
                "last_error": str,
                "last_error_at": str,
                "consecutive_failures": int,
                "next_poll": str,
                "last_polled": str,
                "articles_total": int,
            },
            pk="name",
            defaults={"consecutive_failures": 0, "articles_total": 0},
            if_not_exists=True,
        )

    def _migrate_v2(self) -> None:
        """Alerts remember the digest they went out in (rate limiting), and sent messages are
        counted per notifier and time."""
        columns = {c.name for c in self.db.table("alerts").columns}
        if "digest_id" not in columns:
            self.conn.execute("ALTER TABLE alerts ADD COLUMN digest_id TEXT")
        self.conn.execute(
            "CREATE INDEX IF NOT EXISTS idx_alerts_notifier_sent_at ON alerts (notifier, sent_at)"
        )

    def _migrate_v3(self) -> None:
        """The daemon's heartbeat (so ``monitor status`` can tell whether it is up), and a
        ``match_log`` view joining every match to its article for reviewers."""
        self.conn.execute(
            "CREATE VIEW IF NOT EXISTS match_log AS SELECT m.matched_at, m.topic, m.score,"
            " a.source, a.title, a.url, m.why, a.published, m.article_id, m.entities"
            " FROM matches m JOIN articles a ON a.id = m.article_id"
        )
        self.db.table("daemon").create(
            {
                "id": int,
                "pid": int,
                "started_at": str,
                "heartbeat_at": str,
                "stopped_at": str,
                "config": str,
                "status": str,
            },
            pk="id",
            if_not_exists=True,
        )

    def _migrate_stories(self) -> None:
        """Stories: copies of one article across outlets share a story (``articles.story_id``),
        found by exact keys (``story_keys``) and MinHash LSH band keys (with the signatures in
        ``story_signatures``, kept only for recent articles); ``story_sightings`` records which source carried which copy.
        Articles stored before this step each become a story of their own. No foreign keys to
        ``articles``, so pruning old articles never fails on these tables."""
        for statement in _STORY_SCHEMA:
            self.conn.execute(statement)
        if "story_id" not in {c.name for c in self.db.table("articles").columns}:
            self.conn.execute("ALTER TABLE articles ADD COLUMN story_id INTEGER")
        self.conn.execute("CREATE INDEX IF NOT EXISTS idx_articles_story_id ON articles (story_id)")
        for statement in _STORY_BACKFILL:
            self.conn.execute(statement)
        self.conn.execute(_STORY_SOURCES_VIEW)

    def _migrate_feed_state(self) -> None:
        """Feeds remember what makes the next poll cheap and when it should be (issue 6)."""
        columns = {c.name for c in self.db.table("sources").columns}
        for name, sql_type in FEED_STATE_COLUMNS.items():
            if name not in columns:
                self.conn.execute(f"ALTER TABLE sources ADD COLUMN {name} {sql_type}")

    def _migrate_band_keys(self) -> None:
        """LSH band keys are looked up in memory now (``monitor.dedupe.BandIndex``), loaded
        from ``story_signatures.bands``: the ``story_bands`` table, whose random inserts made
        storing a busy pass slow, goes. Keys are also made with another hash than before, so
        the stored ones are marked for recomputing from their signatures, which the story
        code does before it next looks for a near copy (it knows the configured similarity
        that decides the bands)."""
        self.conn.execute("DROP TABLE IF EXISTS story_bands")
        self.conn.execute("UPDATE story_signatures SET bands = X''")
        self.conn.execute(_UNBANDED_INDEX)

    def _migrate_fts_on_commit(self) -> None:
        """New articles enter the full-text index when their transaction commits (see
        ``atomic``), no longer through a trigger per row; updates and deletes keep theirs."""
        self.conn.execute('DROP TRIGGER IF EXISTS "articles_ai"')

    # -- articles and matches ---------------------------------------------------------------

    def article_id(self, url: str) -> int | None:
        row = self.conn.execute("SELECT id FROM articles WHERE url = ?", [url]).fetchone()
        return None if row is None else int(row[0])

    def known_urls(self, urls: list[str]) -> set[str]:
        """Which of these canonical URLs are stored already (one query per 500)."""
        known: set[str] = set()
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT url FROM articles WHERE url IN ({marks})", chunk)
            known.update(r[0] for r in rows)
        return known

    def insert_article(
        self, article: Article, fetched_at: datetime | None = None, story_id: int | None = None
    ) -> int | None:
        """Store an article (in its story, when known); None when its URL is stored already.
        Outside ``atomic`` it is a transaction of its own (with its full-text entry)."""
        if not self._depth:
            with self.atomic():
                return self.insert_article(article, fetched_at, story_id)
        cursor = self.conn.execute(
            f"INSERT OR IGNORE INTO articles ({_ARTICLE_COLUMNS}) VALUES ({_marks(11)})",
            _article_values(article, iso(fetched_at) if fetched_at else now_iso(), story_id),
        )
        if not (cursor.rowcount and cursor.lastrowid):
            return None
        article_id = int(cursor.lastrowid)
        if self._unindexed_from is None:
            self._unindexed_from = article_id
        return article_id

    def _index_stored_articles(self) -> None:
        """Add the articles stored since ``_unindexed_from`` to the full-text index. Ids only
        grow and this process holds the write lock until it commits, so every article at or
        above the first id stored in this transaction was stored in it (a savepoint rolled
        back takes its rows, and their ids, with it)."""
        if self._unindexed_from is None:
            return
        self.conn.execute(
            "INSERT INTO articles_fts (rowid, title, summary, text)"
            " SELECT id, title, summary, text FROM articles WHERE id >= ?",
            [self._unindexed_from],
        )
        self._unindexed_from = None

    def record_matches(self, article_id: int, result: Classification) -> list[str]:
        """Record one match row per matching topic; returns the topics that were new."""
        entities = json.dumps([e.as_dict() for e in result.entities], ensure_ascii=False)
        new: list[str] = []
        for topic in result.topics:
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO matches (article_id, topic, score, why, entities, matched_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    article_id,
                    topic,
                    result.scores.get(topic, 0.0),
                    json.dumps(result.why.get(topic, []), ensure_ascii=False),
                    entities,
                    now_iso(),
                ],
            )
            if cursor.rowcount:
                new.append(topic)
        return new

    # -- alerts (the outbox) ----------------------------------------------------------------

    def enqueue_alert(
        self,
        alert_id: str,
        notifier: str,
        article_id: int,
        topics: list[str],
        payload: dict[str, Any],
    ) -> bool:
        """Persist an alert before anything is sent; False when it exists already."""
        now = now_iso()
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO alerts (id, notifier, article_id, topics, payload, status,"
            " attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            [alert_id, notifier, article_id, json.dumps(topics), json.dumps(payload), now, now],
        )
        return bool(cursor.rowcount)

    def due_alerts(
        self, now: datetime | None = None, limit: int = 500, notifier: str | None = None
    ) -> list[AlertRow]:
        """Pending alerts whose next attempt is due, oldest first (of one notifier, if named)."""
        only = " AND notifier = ?" if notifier is not None else ""
        rows = self.conn.execute(
            "SELECT id, notifier, article_id, payload, status, attempts, last_error, digest_id"
            f" FROM alerts WHERE status = 'pending' AND next_attempt_at <= ?{only}"
            " ORDER BY created_at, rowid LIMIT ?",
            [iso(now or utcnow()), *([notifier] if notifier is not None else []), limit],
        ).fetchall()
        return [AlertRow(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]

    def mark_sent(self, alert_id: str) -> None:
        self.conn.execute(
            "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = ?,"
            " last_error = NULL WHERE id = ?",
            [now_iso(), alert_id],
        )

    def mark_retry(self, alert_id: str, error: str, next_attempt: datetime) -> None:
        self.conn.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
            " WHERE id = ?",
            [error, iso(next_attempt), alert_id],
        )

    def mark_failed(self, alert_id: str, error: str) -> None:
        self.conn.execute(
            "UPDATE alerts SET status = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            [error, alert_id],
        )

    def assign_digest(self, alert_ids: list[str], digest_id: str) -> None:
        """Bind alerts to one digest message before it is sent, so a retry (or a restart after a
        crash) sends the very same digest again, under the same id."""
        with self.atomic():
            for alert_id in alert_ids:
                self.conn.execute(
                    "UPDATE alerts SET digest_id = ? WHERE id = ? AND status = 'pending'",
                    [digest_id, alert_id],
                )

    def messages_sent_since(self, notifier: str, since: datetime) -> int:
        """Messages (single alerts, or whole digests) a notifier has sent since a moment."""
        row = self.conn.execute(
            "SELECT count(DISTINCT coalesce(digest_id, id)) FROM alerts"
            " WHERE notifier = ? AND status = 'sent' AND sent_at >= ?",
            [notifier, iso(since)],
        ).fetchone()
        return int(row[0])

    def retry_failed(self, notifiers: list[str] | None = None) -> int:
        """Put failed alerts back in the queue with a fresh attempt budget; returns how many."""
        where, params = "status = 'failed'", [now_iso()]
        if notifiers is not None:
            where += f" AND notifier IN ({','.join('?' * len(notifiers))})"
            params += notifiers
        cursor = self.conn.execute(
            f"UPDATE alerts SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE {where}",
            params,
        )
        return cursor.rowcount

    def alert_rows(
        self, status: str | None = None, notifier: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Alerts newest first, joined with their article, for ``monitor alerts``."""
        where, params = ["1 = 1"], []
        if status:
            where.append("al.status = ?")
            params.append(status)
        if notifier:
            where.append("al.notifier = ?")
            params.append(notifier)
        sql = (
            "SELECT al.id, al.notifier, al.status, al.attempts, al.last_error, al.created_at,"
            " al.next_attempt_at, al.sent_at, al.digest_id, al.topics, al.article_id, a.title,"
            " a.url, a.source FROM alerts al JOIN articles a ON a.id = al.article_id"
            f" WHERE {' AND '.join(where)} ORDER BY al.created_at DESC, al.rowid DESC LIMIT ?"
        )
        return list(self.db.query(sql, [*params, limit]))

    # -- sources ----------------------------------------------------------------------------

    def sync_sources(self, sources: list[tuple[str, str, str | None]]) -> None:
        """Make sure every configured (name, kind, url) has a row; rows are kept for history.
        A row that says so already is left as it is (every command calls this: most start
        with nothing to change, and then write nothing)."""
        with self.atomic():
            self.conn.executemany(
                "INSERT INTO sources (name, kind, url) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, url = excluded.url"
                " WHERE kind IS NOT excluded.kind OR url IS NOT excluded.url",
                sources,
            )

    def record_success(self, name: str, new_articles: int, next_poll: datetime | None) -> None:
        now = now_iso()
        self.conn.execute(
            "UPDATE sources SET last_success = ?, last_polled = ?, consecutive_failures = 0,"
            " next_poll = ?, articles_total = articles_total + ? WHERE name = ?",
            [now, now, iso(next_poll), new_articles, name],
        )

    def record_failure(self, name: str, error: str, next_poll: datetime | None) -> None:
        now = now_iso()
        self.conn.execute(
            "UPDATE sources SET last_error = ?, last_error_at = ?, last_polled = ?,"
            " consecutive_failures = consecutive_failures + 1, next_poll = ? WHERE name = ?",
            [error[:1000], now, now, iso(next_poll), name],
        )

    def feed_state(self, name: str, url: str) -> FeedState:
        """The feed's saved state; validators and hash only while they belong to ``url``."""
        return self.feed_states([(name, url)])[name]

    def feed_states(self, feeds: list[tuple[str, str]]) -> dict[str, FeedState]:
        """``feed_state`` of many (name, url) feeds in one query, by name."""
        rows = self.conn.execute(
            "SELECT name, etag, last_modified, validated_url, body_hash, weekly_entries,"
            " consecutive_failures, next_poll FROM sources"
            " WHERE name IN (SELECT value FROM json_each(?))",
            [json.dumps([name for name, _ in feeds])],
        )
        saved = {row[0]: row[1:] for row in rows}
        return {name: _feed_state(saved.get(name), url) for name, url in feeds}

    def record_feed_polls(self, polls: list[FeedPoll]) -> None:
        """Good polls reset the failures and keep the validators; failures count up and keep
        the reason. All in one transaction, each with the time it was polled."""
        good = [p for p in polls if p.error is None]
        failed = [p for p in polls if p.error is not None]
        with self.atomic():
            self.conn.executemany(
                "UPDATE sources SET last_success = :polled_at, last_polled = :polled_at,"
                " consecutive_failures = 0, next_poll = :next_poll, poll_interval = :interval,"
                " articles_total = articles_total + :new_articles, last_status = :status,"
                " etag = :etag, last_modified = :last_modified, validated_url = :url,"
                " body_hash = :body_hash, weekly_entries = :weekly_entries WHERE name = :name",
                [_poll_params(p) for p in good],
            )
            self.conn.executemany(
                "UPDATE sources SET last_error = :error, last_error_at = :polled_at,"
                " last_polled = :polled_at, consecutive_failures = consecutive_failures + 1,"
                " next_poll = :next_poll, poll_interval = :interval, last_status = 'failed',"
                " last_error_kind = :error_kind WHERE name = :name",
                [_poll_params(p) for p in failed],
            )

    def source_rows(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM sources ORDER BY name"))

    # -- operations: heartbeat, housekeeping, backup -----------------------------------------

    def ping(self) -> bool:
        """True while the database answers (the daemon's health check)."""
        return self.conn.execute("SELECT 1").fetchone() == (1,)

    def record_heartbeat(self, pid: int, started_at: datetime, config: str, status: str) -> None:
        self.conn.execute(
            "INSERT INTO daemon (id, pid, started_at, heartbeat_at, stopped_at, config, status)"
            " VALUES (1, ?, ?, ?, NULL, ?, ?) ON CONFLICT(id) DO UPDATE SET pid = excluded.pid,"
            " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
            " stopped_at = NULL, config = excluded.config, status = excluded.status",
            [pid, iso(started_at), now_iso(), config, status],
        )

    def record_stopped(self) -> None:
        self.conn.execute("UPDATE daemon SET stopped_at = ? WHERE id = 1", [now_iso()])

    def prune_unmatched_text(self, older_than: datetime, batch: int = 500) -> int:
        """Drop the text of up to ``batch`` unmatched articles fetched before ``older_than``.

        The row (URL, title, summary) stays, so the story is still known and never re-ingested.
        """
        with self.atomic():
            # The update trigger takes each row's old text out of the full-text index, so
            # rows this transaction stored must be in it first.
            self._index_stored_articles()
            cursor = self.conn.execute(
                "UPDATE articles SET text = NULL WHERE id IN (SELECT a.id FROM articles a"
                " WHERE a.fetched_at < ? AND a.text IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM matches m WHERE m.article_id = a.id) LIMIT ?)",
                [iso(older_than), batch],
            )
        return int(cursor.rowcount)

    def optimize_fts(self) -> None:
        """Merge the full-text index's segments and refresh the query planner's statistics."""
        self.conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('optimize')")
        self.conn.execute("PRAGMA optimize")

    def backup(self, destination: Path) -> None:
        """An online, consistent copy (SQLite's backup API), written beside and renamed in place."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(str(partial))
        try:
            self.conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            target.close()
        partial.replace(destination)

    def delivery_latencies(self, sent_after: str | None) -> list[tuple[str, str, float]]:
        """(alert id, sent_at, seconds from enqueue to sent) for alerts sent at or after a time."""
        rows = self.conn.execute(
            "SELECT id, sent_at, (julianday(sent_at) - julianday(created_at)) * 86400.0"
            " FROM alerts WHERE status = 'sent' AND sent_at >= ? ORDER BY sent_at",
            [sent_after or ""],
        )
        return [(r[0], r[1], float(r[2] or 0.0)) for r in rows]

    def status_summary(self, since: datetime) -> dict[str, Any]:
        """What ``monitor status`` shows: the daemon, the log's size, activity since a time."""
        one = self.conn.execute
        cutoff = iso(since)
        sources = one(
            "SELECT count(*), sum(consecutive_failures > 0), max(last_polled) FROM sources"
        ).fetchone()
        return {
            "daemon": next(iter(self.db.query("SELECT * FROM daemon WHERE id = 1")), None),
            "articles": one("SELECT count(*) FROM articles").fetchone()[0],
            "articles_since": one(
                "SELECT count(*) FROM articles WHERE fetched_at >= ?", [cutoff]
            ).fetchone()[0],
            "matches": one("SELECT count(*) FROM matches").fetchone()[0],
            "matches_since": dict(
                one(
                    "SELECT topic, count(*) FROM matches WHERE matched_at >= ? GROUP BY topic",
                    [cutoff],
                ).fetchall()
            ),
            "alerts": self.alert_counts(),
            "oldest_pending_alert": one(
                "SELECT min(created_at) FROM alerts WHERE status = 'pending'"
            ).fetchone()[0],
            "sources": sources[0],
            "sources_failing": sources[1] or 0,
            "last_poll": sources[2],
            "failing": list(
                self.db.query(
                    "SELECT name, consecutive_failures, last_error, last_success FROM sources"
                    " WHERE consecutive_failures > 0 ORDER BY consecutive_failures DESC LIMIT 10"
                )
            ),
        }

    # -- reading the log --------------------------------------------------------------------

    def stored_articles(self, since: timedelta | None = None) -> Iterator[tuple[int, Article]]:
        """Stored articles fetched within ``since`` (all when None), oldest first, for replays."""
        sql, params = "SELECT * FROM articles", []
        if since is not None:
            sql += " WHERE fetched_at >= ?"
            params.append(iso(utcnow() - since))
        for row in self.db.query(sql + " ORDER BY fetched_at, id", params):
            published = datetime.fromisoformat(row["published"]) if row["published"] else None
            yield (
                int(row["id"]),
                Article(
                    url=row["url"],
                    title=row["title"] or "",
                    source=row["source"],
                    summary=row["summary"] or "",
                    text=row["text"] or "",
                    published=published,
                    guid=row["guid"],
                    author=row["author"],
                    language=row["language"],
                ),
            )

    def recent_matches(
        self, since: timedelta | None = None, topic: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Matches newest first, joined with their article."""
        where, params = _match_filter(since, topic)
        sql = (
            "SELECT m.matched_at, m.topic, m.score, m.why, m.entities, a.id AS article_id,"
            " a.title, a.url, a.source, a.published FROM matches m"
            " JOIN articles a ON a.id = m.article_id"
            f" WHERE {' AND '.join(where)} ORDER BY m.matched_at DESC, m.id DESC LIMIT ?"
        )
        return list(self.db.query(sql, [*params, limit]))

    def alert_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, count(*) FROM alerts GROUP BY status")
        return {status: count for status, count in rows}

    # -- stories ------------------------------------------------------------------------------

    def articles_by_url(self, urls: list[str]) -> dict[str, KnownArticle]:
        """The stored articles among these canonical URLs (one query per 500)."""
        known: dict[str, KnownArticle] = {}
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT url, id, story_id, source FROM articles WHERE url IN ({marks})", chunk
            )
            known.update((r[0], KnownArticle(r[1], r[2], r[3])) for r in rows)
        return known

    def next_ids(self) -> tuple[int, int]:
        """The ids the next article and the next story stored would be given."""
        row = self.conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM articles),"
            " (SELECT coalesce(max(id), 0) FROM stories)"
        ).fetchone()
        return int(row[0]) + 1, int(row[1]) + 1

    def insert_new_stories(
        self,
        stories: Sequence[
            tuple[Article, int, int, datetime, list[str], tuple[bytes, bytes] | None]
        ],
    ) -> None:
        """Store articles that each start a story of their own, with the ids given (those of
        ``next_ids`` on): (article, article id, story id, story's first published, exact keys,
        (signature, bands) or None). The rows ``insert_article``, ``create_story``,
        ``add_to_story`` and ``record_sighting`` would write one by one, in one statement a
        table; the URLs must not be stored yet."""
        now = now_iso()
        articles: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        keys: list[tuple[str, int, int]] = []
        signatures: list[tuple[Any, ...]] = []
        sightings: list[tuple[Any, ...]] = []
        for article, article_id, story_id, first_published, exact_keys, signature in stories:
            articles.append((article_id, *_article_values(article, now, story_id)))
            rows.append(
                (story_id, article.url, article.title, article_id, iso(first_published), now, now)
            )
            keys.extend((key, story_id, article_id) for key in exact_keys)
            if signature is not None:
                signatures.append((article_id, story_id, now, *signature))
            sightings.append((story_id, article_id, article.source, article.url, "first", now))
        self.conn.executemany(
            f"INSERT INTO articles (id, {_ARTICLE_COLUMNS}) VALUES ({_marks(12)})", articles
        )
        self.conn.executemany(
            "INSERT INTO stories (id, key, title, first_article_id, first_published, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO story_keys (key, story_id, article_id) VALUES (?, ?, ?)", keys
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO story_signatures (article_id, story_id, stored_at, signature,"
            " bands) VALUES (?, ?, ?, ?, ?)",
            signatures,
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO story_sightings (story_id, article_id, source, url, how,"
            " seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            sightings,
        )
        if self._unindexed_from is None:
            self._unindexed_from = min(row[0] for row in articles)

    def create_story(self, key: str, title: str, first_published: datetime) -> int:
        """A new story, first seen now; ``key`` (its first copy's URL) names it for good."""
        now = now_iso()
        cursor = self.conn.execute(
            "INSERT INTO stories (key, title, first_published, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [key, title, iso(first_published), now, now],
        )
        return int(cursor.lastrowid or 0)

    def story_key_of_article(self, article_id: int) -> str | None:
        """The key of the story a stored article belongs to (None for one without a story)."""
        row = self.conn.execute(
            "SELECT s.key FROM articles a JOIN stories s ON s.id = a.story_id WHERE a.id = ?",
            [article_id],
        ).fetchone()
        return None if row is None else str(row[0])

    def story_key(self, story_id: int) -> str | None:
        row = self.conn.execute("SELECT key FROM stories WHERE id = ?", [story_id]).fetchone()
        return None if row is None else str(row[0])

    def add_to_story(
        self,
        story_id: int,
        article_id: int,
        keys: list[str],
        signature: tuple[bytes, bytes] | None,
    ) -> None:
        """Remember a stored article's exact keys and (signature, bands) under its story."""
        now = now_iso()
        self.conn.execute(
            "UPDATE stories SET first_article_id = coalesce(first_article_id, ?), updated_at = ?"
            " WHERE id = ?",
            [article_id, now, story_id],
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO story_keys (key, story_id, article_id) VALUES (?, ?, ?)",
            [(key, story_id, article_id) for key in keys],
        )
        if signature is None:
            return
        minhash, bands = signature
        self.conn.execute(
            "INSERT OR REPLACE INTO story_signatures (article_id, story_id, stored_at, signature,"
            " bands) VALUES (?, ?, ?, ?, ?)",
            [article_id, story_id, now, minhash, bands],
        )

    def stories_by_key(self, keys: list[str]) -> list[StoryCandidate]:
        """Stored articles sharing one of these exact keys (URL, GUID, text hash)."""
        out: list[StoryCandidate] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"{_candidate_select('k.key', 'k.article_id')} FROM story_keys k"
                " JOIN stories s ON s.id = k.story_id LEFT JOIN articles a ON a.id = k.article_id"
                " LEFT JOIN story_signatures g ON g.article_id = k.article_id"
                f" WHERE k.key IN ({marks})",
                chunk,
            )
            out.extend(_candidate(r) for r in rows)
        return out

    def stories_by_articles(self, article_ids: list[int]) -> list[StoryCandidate]:
        """Stored articles with a signature (candidate near copies), in the order given."""
        if not article_ids:
            return []
        marks = ",".join("?" * len(article_ids))
        rows = self.conn.execute(
            f"{_candidate_select(repr('near'), 'g.article_id')} FROM story_signatures g"
            " JOIN stories s ON s.id = g.story_id LEFT JOIN articles a ON a.id = g.article_id"
            f" WHERE g.article_id IN ({marks})",
            article_ids,
        ).fetchall()
        order = {article_id: n for n, article_id in enumerate(article_ids)}
        return sorted((_candidate(r) for r in rows), key=lambda c: order[c.article_id])

    def signature_bands(self, after: int = 0) -> list[tuple[int, bytes]]:
        """(article id, packed band keys) of stored signatures with ids above ``after``."""
        rows = self.conn.execute(
            "SELECT article_id, bands FROM story_signatures WHERE article_id > ?"
            " AND length(bands) > 0 ORDER BY article_id",
            [after],
        )
        return [(int(article_id), bytes(blob)) for article_id, blob in rows]

    def oldest_signature(self) -> int | None:
        """The smallest article id that still has a signature (None when none has)."""
        row = self.conn.execute("SELECT min(article_id) FROM story_signatures").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def unbanded_signatures(self, limit: int = 5000) -> list[tuple[int, bytes]]:
        """(article id, signature) of stored signatures whose band keys are to be computed."""
        rows = self.conn.execute(
            "SELECT article_id, signature FROM story_signatures WHERE length(bands) = 0 LIMIT ?",
            [limit],
        )
        return [(int(article_id), bytes(blob)) for article_id, blob in rows]

    def set_bands(self, bands: list[tuple[int, bytes]]) -> None:
        """Store computed band keys (packed) for these article ids."""
        self.conn.executemany(
            "UPDATE story_signatures SET bands = ? WHERE article_id = ?",
            [(packed, article_id) for article_id, packed in bands],
        )

    def prune_signatures(self, stored_before: datetime, limit: int = 5000) -> int:
        """Forget the LSH bands of articles stored before ``stored_before``; returns how many.
        Their stories stay, but no longer take near-duplicate copies."""
        rows = self.conn.execute(
            "SELECT article_id FROM story_signatures WHERE stored_at < ? LIMIT ?",
            [iso(stored_before), limit],
        ).fetchall()
        self.conn.executemany(
            "DELETE FROM story_signatures WHERE article_id = ?", [(r[0],) for r in rows]
        )
        return len(rows)

    def record_sighting(
        self,
        story_id: int,
        article_id: int,
        article: Article,
        how: str,
        similarity: float | None = None,
    ) -> bool:
        """Note that ``article.source`` carried a copy of the story; False if noted already."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO story_sightings (story_id, article_id, source, url, how,"
            " similarity, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [story_id, article_id, article.source, article.url, how, similarity, now_iso()],
        )
        return bool(cursor.rowcount)

    def story_sources(self, story_ids: list[int]) -> dict[int, list[str]]:
        """The sources that carried each story, in the order they were seen."""
        out: dict[int, list[str]] = {i: [] for i in story_ids}
        for start in range(0, len(story_ids), 500):
            chunk = story_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                "SELECT story_id, source, min(id) AS first FROM story_sightings"
                f" WHERE story_id IN ({marks}) GROUP BY story_id, source ORDER BY first",
                chunk,
            )
            for story_id, source, _ in rows:
                out[story_id].append(source)
        return out

    def story_matches(self, story_id: int) -> list[dict[str, Any]]:
        """Every match of every copy of a story, oldest first."""
        return list(
            self.db.query(
                "SELECT m.topic, m.score, m.why, m.entities, m.article_id FROM matches m"
                " JOIN articles a ON a.id = m.article_id WHERE a.story_id = ? ORDER BY m.id",
                [story_id],
            )
        )

    def recent_story_matches(
        self, since: timedelta | None = None, topic: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """One row per (story, topic), newest first: the first copy that matched, with
        ``story_id`` and ``copies`` (how many stored copies of the story matched the topic)."""
        where, params = _match_filter(since, topic)
        sql = (
            "WITH firsts AS (SELECT min(m.id) AS id, count(*) AS copies FROM matches m"
            f" JOIN articles a ON a.id = m.article_id WHERE {' AND '.join(where)}"
            " GROUP BY coalesce(a.story_id, -a.id), m.topic)"
            " SELECT m.matched_at, m.topic, m.score, m.why, m.entities, a.id AS article_id,"
            " a.title, a.url, a.source, a.published, a.story_id, f.copies FROM firsts f"
            " JOIN matches m ON m.id = f.id JOIN articles a ON a.id = m.article_id"
            " ORDER BY m.matched_at DESC, m.id DESC LIMIT ?"
        )
        return list(self.db.query(sql, [*params, limit]))


_ARTICLE_COLUMNS = (
    "url, title, source, published, fetched_at, summary, text, guid, author, language, story_id"
)


def _article_values(
    article: Article, fetched_at: str | None, story_id: int | None
) -> tuple[Any, ...]:
    """An article's row, in the order of ``_ARTICLE_COLUMNS``."""
    return (
        article.url,
        article.title,
        article.source,
        iso(article.published),
        fetched_at,
        article.summary,
        article.text,
        article.guid,
        article.author,
        article.language,
        story_id,
    )


def _marks(count: int) -> str:
    return ", ".join("?" * count)


_STORY_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS stories (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " title TEXT, first_article_id INTEGER, first_published TEXT NOT NULL,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS story_keys (key TEXT PRIMARY KEY, story_id INTEGER NOT NULL,"
    " article_id INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS story_signatures (article_id INTEGER PRIMARY KEY,"
    " story_id INTEGER NOT NULL, stored_at TEXT NOT NULL, signature BLOB NOT NULL,"
    " bands BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_story_signatures_stored_at ON story_signatures (stored_at)",
    "CREATE TABLE IF NOT EXISTS story_sightings (id INTEGER PRIMARY KEY,"
    " story_id INTEGER NOT NULL, article_id INTEGER NOT NULL, source TEXT NOT NULL,"
    " url TEXT NOT NULL, how TEXT NOT NULL, similarity REAL, seen_at TEXT NOT NULL,"
    " UNIQUE (story_id, source, article_id))",
]
_STORY_BACKFILL = [
    "INSERT OR IGNORE INTO stories (key, title, first_article_id, first_published, created_at,"
    " updated_at) SELECT url, title, id, coalesce(published, fetched_at), fetched_at, fetched_at"
    " FROM articles WHERE story_id IS NULL",
    "UPDATE articles SET story_id = (SELECT s.id FROM stories s WHERE s.key = articles.url)"
    " WHERE story_id IS NULL",
    "INSERT OR IGNORE INTO story_sightings (story_id, article_id, source, url, how, seen_at)"
    " SELECT story_id, id, source, url, 'first', fetched_at FROM articles"
    " WHERE story_id IS NOT NULL",
]
# Finds the signatures whose band keys are still to be computed (none, once they are).
_UNBANDED_INDEX = (
    "CREATE INDEX IF NOT EXISTS idx_story_signatures_unbanded ON story_signatures (article_id)"
    " WHERE length(bands) = 0"
)
# One row per story for reviewers: who carried it, how many copies, since when.
_STORY_SOURCES_VIEW = (
    "CREATE VIEW IF NOT EXISTS story_sources AS SELECT s.id AS story_id, s.title,"
    " s.key AS first_url, s.first_published, count(DISTINCT g.source) AS sources,"
    " count(DISTINCT g.article_id) AS copies,"
    " (SELECT group_concat(source, ', ') FROM (SELECT DISTINCT source FROM story_sightings"
    " WHERE story_id = s.id ORDER BY source)) AS reported_by, max(g.seen_at) AS last_seen"
    " FROM stories s JOIN story_sightings g ON g.story_id = s.id GROUP BY s.id"
)


def first_documents_due(path: Path, names: Iterable[str]) -> bool:
    """Whether any of these feeds has not yet delivered a document to the database at
    ``path`` (so the coming poll will surely parse one): a quick read-only look, taken before
    the database is opened for writing. True when there is no database or it cannot be read.

    A feed whose last poll failed does not count: one that never worked will most likely
    fail again, and must not make every pass start the parse workers early."""
    if not path.is_file():
        return True
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT name FROM sources WHERE body_hash IS NOT NULL OR consecutive_failures > 0"
            )
            settled = {name for (name,) in rows}
    except sqlite3.Error:
        return True
    return not settled.issuperset(names)


def _feed_state(row: tuple[Any, ...] | None, url: str) -> FeedState:
    if row is None:
        return FeedState()
    etag, modified, validated, body_hash, weekly, failures, next_poll = row
    same = validated == url
    return FeedState(
        etag if same else None,
        modified if same else None,
        body_hash if same else None,
        weekly,
        failures or 0,
        datetime.fromisoformat(next_poll) if next_poll else None,
    )


def _poll_params(poll: FeedPoll) -> dict[str, Any]:
    return {
        **vars(poll),
        "error": poll.error and poll.error[:1000],
        "polled_at": iso(poll.polled_at),
        "next_poll": iso(poll.next_poll),
        "interval": round((poll.next_poll - poll.polled_at).total_seconds(), 1),
    }


def _candidate_select(via: str, article_id: str) -> str:
    return (
        f"SELECT {via}, {article_id}, s.id, s.key, s.first_published, a.source, a.title,"
        " g.signature"
    )


def _candidate(row: tuple[Any, ...]) -> StoryCandidate:
    via, article_id, story_id, key, first, source, title, signature = row
    return StoryCandidate(
        article_id=int(article_id or 0),
        story_id=int(story_id),
        story_key=str(key),
        first_published=datetime.fromisoformat(first),
        source=source or "",
        title=title or "",
        signature=signature,
        via=via,
    )


def _match_filter(since: timedelta | None, topic: str | None) -> tuple[list[str], list[Any]]:
    """WHERE terms and parameters selecting matches (alias ``m``) by age and topic."""
    where, params = ["1 = 1"], []
    if since is not None:
        where.append("m.matched_at >= ?")
        params.append(iso(utcnow() - since))
    if topic:
        where.append("m.topic = ?")
        params.append(topic)
    return where, params
