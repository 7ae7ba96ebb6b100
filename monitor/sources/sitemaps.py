"""Pure parsing of sitemaps: urlsets (with Google-News fields), sitemap indexes, robots.txt.

Scrapy's own sitemap reader drops nested elements such as ``news:publication_date``, which is
the date a news sitemap is about, so entries are read here with lxml instead.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

from lxml import etree

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed file


@dataclass(frozen=True)
class SitemapEntry:
    """One ``<url>`` or ``<sitemap>`` element."""

    loc: str
    published: datetime | None = None
    lastmod: datetime | None = None
    title: str | None = None
    language: str | None = None

    @property
    def date(self) -> datetime | None:
        """When the entry was published, else last modified."""
        return self.published or self.lastmod


@dataclass(frozen=True)
class Sitemap:
    """A parsed sitemap document: ``kind`` is ``urlset`` or ``sitemapindex``."""

    kind: str
    entries: list[SitemapEntry]


def parse_sitemap(body: bytes) -> Sitemap | None:
    """The entries of a (possibly gzipped) sitemap document; None when it is not one."""
    xml = _gunzip(body)
    if xml is None:
        return None
    parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False
    )
    try:
        root = etree.fromstring(xml.lstrip(b"\xef\xbb\xbf \t\r\n"), parser=parser)
    except etree.XMLSyntaxError:
        return None
    if root is None:
        return None
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        return None
    child = "url" if kind == "urlset" else "sitemap"
    entries = [e for e in (_entry(el) for el in root if _local(el.tag) == child) if e]
    return Sitemap(kind, entries)


def sitemaps_in_robots(body: bytes, base_url: str) -> list[str]:
    """The ``Sitemap:`` URLs a robots.txt names, resolved against its own URL."""
    text = body.decode("utf-8", "replace").lstrip("\ufeff")
    urls = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip():
            urls.append(urljoin(base_url, value.strip()))
    return urls


def recent(entries: Iterable[SitemapEntry], since: datetime) -> list[SitemapEntry]:
    """Entries dated at or after ``since``; undated entries are kept (nothing says they are old)."""
    return [e for e in entries if e.date is None or e.date >= since]


def _entry(element: etree._Element) -> SitemapEntry | None:
    fields: dict[str, str] = {}
    for node in _fields_of(element):
        if node.text and node.text.strip():
            fields.setdefault(_local(node.tag), node.text.strip())
    loc = fields.get("loc", "")
    if not loc.startswith(("http://", "https://")):
        # Some sitemap indexes put the URL directly in <sitemap>, without <loc>.
        loc = (element.text or "").strip()
        if not loc.startswith(("http://", "https://")):
            return None
    return SitemapEntry(
        loc=loc,
        published=parse_w3c_date(fields.get("publication_date")),
        lastmod=parse_w3c_date(fields.get("lastmod")),
        title=fields.get("title"),
        language=fields.get("language"),
    )


def _fields_of(element: etree._Element) -> Iterable[etree._Element]:
    """Direct children, and the Google-News block's fields (but not image or video titles)."""
    for child in element:
        if _local(child.tag) == "news":
            yield from (n for n in child.iter() if n is not child and _local(n.tag))
        elif _local(child.tag):
            yield child


def parse_w3c_date(value: str | None) -> datetime | None:
    """W3C datetimes as sitemaps use them (``2025-05-27``, ``…T10:00:36+00:00``, ``…Z``), UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _gunzip(body: bytes) -> bytes | None:
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(body, MAX_SITEMAP_BYTES)
    except (zlib.error, gzip.BadGzipFile):
        return None
    return None if inflater.unconsumed_tail else out
