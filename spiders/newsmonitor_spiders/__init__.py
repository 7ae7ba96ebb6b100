"""Spiders for sites without usable feeds; their items go into the newsmonitor pipeline.

Modules here import each other relatively, so the project works both as
``newsmonitor_spiders`` (``scrapy crawl`` from ``spiders/``) and as
``spiders.newsmonitor_spiders`` (the daemon's crawl worker).
"""
