"""Housekeeping the daemon schedules (``retention:`` in the config): keep the log lean for years.

Matches, their articles and every alert are kept forever. Articles that matched nothing keep
their row (URL, title, summary: what makes a story "seen", so it is never ingested twice) but
lose their full text once older than ``retention.unmatched_text``. Then the full-text index is
optimised. Work is done in small transactions so the daemon's polls are never held up for long.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from monitor.config import RetentionConfig
from monitor.logging import event_fields
from monitor.store import Store, utcnow

log = logging.getLogger(__name__)

PRUNE_BATCH = 500


@dataclass
class HousekeepingReport:
    """What one housekeeping run did."""

    pruned: int = 0
    optimized: bool = False


async def run_housekeeping(store: Store, retention: RetentionConfig) -> HousekeepingReport:
    """Prune old unmatched text in batches (yielding to the loop between them), then optimise."""
    report = HousekeepingReport()
    if retention.unmatched_text is not None:
        cutoff = utcnow() - retention.unmatched_text
        while (pruned := store.prune_unmatched_text(cutoff, PRUNE_BATCH)) > 0:
            report.pruned += pruned
            await asyncio.sleep(0)
    if retention.optimize_fts:
        store.optimize_fts()
        report.optimized = True
    log.info(
        "housekeeping: pruned the text of %d unmatched articles%s",
        report.pruned,
        ", full-text index optimised" if report.optimized else "",
        extra=event_fields("housekeeping", pruned=report.pruned, optimized=report.optimized),
    )
    return report
