"""Helpers for the alert tests: an outbox over a real SQLite file, driven by a controllable clock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from monitor.config import NotifierConfig
from monitor.models import Article, Classification, Entity
from monitor.notify import build_notifier
from monitor.notify.outbox import DeliveryReport, Outbox
from monitor.notify.payload import alert_id, build_payload
from monitor.store import Store, utcnow


class Clock:
    """The outbox's idea of now: real time, moved forward by the test instead of by waiting."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def story(number: int, title: str | None = None) -> tuple[Article, Classification]:
    """A matching story with its verdict, written straight into the outbox by ``enqueue``."""
    article = Article(
        url=f"https://news.example.org/world/story-{number}",
        title=title or f"Prisoner exchange number {number} completed at the border",
        source="loopback-world",
        summary=f"Story {number}: the two governments exchanged prisoners after talks.",
    )
    verdict = Classification(
        topics=["prisoner_swap"],
        scores={"prisoner_swap": 0.9, "diplomacy": 0.2},
        entities=[Entity("Abu Dhabi", "GPE")],
        why={"prisoner_swap": ["prisoner exchange"]},
    )
    return article, verdict


@dataclass
class Courier:
    """A store, some notifiers and one long-lived outbox, as a daemon would hold them."""

    path: Path
    configs: list[NotifierConfig]
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.store = Store(self.path)
        notifiers = {c.name: build_notifier(c) for c in self.configs}
        self.outbox = Outbox(self.store, notifiers, httpx.AsyncClient(), clock=self.clock)

    def enqueue(self, *numbers: int, title: str | None = None) -> list[str]:
        """Store stories and enqueue one alert per notifier each, as the pipeline does."""
        ids = []
        with self.store.atomic():
            for number in numbers:
                article, verdict = story(number, title)
                article_id = self.store.insert_article(article)
                assert article_id is not None
                self.store.record_matches(article_id, verdict)
                for config in self.configs:
                    key = alert_id(article.url, config.name)
                    payload = build_payload(key, article, verdict)
                    self.store.enqueue_alert(key, config.name, article_id, verdict.topics, payload)
                    ids.append(key)
        return ids

    def deliver(self, ignore_schedule: bool = False) -> DeliveryReport:
        """One delivery pass, with a fresh HTTP client on a fresh event loop."""

        async def one_pass() -> DeliveryReport:
            async with httpx.AsyncClient() as client:
                self.outbox.client = client
                return await self.outbox.deliver(ignore_schedule=ignore_schedule)

        return asyncio.run(one_pass())

    def rows(self) -> list[dict[str, Any]]:
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM alerts ORDER BY created_at, rowid")]
        finally:
            db.close()

    def close(self) -> None:
        self.store.close()


def couriers(tmp_path: Path) -> Iterator[Callable[..., Courier]]:
    """The body of a ``courier_for`` fixture: makes couriers over ``tmp_path/monitor.db`` and
    closes them at the end of the test."""
    made: list[Courier] = []

    def make(*configs: NotifierConfig) -> Courier:
        courier = Courier(tmp_path / "monitor.db", list(configs))
        made.append(courier)
        return courier

    yield make
    for courier in made:
        courier.close()


def webhook(url: str, name: str = "ops", **extra: Any) -> NotifierConfig:
    return NotifierConfig.model_validate({"name": name, "type": "webhook", "url": url, **extra})
