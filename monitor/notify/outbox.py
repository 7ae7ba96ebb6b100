"""The outbox: alerts are rows in SQLite first, and are marked sent only after a 2xx.

One delivery pass, per notifier (notifiers run concurrently, each queue in order):

1. skip the notifier while it is paused (its last send failed; ``Retry-After`` honoured);
2. plan the messages: with a ``rate_limit`` of N per window, at most N messages go out per
   window; when more alerts are due than there is room for, the last free slot carries one
   digest of all the rest (``plan_messages``, pure); alerts that find no room stay pending;
3. a digest's members are bound to its id in SQLite *before* it is sent, so a retry or a
   restart sends the same digest under the same id;
4. send each message: 2xx → ``sent``; a temporary failure → retried later with exponential
   backoff and jitter, the notifier paused until then; a permanent failure, or the
   notifier's ``max_attempts`` reached → ``failed`` with the last error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from monitor.config import NotifierConfig, RateLimit
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.notify.base import Notifier, redact
from monitor.notify.payload import build_digest, digest_id
from monitor.store import AlertRow, Store, utcnow

log = logging.getLogger(__name__)

RETRY_AFTER_CAP = 24 * 3600.0
DIGEST_MAX = 200
QUEUE_BATCH = 500
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass
class DeliveryReport:
    """What one delivery pass did (counts of alerts; a digest counts each alert inside)."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    digests: int = 0
    held: int = 0


@dataclass(frozen=True)
class Message:
    """One request to a receiver: a single alert, or a digest of several."""

    alerts: list[AlertRow]
    digest: str | None = None


@dataclass
class Plan:
    """What to send now; ``new_digest`` members must be bound to it before sending."""

    messages: list[Message] = field(default_factory=list)
    new_digest: Message | None = None
    held: int = 0


def backoff(
    attempts: int,
    retry_after: float | None = None,
    first: float = 15.0,
    cap: float = 3600.0,
) -> timedelta:
    """Exponential backoff with jitter (50–100 % of the step), capped; ``Retry-After`` is a
    lower bound the receiver asked for."""
    delay = random.uniform(0.5, 1.0) * min(cap, first * 2 ** min(attempts, 30))
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return timedelta(seconds=delay)


def plan_messages(alerts: list[AlertRow], room: int | None) -> Plan:
    """Split due alerts (oldest first) into messages that fit in ``room`` (None: no limit).

    Digests formed earlier go first, as they were; then single alerts; when the singles do not
    fit, the last free slot carries one digest of all that remain.
    """
    formed: dict[str, list[AlertRow]] = {}
    singles: list[AlertRow] = []
    for alert in alerts:
        if alert.digest_id:
            formed.setdefault(alert.digest_id, []).append(alert)
        else:
            singles.append(alert)
    plan = Plan(messages=[Message(rows, d) for d, rows in formed.items()])
    if room is None:
        plan.messages += [Message([a]) for a in singles]
        return plan
    plan.messages, free = plan.messages[:room], room - len(plan.messages)
    if free <= 0 or len(singles) <= free:
        fitting = singles[: max(free, 0)]
    else:
        fitting = singles[: free - 1]
        rest = singles[free - 1 : free - 1 + DIGEST_MAX]
        plan.new_digest = Message(rest, digest_id([a.id for a in rest]))
    plan.messages += [Message([a]) for a in fitting]
    sent = sum(len(m.alerts) for m in plan.messages) + (
        len(plan.new_digest.alerts) if plan.new_digest else 0
    )
    plan.held = len(alerts) - sent
    return plan


def describe(limit: RateLimit) -> str:
    seconds = limit.window.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"rate limit {limit.count}/{int(seconds // size)}{unit}"
    return f"rate limit {limit.count}/{seconds:g}s"


class Outbox:
    """Delivers due alerts for one process; remembers which notifiers are paused."""

    def __init__(
        self,
        store: Store,
        notifiers: dict[str, Notifier],
        client: httpx.AsyncClient,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.client = client
        self.clock = clock
        self.paused_until: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    async def deliver(self, ignore_schedule: bool = False) -> DeliveryReport:
        """Try every due alert once (with ``ignore_schedule``, every pending one, backoff and
        pauses notwithstanding; rate limits still apply)."""
        async with self._lock:  # two overlapping passes would send the same alert twice
            now = self.clock()
            report = DeliveryReport()
            await asyncio.gather(
                *(
                    self._drain(notifier, report, now, ignore_schedule)
                    for notifier in self.notifiers.values()
                )
            )
            return report

    def _room(self, config: NotifierConfig, now: datetime) -> int | None:
        limit = config.rate_limit
        if limit is None:
            return None
        used = self.store.messages_sent_since(config.name, now - limit.window)
        return max(0, limit.count - used)

    async def _drain(
        self, notifier: Notifier, report: DeliveryReport, now: datetime, ignore_schedule: bool
    ) -> None:
        """One notifier's queue, oldest first; each notifier has its own, so a backlog behind
        a broken channel never starves the others."""
        if not ignore_schedule and self.paused_until.get(notifier.name, now) > now:
            return
        due = FAR_FUTURE if ignore_schedule else now
        alerts = self.store.due_alerts(due, limit=QUEUE_BATCH, notifier=notifier.name)
        if not alerts:
            return
        plan = plan_messages(alerts, self._room(notifier.config, now))
        report.held += plan.held
        messages = plan.messages
        if plan.new_digest is not None and plan.new_digest.digest:
            self.store.assign_digest([a.id for a in plan.new_digest.alerts], plan.new_digest.digest)
            messages = [*messages, plan.new_digest]
        for position, message in enumerate(messages):
            if not await self._send(notifier, message, report, now):
                report.held += sum(len(m.alerts) for m in messages[position + 1 :])
                break
        if plan.held:
            log.info("%d alerts to %s wait for room under its rate limit", plan.held, notifier.name)

    def _payload(self, notifier: Notifier, message: Message) -> dict[str, object]:
        if message.digest is None:
            return message.alerts[0].payload
        limit = notifier.config.rate_limit
        reason = describe(limit) if limit else "digest"
        return build_digest(message.digest, [a.payload for a in message.alerts], reason)

    async def _send(
        self, notifier: Notifier, message: Message, report: DeliveryReport, now: datetime
    ) -> bool:
        """Send one message and record the outcome; False when the notifier should pause."""
        ids = [a.id for a in message.alerts]
        label = message.digest or ids[0]
        try:
            await notifier.send(self.client, self._payload(notifier, message))
        except PermanentDeliveryError as exc:
            self._mark_failed(ids, str(exc))
            report.failed += len(ids)
            log.error("alert %s to %s failed for good: %s", label, notifier.name, exc)
            return True
        except DeliveryError as exc:
            return self._retry_later(notifier, message, exc, report, now)
        except Exception as exc:  # a bug, or a payload this notifier cannot render: retrying
            # would only block the queue behind it, so it fails where the operator sees it
            error = redact(f"internal error: {type(exc).__name__}: {exc}", notifier.config)
            self._mark_failed(ids, error)
            report.failed += len(ids)
            log.exception("alert %s to %s failed: %s", label, notifier.name, error)
            return True
        with self.store.atomic():
            for alert_id in ids:
                self.store.mark_sent(alert_id)
        report.sent += len(ids)
        report.digests += message.digest is not None
        log.info("alert %s sent to %s", label, notifier.name)
        return True

    def _retry_later(
        self,
        notifier: Notifier,
        message: Message,
        exc: DeliveryError,
        report: DeliveryReport,
        now: datetime,
    ) -> bool:
        config = notifier.config
        ids = [a.id for a in message.alerts]
        attempts = max(a.attempts for a in message.alerts) + 1
        delay = backoff(
            attempts - 1,
            exc.retry_after,
            config.backoff.total_seconds(),
            config.backoff_cap.total_seconds(),
        )
        self.paused_until[notifier.name] = now + delay
        if attempts >= config.max_attempts:
            self._mark_failed(ids, f"gave up after {attempts} attempts: {exc}")
            report.failed += len(ids)
            log.error("alert to %s failed after %d attempts: %s", notifier.name, attempts, exc)
            return False
        with self.store.atomic():
            for alert_id in ids:
                self.store.mark_retry(alert_id, str(exc), now + delay)
        report.retrying += len(ids)
        log.warning(
            "alert to %s will be retried in %.0fs: %s", notifier.name, delay.total_seconds(), exc
        )
        return False

    def _mark_failed(self, ids: list[str], error: str) -> None:
        with self.store.atomic():
            for alert_id in ids:
                self.store.mark_failed(alert_id, error)


async def deliver_pending(
    store: Store,
    notifiers: dict[str, Notifier],
    client: httpx.AsyncClient,
    now: datetime | None = None,
) -> DeliveryReport:
    """One pass with a fresh outbox (no memory of pauses); ``now`` in the far future means
    every pending alert, due or not."""
    outbox = Outbox(store, notifiers, client)
    return await outbox.deliver(ignore_schedule=now is not None and now > utcnow())
