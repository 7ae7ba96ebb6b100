"""The item pipeline into newsmonitor: extract the article from the page, then hand it over.

Not a copy of the pipeline: extraction is ``monitor.extract``, and the article goes either to
the daemon (a JSON line on the crawl worker's event stream, ingested there by
``monitor.pipeline.Pipeline``) or, under a plain ``scrapy crawl`` with ``MONITOR_CONFIG``
set, straight into that same ``Pipeline`` (alerts are queued; ``monitor deliver`` sends them).
Without either, articles are printed as JSON lines on stdout.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Protocol, TextIO

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from monitor.extract import extract_article, with_page
from monitor.models import Article
from monitor.sources.crawl_protocol import article_event


class ArticleSink(Protocol):
    def put(self, article: Article) -> None: ...

    def close(self) -> None: ...


class EventStream:
    """Articles as JSON lines on a file descriptor (the crawl worker's event stream)."""

    def __init__(self, fd: int) -> None:
        self.out: TextIO = os.fdopen(fd, "w", encoding="utf-8", buffering=1, closefd=False)

    def put(self, article: Article) -> None:
        self.out.write(article_event(article) + "\n")

    def close(self) -> None:
        self.out.flush()


class DirectIngest:
    """Articles straight into the package's pipeline, for ``scrapy crawl`` with a config."""

    def __init__(self, config_path: str) -> None:
        from monitor.classify import Classifier
        from monitor.config import load_config
        from monitor.pipeline import Pipeline
        from monitor.store import Store

        config = load_config(config_path)
        self.store = Store(config.database)
        self.pipeline = Pipeline(self.store, Classifier(config.topics), config.notifiers)

    def put(self, article: Article) -> None:
        self.pipeline.ingest([article])

    def close(self) -> None:
        self.store.close()


def sink_for(crawler: Crawler) -> ArticleSink:
    fd = crawler.settings.getint("MONITOR_EVENTS_FD", -1)
    if fd >= 0:
        return EventStream(fd)
    config = crawler.settings.get("MONITOR_CONFIG") or os.environ.get("MONITOR_CONFIG")
    if config:
        return DirectIngest(config)
    return EventStream(sys.stdout.fileno())


class MonitorPipeline:
    """Page items in, articles out to the sink; a page without article text is dropped."""

    def __init__(self, sink: ArticleSink) -> None:
        self.sink = sink

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MonitorPipeline:
        return cls(sink_for(crawler))

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        page = extract_article(item["html"], item["url"], item["source"])
        if page is None:
            raise DropItem(f"no article text on {item['url']}")
        hints: dict[str, Any] = item.get("hints") or {}
        entry = Article(
            url=page.url,
            title=hints.get("title") or "",
            source=item["source"],
            published=hints.get("published"),
        )
        self.sink.put(with_page(entry, page))
        return {"url": page.url, "source": item["source"]}

    def close_spider(self) -> None:
        self.sink.close()
