"""Prometheus metrics: what the service did (counters) and what the log holds now (gauges).

Counters are updated where work happens (``record_pass``); gauges and the delivery-latency
histogram are refreshed by the daemon from the database, so they stay true across restarts and
whatever code path sent an alert. The endpoint is served only when the config has ``metrics:``:
until ``serve_metrics`` starts it nothing can read them, so prometheus_client is not even
imported (a ``poll --once`` saves its import, and 500 feeds' worth of label look-ups) and every
``record_*`` is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.models import IngestReport

log = logging.getLogger(__name__)

ALERT_STATUSES = ("pending", "sent", "failed")


class Metrics:
    """The process's collectors, registered with prometheus_client's default registry."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        by_source = ["kind", "source"]
        self.fetches = Counter(
            "newsmonitor_fetches",
            "Polls and crawls of a source, by outcome",
            [*by_source, "outcome"],
        )
        self.fetch_errors = Counter("newsmonitor_fetch_errors", "Failed polls or crawls", by_source)
        self.entries = Counter("newsmonitor_entries_seen", "Entries seen in sources", ["source"])
        self.articles = Counter("newsmonitor_articles_stored", "New articles stored", ["source"])
        self.matches = Counter(
            "newsmonitor_articles_matched", "New articles that matched a topic", ["source"]
        )
        self.alerts_queued = Counter(
            "newsmonitor_alerts_queued", "Alerts put in the outbox", ["source"]
        )
        self.last_pass = Gauge(
            "newsmonitor_last_pass_timestamp_seconds", "When a source was last polled", by_source
        )
        self.deliveries = Counter(
            "newsmonitor_alert_deliveries", "Delivery attempts of alerts, by outcome", ["outcome"]
        )
        self.alerts = Gauge("newsmonitor_alerts", "Alerts in the outbox, by status", ["status"])
        self.sources_failing = Gauge(
            "newsmonitor_sources_failing", "Sources whose last poll failed"
        )
        self.delivery_latency = Histogram(
            "newsmonitor_delivery_latency_seconds",
            "From an alert entering the outbox to its receiver accepting it",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600),
        )


# Created by serve_metrics, once per process (a registry refuses a second set of names).
_metrics: Metrics | None = None


def record_pass(kind: str, source: str, report: IngestReport | None) -> None:
    """Count one poll or crawl of a source; ``None`` means it failed."""
    metrics = _metrics
    if metrics is None:
        return
    outcome = "error" if report is None else "ok"
    metrics.fetches.labels(kind, source, outcome).inc()
    metrics.last_pass.labels(kind, source).set_to_current_time()
    if report is None:
        metrics.fetch_errors.labels(kind, source).inc()
        return
    metrics.entries.labels(source).inc(report.seen)
    metrics.articles.labels(source).inc(report.new)
    metrics.matches.labels(source).inc(report.matched)
    metrics.alerts_queued.labels(source).inc(report.alerts)


def record_delivery(sent: int, retrying: int, failed: int) -> None:
    """Count one delivery pass's attempts: sent, to be retried, failed for good."""
    if _metrics is None:
        return
    for outcome, count in (("sent", sent), ("retrying", retrying), ("failed", failed)):
        _metrics.deliveries.labels(outcome).inc(count)


def record_outbox(alert_counts: Mapping[str, int], failing_sources: int) -> None:
    """Refresh the gauges from the database's current counts."""
    if _metrics is None:
        return
    for status in {*ALERT_STATUSES, *alert_counts}:
        _metrics.alerts.labels(status).set(alert_counts.get(status, 0))
    _metrics.sources_failing.set(failing_sources)


def record_latencies(seconds: Iterable[float]) -> None:
    if _metrics is None:
        return
    for value in seconds:
        _metrics.delivery_latency.observe(max(0.0, value))


def serve_metrics(host: str, port: int) -> None:
    """Serve ``/metrics`` from a background thread for the life of the process; from now on
    the ``record_*`` functions count."""
    global _metrics
    from prometheus_client import start_http_server

    if _metrics is None:
        _metrics = Metrics()
    start_http_server(port, addr=host)
    log.info("metrics on http://%s:%d/metrics", host, port)
