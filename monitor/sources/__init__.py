"""Where articles come from: feeds (fetched with httpx, parsed off the event loop) and spiders."""
