"""``monitor run``: APScheduler on one asyncio loop polls every source at its interval and
delivers alerts, until SIGTERM or SIGINT; then in-flight work finishes and the process exits 0."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config, FeedConfig
from monitor.service import Service
from monitor.store import utcnow

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = timedelta(seconds=5)
SHUTDOWN_GRACE = 10.0


class Daemon:
    """Schedules polling and delivery for one config on the running event loop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.service = Service(config)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[object]] = set()
        self._deliver_soon = asyncio.Event()

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

    def schedule(self) -> None:
        for feed in self.config.feeds:
            self._schedule_feed(feed)
        self.scheduler.add_job(
            self._tracked(self._deliver),
            IntervalTrigger(seconds=DELIVERY_INTERVAL.total_seconds()),
            id="deliver",
            next_run_time=utcnow(),
            max_instances=1,
            coalesce=True,
        )

    def _schedule_feed(self, feed: FeedConfig) -> None:
        interval = self.config.interval_of(feed).total_seconds()

        async def poll() -> None:
            report = await self.service.poll_feed(feed)
            if report and report.alerts:
                self._deliver_soon.set()

        self.scheduler.add_job(
            self._tracked(poll),
            IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 60)),
            id=f"feed:{feed.name}",
            next_run_time=utcnow(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval)),
        )

    async def _deliver(self) -> None:
        report = await self.service.deliver()
        if report.sent or report.failed or report.retrying:
            log.info(
                "delivery: %d sent, %d retrying, %d failed",
                report.sent,
                report.retrying,
                report.failed,
            )

    async def _deliver_on_demand(self) -> None:
        """Alerts go out as soon as a poll enqueues them, not at the next delivery tick."""
        while not self.stopping.is_set():
            await self._deliver_soon.wait()
            self._deliver_soon.clear()
            if not self.stopping.is_set():
                await self._tracked(self._deliver)()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        self.schedule()
        self.scheduler.start()
        log.info(
            "newsmonitor running: %d feeds, %d spiders, %d notifiers enabled",
            len(self.config.feeds),
            len(self.config.spiders),
            len(self.service.notifiers),
        )
        on_demand = asyncio.create_task(self._deliver_on_demand())
        await self.stopping.wait()
        self.scheduler.shutdown(wait=False)
        self._deliver_soon.set()
        await on_demand
        await self._finish_in_flight()
        await self.service.aclose()
        log.info("newsmonitor stopped")

    def _request_stop(self, sig: signal.Signals) -> None:
        log.info("received %s, stopping", sig.name)
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
