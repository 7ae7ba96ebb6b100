"""Article extraction from a web page: title, main text without page chrome, date, author,
language. Pure: HTML in, an ``Article`` (or None) out; used by the spiders and by feeds
configured with ``full_text: true``.

trafilatura finds the main text and the metadata; the language is the page's declared
``<html lang>``, else judged from the text by py3langid (trafilatura reports none itself).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import trafilatura
from trafilatura.settings import Document

from monitor.models import Article
from monitor.normalize import canonical_url, html_to_text

MIN_TEXT_FOR_LANGUAGE = 80
MIN_ARTICLE_CHARS = 100  # below this, trafilatura has fallen back to menus or a login box
_HTML_LANG = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_SPACE = re.compile(r"[ \t\u00a0]+")


def extract_article(
    html: bytes | str,
    url: str,
    source: str,
    *,
    fast: bool = False,
) -> Article | None:
    """The article in ``html`` fetched from ``url``, or None when the page has no main text
    (under MIN_ARTICLE_CHARS characters of it).

    ``url`` (the address that was fetched) becomes the article's URL, canonicalised: a page's
    own ``<link rel=canonical>`` is not trusted, so that a page is known by the address that
    fetches it and is never downloaded twice under two names.
    """
    doc = _extract(html, url, fast)
    text = _tidy_text(doc.text or "") if doc else ""
    if doc is None or len(text) < MIN_ARTICLE_CHARS:
        return None
    return Article(
        url=canonical_url(url),
        title=html_to_text(doc.title or "") or _first_line(text),
        source=source,
        text=text,
        summary=html_to_text(doc.description or ""),
        published=parse_date(doc.date),
        author=(doc.author or None),
        language=detect_language(text, html),
    )


def with_page(entry: Article, page: Article | None) -> Article:
    """A feed entry completed by its extracted page: the page's text, the feed's title, date
    and author where the feed gave them (feeds are usually more reliable about those)."""
    if page is None:
        return entry
    return replace(
        entry,
        text=page.text,
        title=entry.title or page.title,
        summary=entry.summary or page.summary,
        published=entry.published or page.published,
        author=entry.author or page.author,
        language=page.language,
    )


def _extract(html: bytes | str, url: str, fast: bool) -> Document | None:
    result = trafilatura.bare_extraction(
        html,
        url=url,
        fast=fast,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
    )
    return result if isinstance(result, Document) else None


def _tidy_text(text: str) -> str:
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0][:200]


def parse_date(value: str | None) -> datetime | None:
    """trafilatura's dates are ``YYYY-MM-DD`` (or ISO datetimes); returned as UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def detect_language(text: str, html: bytes | str = b"") -> str | None:
    """ISO 639-1 code: the page's declared ``<html lang>``, else judged from the text."""
    raw = html.encode("utf-8", "replace") if isinstance(html, str) else html
    match = _HTML_LANG.search(raw[:5000])
    if match:
        return match.group(1).decode().lower()[:2]
    if len(text) < MIN_TEXT_FOR_LANGUAGE:
        return None
    import py3langid  # its model loads on first use (~1 s), so only when a page declares none

    code, _score = py3langid.classify(text[:5000])
    return str(code)
