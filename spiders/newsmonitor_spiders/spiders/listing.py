"""``listing``: a section page; article links and the next page are picked by selectors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from parsel import Selector as Page
from scrapy.http import Request, Response, TextResponse

from monitor.sources.spider_options import ListingOptions, Selector

from .base import ArticleSpider


class ListingSpider(ArticleSpider):
    """Reads up to ``depth_limit`` listing pages (following ``next_page``) and their articles."""

    name = "listing"
    options: ListingOptions

    async def start(self) -> AsyncIterator[Any]:
        yield Request(
            self.options.url,
            callback=self.parse_listing,
            errback=self.start_failed,
            meta={"listing_page": 1},
        )

    def parse_listing(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, TextResponse):
            self.report_error(f"{response.url} is not an HTML page")
            return
        for href in hrefs(response, self.options.links):
            yield self.article_request(response.urljoin(href))
        page = int(response.meta.get("listing_page", 1))
        if self.options.next_page is None or page >= self.options.depth_limit:
            return
        for href in hrefs(response, self.options.next_page)[:1]:
            yield Request(
                response.urljoin(href),
                callback=self.parse_listing,
                errback=self.page_failed,
                meta={"listing_page": page + 1},
            )


def hrefs(response: TextResponse, selector: Selector) -> list[str]:
    """Link targets of the selected nodes: an ``<a>``'s href, the first link inside any other
    element, or the selected string itself (``a::attr(href)``, ``//a/@href``)."""
    nodes = response.css(selector.css) if selector.css else response.xpath(selector.xpath or "")
    found = [_href(node) for node in nodes]
    return [h.strip() for h in found if h and h.strip() and not h.startswith(("#", "javascript:"))]


def _href(node: Page) -> str | None:
    if isinstance(node.root, str):
        return node.root
    return node.attrib.get("href") or node.css("a::attr(href)").get()
