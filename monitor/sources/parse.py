"""Bytes of a feed document → normalised articles. Pure: no I/O, safe to run in a worker process.

fastfeedparser reads RSS 0.9x/1.0/2.0, Atom and JSON Feed tens of times faster than feedparser;
what it rejects (or finds no entries in) goes to feedparser, which is slower but forgives more.
Before either sees the bytes, ``check_entities`` refuses external entities and entity-expansion
bombs, so neither parser is trusted with them.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin
from xml.sax import SAXParseException

from monitor.models import Article
from monitor.normalize import canonical_url, html_to_text, struct_time_to_utc
from monitor.sources.errors import SourceError

if TYPE_CHECKING:
    from monitor.analysis import Analysis, Analyzer

# A declared entity used this many times over the document's own size is a bomb.
MAX_ENTITY_GROWTH = 4
PROLOG_LIMIT = 200_000
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s+)?([^\s]+)\s+(SYSTEM|PUBLIC|\"[^\"]*\"|'[^']*')")
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>", re.IGNORECASE)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


@dataclass(frozen=True)
class ParsedFeed:
    """What one document yielded: its articles, its RSS ``<ttl>`` and which parser read it."""

    articles: list[Article]
    ttl: timedelta | None = None
    parser: str = "fastfeedparser"
    analyses: list[Analysis] | None = None  # one per article, when an Analyzer was given


def read_feed(
    content: bytes, source: str, base_url: str, analyzer: Analyzer | None = None
) -> ParsedFeed:
    """Parse a document and, given an analyzer, classify and fingerprint its articles too
    (in a worker process: the CPU-heavy part of a poll, off the process that writes). A
    worker imports this module, not ``feeds``: it has no use for httpx or asyncio."""
    parsed = parse_document(content, source, base_url)
    if analyzer is None:
        return parsed
    return replace(parsed, analyses=analyzer.analyze_all(parsed.articles))


def read_feeds(
    documents: Sequence[tuple[bytes, str, str, Analyzer | None]],
) -> list[ParsedFeed | Exception]:
    """``read_feed`` for several documents in one call (one message each way between a
    worker and the process that writes); a document that fails yields its exception in its
    place and the others are read as ever."""
    out: list[ParsedFeed | Exception] = []
    for document in documents:
        try:
            out.append(read_feed(*document))
        except SourceError as exc:  # the document's own fault, said in the message
            out.append(exc)
        except Exception as exc:  # noqa: BLE001 - a bug met on this document, with its trace
            exc.add_note(f"raised in the parse worker:\n{traceback.format_exc()}")
            out.append(exc)
    return out


def parse_document(content: bytes, source: str, base_url: str = "") -> ParsedFeed:
    """Articles from a feed document; SourceError when it is not a feed or is unsafe."""
    head = _prolog(content)
    if not content.strip():
        raise SourceError("not a feed: the body is empty", "not_feed")
    check_entities(content, head)
    ttl = _ttl(content)
    fast = _parse_fast(content)
    if fast is not None:
        articles = list(_fast_articles(fast, source, base_url))
        if not any(_misdecoded(a) for a in articles):
            return ParsedFeed(articles, ttl, "fastfeedparser")
    if content.lstrip()[:1] == b"{":
        # feedparser 6 does not read JSON Feed: the fallback for JSON is ours.
        return ParsedFeed(list(_json_feed_articles(content, source, base_url)), None, "jsonfeed")
    import feedparser  # the fallback, loaded when first needed (workers have it preloaded)

    parsed = feedparser.parse(content, response_headers={"content-location": base_url})
    if not parsed.entries and not parsed.version:
        raise SourceError(_not_feed_reason(content, parsed), "not_feed")
    reason = parsed.get("bozo_exception")
    if not parsed.entries and isinstance(reason, SAXParseException):
        raise SourceError(f"broken XML and no entries in it: {reason}", "parse")
    return ParsedFeed(list(_feedparser_articles(parsed.entries, source)), ttl, "feedparser")


# -- safety -----------------------------------------------------------------------------------


def _prolog(content: bytes) -> bytes:
    """Everything before the root element, as ASCII-compatible bytes (UTF-16 decoded)."""
    if (
        content[:2] in (b"\xff\xfe", b"\xfe\xff")
        or content[1:2] == b"\x00"
        or content[:1] == b"\x00"
    ):
        try:
            text = content[:PROLOG_LIMIT].decode("utf-16", errors="ignore")
        except UnicodeDecodeError:
            return b""
        content = text.encode("utf-8", errors="ignore")
    # Comments go first: a ``<x`` inside one must not end the prolog before the DOCTYPE.
    head = _COMMENT.sub(b"", content[:PROLOG_LIMIT])
    match = _ROOT_START.search(head)
    return head[: match.start()] if match else head


def check_entities(content: bytes, head: bytes | None = None) -> None:
    """Refuse external and parameter entities, nested references and expansion bombs."""
    head = _prolog(content) if head is None else head
    if b"<!ENTITY" not in head:
        return
    declared: dict[bytes, int] = {}
    for match in _ENTITY_DECL.finditer(head):
        parameter, name, value = match.group(1), match.group(2), match.group(3)
        if value in (b"SYSTEM", b"PUBLIC"):
            raise SourceError(
                f"unsafe XML: external entity {name.decode(errors='replace')}", "unsafe_xml"
            )
        if parameter or b"&" in value or b"%" in value:
            raise SourceError(
                f"unsafe XML: entity {name.decode(errors='replace')} refers to other entities",
                "unsafe_xml",
            )
        declared[name] = len(value) - 2
    if len(declared) != head.count(b"<!ENTITY"):
        raise SourceError("unsafe XML: an entity declaration that cannot be checked", "unsafe_xml")
    growth = sum(content.count(b"&" + name + b";") * size for name, size in declared.items())
    if growth > MAX_ENTITY_GROWTH * len(content) + 64 * 1024:
        raise SourceError(f"unsafe XML: entities would expand to {growth} bytes", "unsafe_xml")


def _not_feed_reason(content: bytes, parsed: Any) -> str:
    if _HTML_START.match(content[:4096]):
        return "not a feed: an HTML page"
    reason = parsed.get("bozo_exception")
    return f"not a feed: {reason}" if reason else "not a feed: no RSS, Atom or JSON Feed found"


def _ttl(content: bytes) -> timedelta | None:
    match = _TTL.search(content, 0, 200_000)
    return timedelta(minutes=int(match.group(1))) if match and int(match.group(1)) > 0 else None


# -- fastfeedparser ---------------------------------------------------------------------------


def _parse_fast(content: bytes) -> Any | None:
    """fastfeedparser's result, or None for the feedparser fallback to try."""
    import fastfeedparser  # not at import: a process that only hands documents on skips it

    try:
        parsed = fastfeedparser.parse(content, include_tags=False, include_media=False)
    except Exception:
        # It rejects what it cannot read with ValueError, but is not documented to raise
        # only that; whatever it is, feedparser gets its chance.
        return None
    return parsed if parsed.get("entries") else None


def _fast_articles(parsed: Any, source: str, base_url: str) -> Iterator[Article]:
    for entry in parsed["entries"]:
        # Relative links resolve against the document's URL, as feedparser does.
        link = _entry_link(entry.get("link") or "", entry.get("id"), base_url)
        if link is None:
            continue
        yield Article(
            url=canonical_url(link),
            title=html_to_text(entry.get("title") or ""),
            source=source,
            summary=html_to_text(_longest(entry.get("description"), entry.get("content"))),
            published=_iso(entry.get("published") or entry.get("updated")),
            guid=entry.get("id") or None,
            author=entry.get("author") or None,
        )


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    moment = moment.replace(microsecond=0)  # feedparser's struct_time has whole seconds
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _misdecoded(article: Article) -> bool:
    """fastfeedparser guesses UTF-8 for undeclared encodings; feedparser sniffs better."""
    return "\ufffd" in article.title or "\ufffd" in article.summary


# -- feedparser -------------------------------------------------------------------------------


def _feedparser_articles(entries: Iterable[Any], source: str) -> Iterator[Article]:
    for entry in entries:
        link = _entry_link(entry.get("link") or "", entry.get("id"), "")
        if link is None:
            continue
        yield Article(
            url=canonical_url(link),
            title=html_to_text(entry.get("title", "")),
            source=source,
            summary=html_to_text(_longest(entry.get("summary"), entry.get("content"))),
            # dict.get: feedparser's own get() maps one date key to the other, with a warning.
            published=struct_time_to_utc(
                dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
            ),
            guid=entry.get("id") or None,
            author=entry.get("author") or None,
        )


# -- JSON Feed ------------------------------------------------------------------------------


def _json_feed_articles(content: bytes, source: str, base_url: str) -> Iterator[Article]:
    """JSON Feed 1.0/1.1 items, for documents fastfeedparser did not accept."""
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"not a feed: JSON that does not parse ({exc})", "not_feed") from exc
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list) or "jsonfeed.org" not in str(document.get("version", "")):
        raise SourceError("not a feed: JSON, but not a JSON Feed", "not_feed")
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _entry_link(str(item.get("url") or ""), item.get("id"), base_url)
        if link is None:
            continue
        body = item.get("content_html") or item.get("content_text") or item.get("summary")
        yield Article(
            url=canonical_url(link),
            title=html_to_text(str(item.get("title") or "")),
            source=source,
            summary=html_to_text(str(body or "")),
            published=_iso(item.get("date_published") or item.get("date_modified")),
            guid=str(item["id"]) if item.get("id") is not None else None,
        )


# -- shared -----------------------------------------------------------------------------------


def _entry_link(link: str, guid: object, base: str) -> str | None:
    """The entry's absolute http(s) URL: its link, else a URL-shaped guid; None without one."""
    link = link.strip()
    if not link and isinstance(guid, str) and guid.startswith(("http://", "https://")):
        link = guid
    if link and base and not link.startswith(("http://", "https://")):
        link = urljoin(base, link)
    return link if link.startswith(("http://", "https://")) else None


def _longest(summary: object, contents: object) -> str:
    """The fuller of the summary and the entry's content blocks, as HTML."""
    text = summary if isinstance(summary, str) else ""
    if isinstance(contents, list):
        for block in contents:
            value = block.get("value", "") if isinstance(block, dict) else ""
            if isinstance(value, str) and len(value) > len(text):
                text = value
    return text
