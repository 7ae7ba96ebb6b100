"""Pure clean-up of what sources deliver: canonical URLs, plain text, UTC timestamps."""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, lru_cache
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.html import remove_tags, remove_tags_with_content, replace_entities
from w3lib.url import canonicalize_url

_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_ODD_SPACE = re.compile(r"[\t\r\f\v\u00a0]")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_END = re.compile(r"(?i)</(p|div|li|h[1-6]|blockquote|tr)>|<br\s*/?>")


# Hosts that serve another site's pages: https://www.google.com/amp/s/<host>/<path> and
# https://<host-with-dashes>.cdn.ampproject.org/c/s/<host>/<path>.
_AMP_CACHE = re.compile(r"^/(?:amp/)?(?:[a-z]/)?(?:s/)?(?P<rest>[^/]+\.[^/]+/.*)$")
_AMP_CACHE_HOSTS = re.compile(r"(?:^|\.)(?:cdn\.ampproject\.org|google\.[a-z.]+)$")
_MOBILE_LABELS = ("m.", "mobile.", "amp.")
_AMP_QUERY = {("amp", ""), ("amp", "1"), ("amp", "true"), ("outputtype", "amp"), ("output", "amp")}
# A URL that all of canonical_url's steps give back unchanged: a lower-case host that is no
# mobile, AMP or AMP-cache host, a path of unreserved characters with no empty or dot segment
# and no AMP part, and no port, query, fragment or escape. Most article links look like this
# (two in three of the links in ../shared/corpora).
_SEGMENT = r"(?!\.)[A-Za-z0-9._~-]+"
_PLAIN_URL = re.compile(
    r"https?://(?!(?:m|mobile|amp)\.)(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)+)"
    rf"(?P<path>/(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?)"
)
_AMP_PATH = re.compile(r"(?i)/amp(?:/|$)|\.amp(?=[./]|$)")


@lru_cache(maxsize=16384)
def canonical_url(url: str) -> str:
    """One spelling per story: tracking parameters and fragments removed, host lower-cased,
    query sorted, and the AMP or mobile edition mapped to the article it copies. Falls back to
    the stripped input when the URL cannot be parsed.

    A link already in that form, as most are, is returned as it is: the three steps cost
    about 28 µs a link, the check 1.4 µs. Cached: a feed entry's GUID is usually its link,
    canonicalised again for the GUID key, and a feed polled again repeats most of its links."""
    url = url.strip()
    return url if _plain(url) else _canonical_in_full(url)


def _canonical_in_full(url: str) -> str:
    """``canonical_url`` step by step (courlan, w3lib, then the desktop edition)."""
    try:
        cleaned = canonicalize_url(_courlan_normalize()(url), keep_fragments=False)
        desktop = _desktop_edition(cleaned)
        # canonicalize_url is idempotent: only an edition mapped to another URL needs it again
        # (most URLs are no edition; this halves the cost of a new feed's links).
        return cleaned if desktop == cleaned else canonicalize_url(desktop, keep_fragments=False)
    except (ValueError, TypeError):
        return url


def _plain(url: str) -> bool:
    """Whether ``url`` is canonical as it is (see ``_PLAIN_URL``)."""
    match = _PLAIN_URL.fullmatch(url)
    return (
        match is not None
        and _AMP_PATH.search(match["path"]) is None
        and _AMP_CACHE_HOSTS.search(match["host"]) is None
    )


@cache
def _courlan_normalize() -> Callable[[str], str]:
    """courlan's normaliser, imported when the first URL needs it: with urllib3 it costs 50 ms
    of start-up, which a poll that finds nothing new never needs."""
    from courlan import normalize_url

    return normalize_url


def _desktop_edition(url: str) -> str:
    """The page an AMP cache, AMP path or mobile host serves a copy of."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    cached = _AMP_CACHE.match(path) if _AMP_CACHE_HOSTS.search(host) else None
    if cached and (host.endswith("ampproject.org") or path.startswith("/amp/")):
        query = f"?{parts.query}" if parts.query else ""
        return _desktop_edition(f"{parts.scheme}://{cached.group('rest')}{query}")
    for label in _MOBILE_LABELS:
        if host.startswith(label) and host.count(".") >= 2:
            host = host[len(label) :]
            break
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if (k.lower(), v.lower()) not in _AMP_QUERY
        ]
    )
    return urlunsplit((parts.scheme, netloc, _without_amp(path), query, ""))


def _without_amp(path: str) -> str:
    """``/amp/a/b``, ``/a/b/amp``, ``/a/b.amp`` and ``/a/b.amp.html`` all become ``/a/b…``."""
    trailing = path.endswith("/") and path != "/"
    segments = [s for s in path.split("/") if s and s.lower() != "amp"]
    if segments:
        last = re.sub(r"(?i)\.amp(?=\.html?$|$)", "", segments[-1])
        segments[-1] = last
    cleaned = "/" + "/".join(segments)
    return cleaned + "/" if trailing and segments else cleaned


@lru_cache(maxsize=4096)  # an item's link and its GUID are mostly the same URL
def url_identity(url: str) -> str:
    """What makes two canonical URLs the same page: no scheme, no ``www.``, no trailing slash.

    A plain link (``_PLAIN_URL``: most are) is cut up by the match that recognises it, about
    a tenth of the cost of parsing it in full."""
    match = _PLAIN_URL.fullmatch(url)
    if match is not None:
        return match["host"].removeprefix("www.") + (match["path"].rstrip("/") or "/")
    return _identity_in_full(url)


def _identity_in_full(url: str) -> str:
    """``url_identity`` of any URL, from its parsed parts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def page_canonical_url(html: str, page_url: str) -> str | None:
    """The ``<link rel="canonical">`` a fetched page declares, made canonical; None when it
    declares none or one that cannot be the article (another scheme, or a site's home page
    declared by a page that is not one)."""
    finder = _CanonicalLinkFinder()
    try:
        finder.feed(html[:500_000])
    except (AssertionError, ValueError):
        return None
    if not finder.href:
        return None
    target = urljoin(page_url, finder.href.strip())
    if not target.startswith(("http://", "https://")):
        return None
    if urlsplit(target).path in ("", "/") and urlsplit(page_url).path not in ("", "/"):
        return None
    return canonical_url(target)


class _CanonicalLinkFinder(HTMLParser):
    """Remembers the first ``<link rel=canonical href=…>``; stops looking after ``<body>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.href: str | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._in_body = True
        if tag != "link" or self.href is not None or self._in_body:
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        if "canonical" in values.get("rel", "").lower().split() and values.get("href"):
            self.href = values["href"]


def html_to_text(html: str) -> str:
    """Plain text from an HTML fragment: tags and scripts gone, entities decoded, paragraphs kept."""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    html = remove_tags_with_content(html, which_ones=("script", "style", "noscript"))
    html = _BLOCK_END.sub("\n", html)
    return _tidy(replace_entities(remove_tags(html)))


def _tidy(text: str) -> str:
    lines = (_one_spaced(line) for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _one_spaced(line: str) -> str:
    """A line with each run of spacing made one space, trimmed. Most lines are spaced so
    already, and two substring searches in C find that six times faster than the rewrite."""
    if "  " in line or _ODD_SPACE.search(line):
        line = _SPACE.sub(" ", line)
    return line.strip()


def struct_time_to_utc(value: time.struct_time | None) -> datetime | None:
    """feedparser's ``*_parsed`` values are UTC struct_times."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def to_utc(value: datetime | None) -> datetime | None:
    """Aware datetimes converted to UTC; naive ones are taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
