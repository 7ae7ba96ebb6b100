"""Pure clean-up of what sources deliver: canonical URLs, plain text, UTC timestamps."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime

import courlan
from w3lib.html import remove_tags, remove_tags_with_content, replace_entities
from w3lib.url import canonicalize_url

_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_END = re.compile(r"(?i)</(p|div|li|h[1-6]|blockquote|tr)>|<br\s*/?>")


def canonical_url(url: str) -> str:
    """One spelling per story: tracking parameters and fragments removed, host lower-cased,
    query sorted. Falls back to the stripped input when the URL cannot be parsed."""
    url = url.strip()
    try:
        cleaned = courlan.normalize_url(url)
        return canonicalize_url(cleaned, keep_fragments=False)
    except (ValueError, TypeError):
        return url


def html_to_text(html: str) -> str:
    """Plain text from an HTML fragment: tags and scripts gone, entities decoded, paragraphs kept."""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    html = remove_tags_with_content(html, which_ones=("script", "style", "noscript"))
    html = _BLOCK_END.sub("\n", html)
    return _tidy(replace_entities(remove_tags(html)))


def _tidy(text: str) -> str:
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


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
