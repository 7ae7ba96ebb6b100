"""Prometheus metrics: what the service did (counters) and what the log holds now (gauges).

Counters are updated where work happens (``record_pass``); gauges and the delivery-latency
histogram are refreshed by the daemon from the database, so they stay true across restarts and
whatever code path sent an alert. The endpoint is served only when the config has ``metrics:``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from monitor.pipeline import IngestReport

log = logging.getLogger(__name__)

FETCHES = Counter(
    "newsmonitor_fetches", "Polls and crawls of a source, by outcome", ["kind", "source", "outcome"]
)
FETCH_ERRORS = Counter("newsmonitor_fetch_errors", "Failed polls or crawls", ["kind", "source"])
ENTRIES = Counter("newsmonitor_entries_seen", "Entries seen in sources", ["source"])
ARTICLES = Counter("newsmonitor_articles_stored", "New articles stored", ["source"])
MATCHES = Counter("newsmonitor_articles_matched", "New articles that matched a topic", ["source"])
ALERTS_QUEUED = Counter("newsmonitor_alerts_queued", "Alerts put in the outbox", ["source"])
LAST_PASS = Gauge(
    "newsmonitor_last_pass_timestamp_seconds", "When a source was last polled", ["kind", "source"]
)
DELIVERIES = Counter(
    "newsmonitor_alert_deliveries", "Delivery attempts of alerts, by outcome", ["outcome"]
)
ALERTS = Gauge("newsmonitor_alerts", "Alerts in the outbox, by status", ["status"])
SOURCES_FAILING = Gauge("newsmonitor_sources_failing", "Sources whose last poll failed")
DELIVERY_LATENCY = Histogram(
    "newsmonitor_delivery_latency_seconds",
    "From an alert entering the outbox to its receiver accepting it",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
ALERT_STATUSES = ("pending", "sent", "failed")


def record_pass(kind: str, source: str, report: IngestReport | None) -> None:
    """Count one poll or crawl of a source; ``None`` means it failed."""
    outcome = "error" if report is None else "ok"
    FETCHES.labels(kind, source, outcome).inc()
    LAST_PASS.labels(kind, source).set_to_current_time()
    if report is None:
        FETCH_ERRORS.labels(kind, source).inc()
        return
    ENTRIES.labels(source).inc(report.seen)
    ARTICLES.labels(source).inc(report.new)
    MATCHES.labels(source).inc(report.matched)
    ALERTS_QUEUED.labels(source).inc(report.alerts)


def record_delivery(sent: int, retrying: int, failed: int) -> None:
    """Count one delivery pass's attempts: sent, to be retried, failed for good."""
    for outcome, count in (("sent", sent), ("retrying", retrying), ("failed", failed)):
        DELIVERIES.labels(outcome).inc(count)


def record_outbox(alert_counts: Mapping[str, int], failing_sources: int) -> None:
    """Refresh the gauges from the database's current counts."""
    for status in {*ALERT_STATUSES, *alert_counts}:
        ALERTS.labels(status).set(alert_counts.get(status, 0))
    SOURCES_FAILING.set(failing_sources)


def record_latencies(seconds: Iterable[float]) -> None:
    for value in seconds:
        DELIVERY_LATENCY.observe(max(0.0, value))


def serve_metrics(host: str, port: int) -> None:
    """Serve ``/metrics`` from a background thread for the life of the process."""
    start_http_server(port, addr=host)
    log.info("metrics on http://%s:%d/metrics", host, port)
