"""What every newsmonitor spider shares: typed options, article requests, failure reporting."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from twisted.python.failure import Failure

from monitor.sources.spider_options import CrawlOptions, validate_options


class ArticleSpider(scrapy.Spider):
    """Base of the spiders: ``source`` names the config entry, ``options`` its settings.

    The daemon's worker passes ``options`` as a dict. From the command line, either
    ``scrapy crawl NAME -a source=ENTRY`` with ``MONITOR_CONFIG`` set, or the settings
    themselves: ``scrapy crawl news_sitemap -a url=https://… -a window=1d``.
    """

    options: CrawlOptions

    def __init__(
        self, source: str | None = None, options: dict[str, Any] | str | None = None, **kw: Any
    ) -> None:
        super().__init__()
        self.source = source or self.name
        self.options = validate_options(self.name, _raw_options(self.name, source, options, kw))

    def article_request(self, url: str, hints: dict[str, Any] | None = None) -> Request:
        """An article page: checked against stored URLs before download, then extracted."""
        return Request(
            url,
            callback=self.parse_article,
            errback=self.page_failed,
            meta={"article": True, "hints": hints or {}},
        )

    def parse_article(self, response: Response) -> Iterator[dict[str, Any]]:
        if not isinstance(response, TextResponse):
            return
        urls = response.meta.get("redirect_urls") or [response.url]
        yield {
            "url": urls[0],
            "html": response.text,
            "source": self.source,
            "hints": response.meta.get("hints") or {},
        }

    def start_failed(self, failure: Failure) -> None:
        """The start URL failed: the whole source is failing, and the operator should see it."""
        self.report_error(f"{failure.request.url}: {_reason(failure)}")  # type: ignore[attr-defined]

    def page_failed(self, failure: Failure) -> None:
        if failure.check(IgnoreRequest):  # robots.txt or a stored page: counted elsewhere
            self.logger.debug("skipped %s: %s", failure.request.url, failure.value)  # type: ignore[attr-defined]
            return
        if self.crawler.stats:
            self.crawler.stats.inc_value("newsmonitor/page_errors")
        self.logger.warning("page failed: %s", _reason(failure))

    def report_error(self, message: str) -> None:
        self.logger.error(message)
        if self.crawler.stats and not self.crawler.stats.get_value("newsmonitor/error"):
            self.crawler.stats.set_value("newsmonitor/error", message)


def hint(title: str | None = None, published: datetime | None = None) -> dict[str, Any]:
    return {"title": title, "published": published}


def _reason(failure: Failure) -> str:
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    return f"{type(failure.value).__name__}: {failure.getErrorMessage()}"


def _raw_options(
    kind: str, source: str | None, options: dict[str, Any] | str | None, kw: dict[str, Any]
) -> dict[str, Any]:
    if isinstance(options, dict):
        return options
    if isinstance(options, str):
        return dict(json.loads(options))
    if source and os.environ.get("MONITOR_CONFIG") and not kw:
        from monitor.config import load_config

        config = load_config(os.environ["MONITOR_CONFIG"])
        for entry in config.spiders:
            if entry.name == source and entry.spider == kind:
                return entry.raw_options
        raise ValueError(f"no {kind} spider named {source!r} in {config.path}")
    return {k: _cli_value(v) for k, v in kw.items()}


def _cli_value(value: Any) -> Any:
    """``-a`` arguments are strings; JSON ones (``-a links='{"css": "h2 a"}'``) are decoded."""
    if isinstance(value, str) and value[:1] in "{[":
        return json.loads(value)
    return value
