"""The Scrapy project of newsmonitor (``scrapy.cfg`` is beside this file)."""
