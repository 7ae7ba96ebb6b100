"""Feeds configured ``full_text: true``: each new entry is completed from its article page.

Many feeds carry a headline and a teaser only; the filter needs the story. The page is fetched
with the service's httpx client and extracted exactly as the spiders extract theirs
(``monitor.extract``). Entries stored already are not fetched again, pages the site's
robots.txt refuses are not fetched (``monitor.sources.robots``), and a page that fails or is
refused leaves its entry as the feed gave it: a missing page never loses the entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import httpx

from monitor.errors import FetchError
from monitor.extract import extract_article, with_page
from monitor.models import Article
from monitor.sources.robots import RobotsRules

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 5 * 1024 * 1024
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


async def complete_from_pages(
    client: httpx.AsyncClient,
    entries: Iterable[Article],
    known: set[str],
    slots: asyncio.Semaphore,
    robots: RobotsRules,
) -> list[Article]:
    """The entries, each new one with the text (and missing fields) of its page."""

    async def complete(entry: Article) -> Article:
        if entry.url in known:
            return entry
        if not await robots.allowed(entry.url):
            log.info("full text of %s not fetched: refused by robots.txt", entry.url)
            return entry
        try:
            async with slots:
                html = await fetch_page(client, entry.url)
        except FetchError as exc:
            log.info("full text of %s not fetched: %s", entry.url, exc)
            return entry
        page = await asyncio.to_thread(extract_article, html, entry.url, entry.source)
        return with_page(entry, page)

    return list(await asyncio.gather(*(complete(e) for e in entries)))


async def fetch_page(client: httpx.AsyncClient, url: str, max_bytes: int = MAX_PAGE_BYTES) -> bytes:
    """GET an article page, refusing bodies over ``max_bytes``; errors become FetchError."""
    try:
        async with client.stream("GET", url, headers={"Accept": PAGE_ACCEPT}) as response:
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"page larger than {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc
