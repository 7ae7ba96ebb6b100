"""The crawl worker's protocol: the job it reads on stdin, the JSON lines it writes on stdout.

Kept apart from ``crawl`` (the parent side) so the worker imports no more than it needs: a
crawl's start-up time is paid on every crawl.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.config import Config, SpiderConfig
from monitor.models import Article


def article_event(article: Article) -> str:
    """One JSON line announcing an extracted article."""
    data = asdict(article)
    data["published"] = article.published.isoformat() if article.published else None
    return json.dumps({"event": "article", "article": data}, ensure_ascii=False)


def done_event(stats: dict[str, Any], error: str | None) -> str:
    """The last JSON line of a crawl: its counters, and why it failed if it did."""
    return json.dumps({"event": "done", "stats": stats, "error": error}, default=str)


def article_from_event(data: dict[str, Any]) -> Article:
    fields = dict(data)
    published = fields.get("published")
    fields["published"] = datetime.fromisoformat(published) if published else None
    return Article(**fields)


def crawl_job(spider: SpiderConfig, config: Config, log_level: str = "WARNING") -> dict[str, Any]:
    """Everything the worker needs, as JSON: which spider, its typed settings, the database."""
    options = spider.options
    return {
        "name": spider.name,
        "spider": spider.spider,
        "options": spider.raw_options,  # as written (validated at load); the child re-validates
        "settings": {**options.scrapy_settings(config.user_agent), "LOG_LEVEL": log_level},
        "database": str(Path(config.database).resolve()),
    }
