"""The outbox: alerts are rows in SQLite first, and are marked sent only after a 2xx."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.notify.base import Notifier
from monitor.store import AlertRow, Store, utcnow

log = logging.getLogger(__name__)

BACKOFF_FIRST = 15.0
BACKOFF_CAP = 3600.0


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with full jitter, capped; ``Retry-After`` is a lower bound."""
    delay = random.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_FIRST * 2**attempts)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 24 * 3600.0))
    return timedelta(seconds=delay)


async def deliver_pending(
    store: Store,
    notifiers: dict[str, Notifier],
    client: httpx.AsyncClient,
    now: datetime | None = None,
) -> DeliveryReport:
    """Try every due alert once; each notifier's queue runs concurrently with the others."""
    queues: dict[str, list[AlertRow]] = defaultdict(list)
    for alert in store.due_alerts(now):
        if alert.notifier in notifiers:
            queues[alert.notifier].append(alert)
    report = DeliveryReport()
    await asyncio.gather(
        *(_drain(store, notifiers[name], client, rows, report) for name, rows in queues.items())
    )
    return report


async def _drain(
    store: Store,
    notifier: Notifier,
    client: httpx.AsyncClient,
    alerts: list[AlertRow],
    report: DeliveryReport,
) -> None:
    for alert in alerts:
        try:
            await notifier.send(client, alert.payload)
        except PermanentDeliveryError as exc:
            store.mark_failed(alert.id, str(exc))
            report.failed += 1
            log.error("alert %s to %s failed for good: %s", alert.id, notifier.name, exc)
        except DeliveryError as exc:
            store.mark_retry(
                alert.id, str(exc), utcnow() + backoff(alert.attempts, exc.retry_after)
            )
            report.retrying += 1
            log.warning("alert %s to %s will be retried: %s", alert.id, notifier.name, exc)
            break  # the receiver is unwell: leave the rest of its queue for the next pass
        else:
            store.mark_sent(alert.id)
            report.sent += 1
            log.info("alert %s sent to %s", alert.id, notifier.name)
