"""``monitor run``: APScheduler on one asyncio loop polls every source at its interval, delivers
alerts and keeps house, until SIGTERM or SIGINT; then in-flight work finishes and it exits 0.

Signals: SIGHUP re-reads the config file and applies it in place (``Daemon.apply``: sources
added, removed or changed are (re)scheduled, rules and notifiers swapped); a config that does
not validate is logged and the running one kept. Under systemd the daemon speaks sd_notify:
READY=1 once the scheduler runs, STATUS= summaries, WATCHDOG=1 while healthy, STOPPING=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config, FeedConfig, SpiderConfig, load_config
from monitor.errors import ConfigError
from monitor.housekeeping import run_housekeeping
from monitor.logging import event_fields
from monitor.metrics import record_delivery, record_latencies, record_outbox, serve_metrics
from monitor.models import IngestReport
from monitor.schedule import policy_for
from monitor.service import Service
from monitor.store import utcnow
from monitor.systemd import SystemdNotifier

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = timedelta(seconds=5)
SHUTDOWN_GRACE = 10.0
HEARTBEAT_INTERVAL = 10.0
HOUSEKEEPING_FIRST_DELAY = timedelta(minutes=10)

# How to list one kind of scheduled source in a config, and how to schedule one of them.
SourceKind = tuple[Callable[[Config], Sequence[Any]], Callable[[Any], None]]


class Daemon:
    """Schedules polling, delivery and housekeeping for one config on the running event loop."""

    def __init__(self, config: Config, systemd: SystemdNotifier | None = None) -> None:
        self.config = config
        self.service = Service(config)
        self.systemd = systemd or SystemdNotifier()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.stopping = asyncio.Event()
        self.started_at = utcnow()
        self.totals = IngestReport()
        self.passes = 0
        self.failed_passes = 0
        self._in_flight: set[asyncio.Task[object]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._deliver_soon = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._latency_cursor: tuple[str | None, set[str]] = (None, set())

    def _tracked(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Wrap a job so shutdown can wait for it, and so one failure never kills the loop."""

        async def run() -> None:
            if self.stopping.is_set():
                return
            task = asyncio.current_task()
            assert task is not None
            self._in_flight.add(task)
            try:
                await job()
            except Exception:
                log.exception("scheduled job failed")
            finally:
                self._in_flight.discard(task)

        return run

    # -- scheduling -------------------------------------------------------------------------

    def _source_kinds(self) -> dict[str, SourceKind]:
        """Every kind of scheduled source; its jobs are named ``kind:name``."""
        return {
            "feed": (lambda config: config.feeds, self._schedule_feed),
            "spider": (lambda config: config.spiders, self._schedule_spider),
        }

    def schedule(self) -> None:
        for sources, schedule_one in self._source_kinds().values():
            for source in sources(self.config):
                schedule_one(source)
        self.scheduler.add_job(
            self._tracked(self._deliver),
            IntervalTrigger(seconds=DELIVERY_INTERVAL.total_seconds()),
            id="deliver",
            next_run_time=utcnow(),
            max_instances=1,
            coalesce=True,
        )
        self._schedule_housekeeping()

    def _schedule_feed(self, feed: FeedConfig) -> None:
        """One job per feed that runs when the feed is due and then books its own next run
        from ``sources.next_poll`` (adaptive interval, hints, backoff; see monitor.schedule)."""

        async def poll() -> None:
            try:
                report = await self.service.poll_feed(feed)
                self._count_pass(report)
                if report and report.alerts:
                    self._deliver_soon.set()
            finally:
                # Never sooner than min_interval: a poll that failed to record its own next
                # time (a bug, a locked database) must not turn into a busy loop.
                soonest = utcnow() + policy_for(self.config, feed).min_interval
                self._book_feed(feed, poll, max(self.service.next_poll(feed) or soonest, soonest))

        self._book_feed(feed, poll, max(utcnow(), self.service.next_poll(feed) or utcnow()))

    def _book_feed(
        self, feed: FeedConfig, poll: Callable[[], Awaitable[None]], when: datetime
    ) -> None:
        job_id = f"feed:{feed.name}"
        # A reload may have removed or changed this feed, or booked its job anew meanwhile:
        # then this (old) job does not book itself again.
        if self.stopping.is_set() or feed not in self.config.feeds:
            return
        if self.scheduler.get_job(job_id) is not None:
            return
        self.scheduler.add_job(
            self._tracked(poll),
            DateTrigger(run_date=when),
            id=job_id,
            misfire_grace_time=None,
        )

    def _schedule_spider(self, spider: SpiderConfig) -> None:
        """Each crawl runs in a child process; one at a time per spider (max_instances=1)."""
        interval = self.config.interval_of(spider).total_seconds()

        async def crawl() -> None:
            report = await self.service.crawl_spider(spider)
            self._count_pass(report)
            if report and report.alerts:
                self._deliver_soon.set()

        self.scheduler.add_job(
            self._tracked(crawl),
            IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 60)),
            id=f"spider:{spider.name}",
            next_run_time=utcnow(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval)),
        )

    def _schedule_housekeeping(self) -> None:
        every = self.config.retention.every
        self.scheduler.add_job(
            self._tracked(self._housekeeping),
            IntervalTrigger(seconds=every.total_seconds()),
            id="housekeeping",
            next_run_time=utcnow() + min(every, HOUSEKEEPING_FIRST_DELAY),
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )

    # -- reload -----------------------------------------------------------------------------

    def apply(self, new: Config) -> None:
        """Make the running daemon follow ``new``: swap rules and notifiers, diff every source
        kind by name and (re)schedule through the same functions start-up uses."""
        old = self.config
        for key in ("database", "user_agent", "concurrency", "metrics", "fetch"):
            if getattr(old, key) != getattr(new, key):
                log.warning("reload: %s changed; that takes effect after a restart", key)
        self.service.reconfigure(new)
        self.config = new
        changes: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for kind, (sources, schedule_one) in self._source_kinds().items():
            before = {s.name: (s, old.interval_of(s)) for s in sources(old)}
            after = {s.name: (s, new.interval_of(s)) for s in sources(new)}
            for name in before.keys() - after.keys():
                self._remove_job(f"{kind}:{name}")
                changes["removed"].append(f"{kind}:{name}")
            for name, (source, interval) in after.items():
                if name in before and before[name] == (source, interval):
                    continue
                changes["changed" if name in before else "added"].append(f"{kind}:{name}")
                self._remove_job(f"{kind}:{name}")
                schedule_one(source)
        if old.retention != new.retention:
            self._schedule_housekeeping()
        log.info(
            "reloaded %s: %s; %d notifiers enabled",
            new.path,
            ", ".join(f"{len(v)} {k}" for k, v in changes.items()),
            len(self.service.notifiers),
            extra=event_fields("reload", **changes),
        )

    def _remove_job(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(job_id)

    async def reload(self) -> None:
        """Re-read the config file; keep the running config when the new one is invalid."""
        async with self._reload_lock:
            self.systemd.reloading()
            try:
                new = await asyncio.to_thread(load_config, self.config.path)
                self.apply(new)
            except ConfigError as exc:
                log.error(
                    "reload rejected, the running config stays in force:\n%s",
                    exc,
                    extra=event_fields("reload", rejected=True),
                )
            except Exception:
                log.exception("reload failed, the running config stays in force")
            self.systemd.ready(self.status_line())

    def _request_reload(self) -> None:
        log.info("received SIGHUP, reloading %s", self.config.path)
        self._spawn(self.reload())

    # -- jobs -------------------------------------------------------------------------------

    def _count_pass(self, report: IngestReport | None) -> None:
        self.passes += 1
        if report is None:
            self.failed_passes += 1
        else:
            self.totals += report

    async def _deliver(self) -> None:
        report = await self.service.deliver()
        if report.sent or report.failed or report.retrying:
            log.info(
                "delivery: %d sent, %d retrying, %d failed",
                report.sent,
                report.retrying,
                report.failed,
                extra=event_fields("delivery", **vars(report)),
            )
        if report.sent:
            self._observe_latencies()
        if report.sent or report.failed or report.retrying:
            # The gauges last: a scrape that sees an alert counted as sent sees its delivery
            # and latency counted too (the endpoint serves from another thread).
            record_delivery(report.sent, report.retrying, report.failed)
            self._refresh_gauges()

    def _refresh_gauges(self) -> None:
        store = self.service.store
        failing = sum(1 for r in store.source_rows() if r["consecutive_failures"])
        record_outbox(store.alert_counts(), failing)

    def _observe_latencies(self) -> None:
        """Feed newly sent alerts' enqueue-to-sent times into the latency histogram, once each."""
        cursor, seen_at_cursor = self._latency_cursor
        if cursor is None:
            cursor = self.started_at.isoformat(timespec="seconds")
        rows = [
            r for r in self.service.store.delivery_latencies(cursor) if r[0] not in seen_at_cursor
        ]
        if not rows:
            return
        record_latencies(seconds for _, _, seconds in rows)
        newest = rows[-1][1]
        same = {alert for alert, sent, _ in rows if sent == newest}
        self._latency_cursor = (newest, same | (seen_at_cursor if newest == cursor else set()))

    async def _housekeeping(self) -> None:
        await run_housekeeping(self.service.store, self.config.retention)

    async def _deliver_on_demand(self) -> None:
        """Alerts go out as soon as a poll enqueues them, not at the next delivery tick."""
        while not self.stopping.is_set():
            await self._deliver_soon.wait()
            self._deliver_soon.clear()
            if not self.stopping.is_set():
                await self._tracked(self._deliver)()

    # -- health: status, heartbeat, watchdog ------------------------------------------------

    def status_line(self) -> str:
        """One line for ``systemctl status`` (STATUS=) and the heartbeat row."""
        alerts = self.service.store.alert_counts()
        return (
            f"{len(self.config.feeds)} feeds, {len(self.config.spiders)} spiders,"
            f" {len(self.service.notifiers)} notifiers; since start {self.passes} passes"
            f" ({self.failed_passes} failed), {self.totals.new} new articles,"
            f" {self.totals.matched} matched; alerts {alerts.get('sent', 0)} sent,"
            f" {alerts.get('pending', 0)} pending, {alerts.get('failed', 0)} failed"
        )

    def _healthy(self) -> bool:
        """The loop runs (we are on it), the scheduler runs, and the database answers."""
        try:
            return (
                self.scheduler.running and not self.stopping.is_set() and self.service.store.ping()
            )
        except Exception:
            log.exception("health check failed")
            return False

    async def _heartbeat(self) -> None:
        """Every few seconds: STATUS=, the heartbeat row and the database-backed gauges."""
        while not self.stopping.is_set():
            try:
                status = self.status_line()
                self.systemd.status(status)
                store = self.service.store
                store.record_heartbeat(os.getpid(), self.started_at, str(self.config.path), status)
                self._refresh_gauges()
            except Exception:
                log.exception("heartbeat failed")
            await self._sleep(HEARTBEAT_INTERVAL)

    async def _watchdog(self, interval: float) -> None:
        """WATCHDOG=1 every half watchdog period, only while healthy: if the loop blocks or the
        database stops answering, the pings stop and systemd restarts the service."""
        while not self.stopping.is_set():
            if self._healthy():
                self.systemd.watchdog()
            else:
                log.error("unhealthy: withholding the watchdog ping")
            await self._sleep(interval)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when a stop is requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _start_metrics(self) -> None:
        metrics = self.config.metrics
        if metrics is None:
            return
        try:
            serve_metrics(metrics.host, metrics.port)
        except OSError as exc:
            log.error("metrics endpoint on %s:%d unavailable: %s", metrics.host, metrics.port, exc)

    # -- life cycle -------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        self._start_metrics()
        self.schedule()
        self.scheduler.start()
        log.info(
            "newsmonitor running: %d feeds, %d spiders, %d notifiers enabled",
            len(self.config.feeds),
            len(self.config.spiders),
            len(self.service.notifiers),
        )
        self.systemd.ready(self.status_line())
        on_demand = asyncio.create_task(self._deliver_on_demand())
        self._spawn(self._heartbeat())
        if self.systemd.watchdog_interval:
            self._spawn(self._watchdog(self.systemd.watchdog_interval))
        await self.stopping.wait()
        # Pause first: shutting the scheduler down would cancel the jobs still running.
        self.scheduler.pause()
        self._deliver_soon.set()
        await on_demand
        await self._finish_in_flight()
        self.scheduler.shutdown(wait=False)
        if self._background:
            await asyncio.wait(self._background, timeout=SHUTDOWN_GRACE)
        self.service.store.record_stopped()
        await self.service.aclose()
        self.systemd.close()
        log.info("newsmonitor stopped")

    def _request_stop(self, sig: signal.Signals) -> None:
        log.info("received %s, stopping", sig.name)
        self.systemd.stopping(f"stopping on {sig.name}")
        self.stopping.set()

    async def _finish_in_flight(self) -> None:
        pending = [t for t in self._in_flight if t is not asyncio.current_task()]
        if not pending:
            return
        done, still = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=2)
            log.warning("cancelled %d jobs that did not finish in time", len(still))


def run_daemon(config: Config) -> None:
    """Run until a stop signal arrives."""

    async def main() -> None:
        await Daemon(config).run()

    asyncio.run(main())
