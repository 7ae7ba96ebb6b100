"""One story in every feed format comes out as the same article; unsafe XML is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.sources.errors import SourceError
from monitor.sources.parse import parse_document

TITLE = "Envoys agree prisoner exchange"
LINK = "https://news.example.org/world/swap"
SUMMARY_HTML = "<p>The <b>exchange</b> took place &amp; ended talks.</p>"
SUMMARY_TEXT = "The exchange took place & ended talks."
WHEN = datetime(2025, 5, 22, 10, 0, tzinfo=UTC)
ESCAPED = SUMMARY_HTML.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

FORMATS = {
    "rss091": f"""<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
 "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>t</title><link>https://news.example.org/</link>
<item><title>{TITLE}</title><link>{LINK}</link><description>{ESCAPED}</description>
<pubDate>Thu, 22 May 2025 10:00:00 GMT</pubDate></item></channel></rss>""",
    "rss10": f"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example.org/"><title>t</title><link>https://news.example.org/</link></channel>
<item rdf:about="{LINK}"><title>{TITLE}</title><link>{LINK}</link>
<description>{ESCAPED}</description><dc:date>2025-05-22T10:00:00Z</dc:date></item></rdf:RDF>""",
    "rss20": f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>{TITLE}</title><link>{LINK}</link><description><![CDATA[{SUMMARY_HTML}]]></description>
<pubDate>Thu, 22 May 2025 12:00:00 +0200</pubDate></item></channel></rss>""",
    "atom": f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>t</title><id>urn:x</id><updated>2025-05-22T10:00:00Z</updated>
<entry><title>{TITLE}</title><link rel="alternate" href="{LINK}"/><id>urn:swap</id>
<updated>2025-05-22T10:00:00Z</updated><summary type="html">{ESCAPED}</summary></entry></feed>""",
    "jsonfeed": json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "t",
            "items": [
                {
                    "id": "swap",
                    "url": LINK,
                    "title": TITLE,
                    "content_html": SUMMARY_HTML,
                    "date_published": "2025-05-22T10:00:00Z",
                }
            ],
        }
    ),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_yields_the_same_article(name):
    parsed = parse_document(FORMATS[name].encode(), "src", "https://news.example.org/feed")
    [article] = parsed.articles
    assert (article.title, article.url, article.summary) == (TITLE, LINK, SUMMARY_TEXT)
    assert article.published == WHEN
    assert article.source == "src"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_feedparser_fallback_yields_the_same_article(name, monkeypatch):
    import monitor.sources.parse as parse

    monkeypatch.setattr(parse, "_parse_fast", lambda content: None)  # as if it rejected it
    parsed = parse.parse_document(FORMATS[name].encode(), "src", "https://news.example.org/feed")
    [article] = parsed.articles
    assert parsed.parser == ("jsonfeed" if name == "jsonfeed" else "feedparser")
    assert (article.title, article.url, article.summary) == (TITLE, LINK, SUMMARY_TEXT)
    assert article.published == WHEN


def test_rss_ttl_is_read():
    body = FORMATS["rss20"].replace("<title>t</title>", "<title>t</title><ttl>45</ttl>")
    assert parse_document(body.encode(), "src").ttl is not None
    assert parse_document(body.encode(), "src").ttl.total_seconds() == 45 * 60


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1/evil.dtd"> %p;]>',
        '<!DOCTYPE rss [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
        '<!-- <rss> --><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_external_and_nested_entities_are_refused(doctype):
    body = FORMATS["rss20"].replace("<rss", doctype + "<rss", 1)
    with pytest.raises(SourceError) as caught:
        parse_document(body.encode(), "src")
    assert caught.value.kind == "unsafe_xml"


def test_quadratic_entity_blowup_is_refused():
    doctype = f'<!DOCTYPE rss [<!ENTITY big "{"x" * 50_000}">]>'
    body = FORMATS["rss20"].replace("<rss", doctype + "<rss", 1)
    body = body.replace(f"<title>{TITLE}</title>", "<title>" + "&big;" * 5_000 + "</title>")
    with pytest.raises(SourceError) as caught:
        parse_document(body.encode(), "src")
    assert caught.value.kind == "unsafe_xml"


def test_a_harmless_entity_is_allowed():
    body = FORMATS["rss20"].replace("<rss", '<!DOCTYPE rss [<!ENTITY org "UN">]><rss', 1)
    assert parse_document(body.encode(), "src").articles


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><head><title>x</title></head><body>hi</body></html>", "HTML"),
        (b'{"hello": "world"}', "not a feed"),
    ],
)
def test_non_feeds_are_recorded_as_such(body, reason):
    with pytest.raises(SourceError) as caught:
        parse_document(body, "src")
    assert caught.value.kind == "not_feed" and reason in str(caught.value)


def test_summaries_are_single_spaced_with_their_paragraphs_kept():
    from conftest import rss

    html = (
        "<p>Prisoners\u00a0were   exchanged\tat the\u00a0\u00a0border.</p>"
        "<p> Both sides  confirmed it. </p><p>Single spaced words stay as they are.</p>"
    )
    item = {
        "title": "Swap \u00a0 at  the border",
        "link": "https://x.example/a",
        "description": html,
    }

    article = parse_document(rss([item]), "x").articles[0]

    assert article.title == "Swap at the border"
    assert article.summary == (
        "Prisoners were exchanged at the border.\nBoth sides confirmed it.\n"
        "Single spaced words stay as they are."
    )
