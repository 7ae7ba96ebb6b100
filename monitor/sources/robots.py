"""robots.txt for the pages the service fetches itself (feeds with ``full_text: true``).

Spiders obey robots.txt through Scrapy; article pages fetched to complete feed entries obey it
here. Each site's robots.txt is fetched once a day at most and parsed with Protego (Scrapy's
own parser), as RFC 9309 says: a file that is missing (4xx) allows everything, one the server
fails to give (5xx, no answer) disallows everything until it is asked for again, an hour
later. A refused page only means the entry keeps the feed's own summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

import httpx
from protego import Protego

log = logging.getLogger(__name__)

MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
FRESH_SECONDS = 24 * 3600
RETRY_SECONDS = 3600
DEADLINE_SECONDS = 30  # a server trickling its robots.txt does not hold its pages up longer


class RobotsRules:
    """Whether the configured user agent may fetch a URL, by each site's robots.txt."""

    def __init__(self, client: httpx.AsyncClient, user_agent: str) -> None:
        self.client = client
        self.user_agent = user_agent
        # origin -> (until when the answer holds, parsed rules or a blanket True / False)
        self._rules: dict[str, tuple[float, Protego | bool]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        async with self._locks.setdefault(origin, asyncio.Lock()):
            held = self._rules.get(origin)
            if held is None or held[0] < time.monotonic():
                held = await self._fetch(origin)
                self._rules[origin] = held
        rules = held[1]
        if isinstance(rules, bool):
            return rules
        return bool(rules.can_fetch(url, self.user_agent))

    async def _fetch(self, origin: str) -> tuple[float, Protego | bool]:
        now = time.monotonic()
        try:
            async with (
                asyncio.timeout(DEADLINE_SECONDS),
                self.client.stream("GET", origin + "/robots.txt") as response,
            ):
                if 400 <= response.status_code < 500:
                    return now + FRESH_SECONDS, True
                if response.status_code >= 300:  # 5xx (redirects are followed by the client)
                    raise httpx.HTTPError(f"HTTP {response.status_code}")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_ROBOTS_BYTES:
                        break  # what fits is what counts (RFC 9309, 2.5)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.info(
                "robots.txt of %s unavailable (%s %s): its pages are not fetched",
                origin,
                type(exc).__name__,
                exc,
            )
            return now + RETRY_SECONDS, False
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return now + FRESH_SECONDS, Protego.parse(text)
