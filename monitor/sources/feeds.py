"""Fetch a feed's bytes with httpx and turn them into articles with feedparser."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import feedparser
import httpx

from monitor.errors import FetchError
from monitor.models import Article
from monitor.normalize import canonical_url, html_to_text, struct_time_to_utc

MAX_FEED_BYTES = 20 * 1024 * 1024
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True)
class FeedResponse:
    """What one fetch brought back."""

    url: str
    status: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)


async def fetch_feed(
    client: httpx.AsyncClient, url: str, max_bytes: int = MAX_FEED_BYTES
) -> FeedResponse:
    """GET a feed, refusing bodies over ``max_bytes``; library errors become FetchError."""
    try:
        async with client.stream("GET", url, headers={"Accept": FEED_ACCEPT}) as response:
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} from {response.url}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"body larger than {max_bytes} bytes")
                chunks.append(chunk)
            return FeedResponse(
                str(response.url), response.status_code, b"".join(chunks), dict(response.headers)
            )
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def parse_feed(content: bytes, source: str, base_url: str = "") -> list[Article]:
    """Articles from a feed document; FetchError when the bytes are not a feed at all."""
    parsed = feedparser.parse(content, response_headers={"content-location": base_url})
    if not parsed.entries and not parsed.version:
        reason = parsed.get("bozo_exception") or "no feed elements found"
        raise FetchError(f"not a feed: {reason}")
    return list(_articles(parsed.entries, source))


def _articles(entries: Iterable[Any], source: str) -> Iterable[Article]:
    for entry in entries:
        link = entry.get("link") or ""
        guid = entry.get("id") or None
        if not link and guid and guid.startswith(("http://", "https://")):
            link = guid
        if not link.startswith(("http://", "https://")):
            continue
        yield Article(
            url=canonical_url(link),
            title=html_to_text(entry.get("title", "")),
            source=source,
            summary=html_to_text(_summary_html(entry)),
            published=struct_time_to_utc(
                entry.get("published_parsed") or entry.get("updated_parsed")
            ),
            guid=guid,
            author=entry.get("author") or None,
        )


def _summary_html(entry: Any) -> str:
    summary = entry.get("summary") or ""
    contents = entry.get("content") or []
    longest = max((c.get("value", "") for c in contents), key=len, default="")
    return longest if len(longest) > len(summary) else summary
