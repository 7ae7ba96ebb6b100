"""Downloader middleware: an article page stored already is not downloaded again."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Request

from monitor.normalize import canonical_url


class KnownArticleMiddleware:
    """Drops requests for article pages whose canonical URL is in the ``articles`` table.

    Opens the database read-only (the daemon stays its single writer); only requests marked
    ``meta["article"]`` are checked, so sitemaps and listing pages are always fetched fresh.
    """

    def __init__(self, database: Path, crawler: Crawler) -> None:
        self.database = database
        self.stats = crawler.stats
        self._db: sqlite3.Connection | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KnownArticleMiddleware:
        path = crawler.settings.get("MONITOR_DATABASE") or _database_from_config()
        if not path:
            raise NotConfigured("no MONITOR_DATABASE: every article page is fetched")
        return cls(Path(path), crawler)

    def process_request(self, request: Request) -> None:
        if not request.meta.get("article") or not self._is_known(canonical_url(request.url)):
            return
        if self.stats:
            self.stats.inc_value("newsmonitor/known_skipped")
        raise IgnoreRequest(f"stored already: {request.url}")

    def _is_known(self, url: str) -> bool:
        db = self._connection()
        if db is None:
            return False
        try:
            return db.execute("SELECT 1 FROM articles WHERE url = ?", [url]).fetchone() is not None
        except sqlite3.Error:
            return False  # no articles table yet: nothing is known

    def _connection(self) -> sqlite3.Connection | None:
        if self._db is None and self.database.exists():
            uri = f"{self.database.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=10)
        return self._db


def _database_from_config() -> str | None:
    path = os.environ.get("MONITOR_CONFIG")
    if not path:
        return None
    from monitor.config import load_config

    return str(load_config(path).database)
