"""``news_sitemap``: articles listed by a news sitemap, a sitemap index, or robots.txt."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy.http import Request, Response

from monitor.sources.sitemaps import SitemapEntry, parse_sitemap, recent, sitemaps_in_robots
from monitor.sources.spider_options import NewsSitemapOptions

from .base import ArticleSpider, hint


class NewsSitemapSpider(ArticleSpider):
    """Follows sitemaps down to their recent entries (within ``window``) and extracts each."""

    name = "news_sitemap"
    options: NewsSitemapOptions

    async def start(self) -> AsyncIterator[Any]:
        yield Request(self.options.url, callback=self.parse_start, errback=self.start_failed)

    def parse_start(self, response: Response) -> Iterator[Request]:
        if response.url.endswith("/robots.txt"):
            urls = sitemaps_in_robots(response.body, response.url)
            if not urls:
                self.report_error(f"{response.url} names no sitemap")
            for url in urls:
                yield Request(url, callback=self.parse_sitemap, errback=self.page_failed)
            return
        if parse_sitemap(response.body) is None:
            self.report_error(f"{response.url} is not a sitemap")
            return
        yield from self.parse_sitemap(response)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        sitemap = parse_sitemap(response.body)
        if sitemap is None:
            self.logger.warning("not a sitemap: %s", response.url)
            return
        since = datetime.now(UTC) - self.options.window
        entries = recent(sitemap.entries, since)
        if sitemap.kind == "sitemapindex":
            for entry in _matching(entries, self.options.follow):
                yield Request(entry.loc, callback=self.parse_sitemap, errback=self.page_failed)
            return
        for entry in _matching(entries, self.options.allow):
            yield self.article_request(entry.loc, hint(entry.title, entry.published))


def _matching(entries: list[SitemapEntry], patterns: list[str]) -> list[SitemapEntry]:
    if not patterns:
        return entries
    compiled = [re.compile(p) for p in patterns]
    return [e for e in entries if any(p.search(e.loc) for p in compiled)]
