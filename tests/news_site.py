"""A loopback news site built at test time from ``../shared/corpora``: real article pages
(newspaper-articles, with their expected body texts), a news sitemap made from the real
Google-News sitemap in crawler-commons-sitemaps, a sitemap index, and a robots.txt."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import LoopbackServer

NEWSPAPER = "corpora/newspaper-articles/tests/data"
NEWS_SITEMAP = "corpora/crawler-commons-sitemaps/src/test/resources/sitemaps/extension/shinpaideshou-news-sitemap.xml"
SEED = "seeds/000_21992df74e6d58a5.txt"
USER_AGENT = "newsmonitor-test/1.0 (+http://127.0.0.1/contact)"

# Pages whose expected body text trafilatura reproduces closely (token recall and precision
# of 0.9 or more; measured over the whole corpus in benchmarks/bench_extract.py).
ARTICLES = (
    "247wallst.com1",
    "avclub.com1",
    "bloomberg.com1",
    "businessweek.com1",
    "foxnews.com2",
    "mashable.com1",
    "nj.com1",
    "nypost.com1",
)
LISTED = ("al.com1", "cleveland.com1", "flavorwire.com1", "gq.com2", "mlive.com1", "nola.com1")

# Tests need quick crawls: politeness stays on (robots.txt, AutoThrottle), delays tiny.
FAST = {"download_delay": "0.01s", "autothrottle_start_delay": "0.01s", "timeout": "60s"}


@dataclass
class NewsSite:
    """What a test needs to know about the site it serves."""

    server: LoopbackServer
    shared: Path
    articles: dict[str, Path] = field(default_factory=dict)  # URL path → the page's source file

    def expected_text(self, path: str) -> str:
        stem = Path(path).stem
        return (self.shared / NEWSPAPER / "text" / f"{stem}.txt").read_text(errors="replace")

    def requested(self, prefix: str = "/") -> list[str]:
        return [r.path for r in self.server.requests if r.path.startswith(prefix)]


def serve_page(server: LoopbackServer, path: str, page: bytes) -> None:
    server.routes[path] = (200, {"Content-Type": "text/html; charset=utf-8"}, page)


def serve_xml(server: LoopbackServer, path: str, body: str) -> None:
    server.routes[path] = (200, {"Content-Type": "application/xml"}, body.encode())


def news_sitemap(shared: Path, entries: list[tuple[str, datetime, str]]) -> str:
    """The real news sitemap with its ``<url>`` entries replaced by (loc, date, title)."""
    real = (shared / NEWS_SITEMAP).read_text(encoding="utf-8")
    template = re.search(r"<url>.*?</url>", real, re.S)
    assert template, "the corpus sitemap has no <url> entry"
    urls = []
    for loc, published, title in entries:
        entry = re.sub(r"<loc>.*?</loc>", f"<loc>{html.escape(loc)}</loc>", template.group(0))
        entry = re.sub(
            r"<news:publication_date>.*?</news:publication_date>",
            f"<news:publication_date>{published.isoformat(timespec='seconds')}</news:publication_date>",
            entry,
        )
        entry = re.sub(
            r"<news:title>.*?</news:title>", f"<news:title>{html.escape(title)}</news:title>", entry
        )
        urls.append(entry)
    head = real[: real.index("<url>")]
    return head + "".join(urls) + "</urlset>\n"


def sitemap_index(locs: list[str]) -> str:
    items = "".join(f"<sitemap><loc>{html.escape(loc)}</loc></sitemap>" for loc in locs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    )


def seed_page(shared: Path) -> tuple[str, bytes]:
    """The seed story as a news page: headline, paragraphs, and page chrome around them."""
    lines = [ln.strip() for ln in (shared / SEED).read_text(encoding="utf-8").splitlines()]
    paragraphs = [ln for ln in lines if len(ln) > 60]
    headline = next(ln for ln in lines if "Russia" in ln)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p != headline)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(headline)}</title></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>{html.escape(headline)}</h1><p class="byline">By Staff Reporter</p>{body}</article>
<footer>Copyright Newszop. <a href="/privacy">Privacy</a></footer></body></html>"""
    return headline, page.encode()


def build_site(server: LoopbackServer, shared: Path, with_seed: bool = False) -> NewsSite:
    """robots.txt → sitemap index → news sitemap with recent, old and disallowed entries."""
    site = NewsSite(server, shared)
    now = datetime.now(UTC)
    recent: list[tuple[str, datetime, str]] = []
    for n, stem in enumerate(ARTICLES):
        path = f"/news/{stem}.html"
        site.articles[path] = shared / NEWSPAPER / "html" / f"{stem}.html"
        serve_page(server, path, site.articles[path].read_bytes())
        recent.append((server.url(path), now - timedelta(hours=n + 1), stem))
    if with_seed:
        headline, page = seed_page(shared)
        serve_page(server, "/news/seed-story.html", page)
        recent.append((server.url("/news/seed-story.html"), now, headline))
    source = shared / NEWSPAPER / "html"
    private = [(server.url(f"/private/{s}.html"), now, s) for s in ("nypost.com2", "gq.com1")]
    old = [(server.url(f"/archive/{s}.html"), now - timedelta(days=30), s) for s in ("al.com2",)]
    for loc, _, stem in private + old:
        serve_page(server, loc.removeprefix(server.base), (source / f"{stem}.html").read_bytes())
    serve_xml(server, "/sitemaps/news.xml", news_sitemap(shared, recent + private + old))
    serve_xml(server, "/sitemap-index.xml", sitemap_index([server.url("/sitemaps/news.xml")]))
    robots = f"User-agent: *\nDisallow: /private/\n\nSitemap: {server.url('/sitemap-index.xml')}\n"
    server.routes["/robots.txt"] = (200, {"Content-Type": "text/plain"}, robots.encode())
    return site


def build_listing(server: LoopbackServer, shared: Path, pages: int = 3) -> dict[int, list[str]]:
    """``/section?page=N`` listing pages, each with two article links and a next link."""
    server.routes["/robots.txt"] = (200, {"Content-Type": "text/plain"}, b"User-agent: *\n")
    links: dict[int, list[str]] = {}
    for page in range(1, pages + 1):
        stems = LISTED[(page - 1) * 2 : page * 2]
        links[page] = [f"/articles/{s}.html" for s in stems]
        items = "".join(
            f'<li class="story"><h2><a href="{p}">{s}</a></h2></li>'
            for p, s in zip(links[page], stems, strict=True)
        )
        nav = f'<a rel="next" href="/section/{page + 1}">Next</a>' if page < pages else ""
        html_page = (
            f"<html><body><nav><a href='/'>Home</a></nav><ul>{items}</ul>"
            f"<div class='pager'>{nav}</div></body></html>"
        )
        serve_page(server, f"/section/{page}", html_page.encode())
        for path, stem in zip(links[page], stems, strict=True):
            serve_page(server, path, (shared / NEWSPAPER / "html" / f"{stem}.html").read_bytes())
    return links
