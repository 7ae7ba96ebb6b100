"""Project settings: polite defaults. The crawl worker overrides them per ``spiders:`` entry
(user agent, delays, concurrency, limits); see monitor/sources/spider_options.py."""

_PACKAGE = __package__ or "newsmonitor_spiders"

BOT_NAME = "newsmonitor"
SPIDER_MODULES = [f"{_PACKAGE}.spiders"]
NEWSPIDER_MODULE = f"{_PACKAGE}.spiders"

USER_AGENT = "newsmonitor/0.1 (+https://example.org/contact)"
ROBOTSTXT_OBEY = True  # Protego, Scrapy's default robots.txt parser
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_DELAY = 0.5
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
RETRY_TIMES = 1
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False  # no control ports: a crawler should listen on nothing
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt and the download itself: a stored article is never fetched again.
    f"{_PACKAGE}.middlewares.KnownArticleMiddleware": 50,
}
ITEM_PIPELINES = {
    f"{_PACKAGE}.pipelines.MonitorPipeline": 300,
}
