"""Typed settings of each spider kind, and a registry from the config's ``spider:`` to them.

A ``spiders:`` entry in config.yaml names its kind (``spider: news_sitemap``) and carries that
kind's settings beside ``name``, ``url`` and ``interval``; they are validated here at config
load, so a typo fails at start-up with its key path rather than in the middle of a crawl.
No Scrapy here: the daemon validates and schedules crawls without importing it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.config import Duration


class Selector(BaseModel):
    """Elements on a page, chosen by exactly one of a CSS or an XPath selector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    css: str | None = None
    xpath: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Selector:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("give exactly one of css or xpath")
        return self


class CrawlOptions(BaseModel):
    """Politeness and limits shared by every spider kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://[^/\s]+")
    concurrency_per_domain: int = Field(default=2, ge=1, le=16)
    download_delay: Duration = timedelta(seconds=0.5)
    autothrottle_start_delay: Duration = timedelta(seconds=1)
    autothrottle_max_delay: Duration = timedelta(seconds=30)
    autothrottle_target_concurrency: float = Field(default=1.0, gt=0, le=16)
    download_timeout: Duration = timedelta(seconds=30)
    max_pages: int = Field(default=500, ge=1)
    timeout: Duration = timedelta(minutes=15)

    def scrapy_settings(self, user_agent: str) -> dict[str, Any]:
        """The Scrapy settings these options stand for: robots.txt obeyed, AutoThrottle on."""
        return {
            "USER_AGENT": user_agent,
            "ROBOTSTXT_OBEY": True,
            "ROBOTSTXT_USER_AGENT": user_agent,
            "AUTOTHROTTLE_ENABLED": True,
            "AUTOTHROTTLE_START_DELAY": self.autothrottle_start_delay.total_seconds(),
            "AUTOTHROTTLE_MAX_DELAY": self.autothrottle_max_delay.total_seconds(),
            "AUTOTHROTTLE_TARGET_CONCURRENCY": self.autothrottle_target_concurrency,
            "DOWNLOAD_DELAY": self.download_delay.total_seconds(),
            "CONCURRENT_REQUESTS_PER_DOMAIN": self.concurrency_per_domain,
            "DOWNLOAD_TIMEOUT": self.download_timeout.total_seconds(),
            "CLOSESPIDER_PAGECOUNT": self.max_pages,
            "CLOSESPIDER_TIMEOUT": self.timeout.total_seconds(),  # closes cleanly, keeps articles
        }


class NewsSitemapOptions(CrawlOptions):
    """``news_sitemap``: a news sitemap, a sitemap index, or a robots.txt naming sitemaps.

    Only entries published within ``window`` (by ``news:publication_date``, else ``lastmod``)
    are fetched; entries without either date are fetched too, since nothing says they are old.
    """

    window: Duration = timedelta(days=2)
    follow: list[str] = []
    allow: list[str] = []


class ListingOptions(CrawlOptions):
    """``listing``: a section page whose article links (and next page) selectors pick out."""

    links: Selector
    next_page: Selector | None = None
    depth_limit: int = Field(default=1, ge=1, le=50)


SPIDER_OPTIONS: dict[str, type[CrawlOptions]] = {
    "news_sitemap": NewsSitemapOptions,
    "listing": ListingOptions,
}


def validate_options(kind: str, raw: dict[str, Any]) -> CrawlOptions:
    """The typed settings of a spider of ``kind``; ValueError naming every bad key."""
    model = SPIDER_OPTIONS.get(kind)
    if model is None:
        raise ValueError(
            f"spider: unknown spider {kind!r} (known: {', '.join(sorted(SPIDER_OPTIONS))})"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(err, kind) for err in exc.errors()]
        raise ValueError("; ".join(problems)) from None


def _describe(err: Any, kind: str) -> str:
    key = ".".join(str(part) for part in err["loc"]) or kind
    if err["type"] == "extra_forbidden":
        return f"{key}: not a setting of {kind} spiders"
    return f"{key}: {str(err['msg']).removeprefix('Value error, ')}"
