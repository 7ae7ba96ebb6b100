"""When to poll a feed next: after how often it publishes, its hints, and its failures. Pure.

Miniflux's ``entry_frequency`` scheduler, measured on the feed itself: a feed that published
``w`` entries a week is polled every ``7 days / w``, kept between the feed's ``min_interval``
and ``max_interval``; a feed with nothing dated in the last week is polled at ``max_interval``
and one with no dates at all at its plain ``interval``. ``Cache-Control: max-age``, RSS
``<ttl>`` and ``Retry-After`` are lower bounds (a server's hint never pushes a poll past
``HINT_CEILING``). A failing feed backs off exponentially from ``min_interval`` up to
``max_interval`` (or longer when the server's ``Retry-After`` says so).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import Config, FeedConfig

WEEK = timedelta(days=7)
# The window that ``entries`` are counted over is at least this long, so one fresh entry
# does not look like a feed publishing every minute.
MIN_WINDOW = timedelta(hours=1)
HINT_CEILING = timedelta(days=1)
# Without a configured max_interval, a quiet feed slows down to this many plain intervals.
DEFAULT_MAX_FACTOR = 6
JITTER = 0.1


@dataclass(frozen=True)
class PollPolicy:
    """One feed's configured cadence: its plain interval and the adaptive range around it."""

    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta

    def clamp(self, value: timedelta) -> timedelta:
        return max(self.min_interval, min(self.max_interval, value))


def policy_for(config: Config, feed: FeedConfig) -> PollPolicy:
    """The feed's range: its own settings, else the defaults; ``interval`` always inside it."""
    interval = config.interval_of(feed)
    low = feed.min_interval or config.defaults.min_interval or interval
    high = feed.max_interval or config.defaults.max_interval or interval * DEFAULT_MAX_FACTOR
    return PollPolicy(interval, min(low, interval), max(high, interval))


def weekly_entries(published: Iterable[datetime | None], now: datetime) -> float | None:
    """Entries a week at the rate the feed published over the last week (None: no dates)."""
    dates = [d for d in published if d is not None]
    if not dates:
        return None
    recent = [d for d in dates if now - WEEK <= d <= now + timedelta(hours=1)]
    if not recent:
        return 0.0
    window = max(now - min(recent), MIN_WINDOW)
    return len(recent) * (WEEK / window)


def adaptive_interval(policy: PollPolicy, weekly: float | None) -> timedelta:
    """The interval that follows the publishing rate (entry_frequency), within the range."""
    if weekly is None:
        return policy.clamp(policy.interval)
    if weekly <= 0:
        return policy.max_interval
    return policy.clamp(WEEK / weekly)


def with_hints(interval: timedelta, hints: Iterable[timedelta | None]) -> timedelta:
    """Never sooner than the server asked (max-age, ttl, Retry-After), up to the ceiling."""
    floors = [min(h, HINT_CEILING) for h in hints if h is not None and h > timedelta(0)]
    return max([interval, *floors])


def backoff_interval(
    policy: PollPolicy, failures: int, retry_after: timedelta | None = None
) -> timedelta:
    """Exponential backoff after ``failures`` consecutive failures (1 = the first)."""
    exponent = min(max(failures - 1, 0), 30)
    interval = min(policy.min_interval * (2**exponent), policy.max_interval)
    return with_hints(interval, [retry_after])


def jittered(interval: timedelta, rng: random.Random | None = None) -> timedelta:
    """Spread polls of feeds with the same interval so they do not all fire at once."""
    spread = (rng or random).uniform(0, JITTER)  # only later: hints are lower bounds
    return interval * (1 + spread)
