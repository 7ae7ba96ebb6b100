"""``monitor status``: is the service up, is it keeping up, and what has it found (from the log)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.store import Store, utcnow

RECENT = timedelta(hours=24)
# The daemon writes a heartbeat every 10 s; three missed ones mean it is gone.
HEARTBEAT_STALE = timedelta(seconds=30)


def service_status(database: Path, config: Config) -> dict[str, Any]:
    """The summary as plain data (what ``--format json`` prints)."""
    store = Store(database)
    try:
        summary = store.status_summary(since=utcnow() - RECENT)
    finally:
        store.close()
    summary["database"] = str(database)
    summary["database_bytes"] = database.stat().st_size
    summary["running"] = _is_running(summary["daemon"])
    summary["configured"] = {
        "feeds": len(config.feeds),
        "spiders": len(config.spiders),
        "notifiers": len(config.enabled_notifiers),
    }
    return summary


def _is_running(daemon: dict[str, Any] | None) -> bool:
    if not daemon or daemon.get("stopped_at") or not daemon.get("heartbeat_at"):
        return False
    return utcnow() - datetime.fromisoformat(daemon["heartbeat_at"]) < HEARTBEAT_STALE


def render_status(s: dict[str, Any]) -> str:
    """The summary for a person, one topic per line."""
    alerts = s["alerts"]
    recent = ", ".join(f"{t} {n}" for t, n in sorted(s["matches_since"].items())) or "none"
    pending = f"{alerts.get('pending', 0)} pending"
    if s["oldest_pending_alert"]:
        pending += f" (oldest {_ago(s['oldest_pending_alert'])})"
    lines = [
        f"database   {s['database']} ({s['database_bytes'] / 1e6:.1f} MB)",
        f"daemon     {_daemon_line(s['daemon'], s['running'])}",
        f"sources    {s['sources']} ({s['sources_failing']} failing), last poll"
        f" {_ago(s['last_poll']) if s['last_poll'] else 'never'}",
        f"articles   {s['articles']:,} ({s['articles_since']:,} in the last 24h)",
        f"matches    {s['matches']:,} (last 24h: {recent})",
        f"alerts     {alerts.get('sent', 0)} sent, {pending}, {alerts.get('failed', 0)} failed",
    ]
    for source in s["failing"]:
        lines.append(
            f"  failing  {source['name']}: {source['consecutive_failures']} in a row,"
            f" last success {_ago(source['last_success']) if source['last_success'] else 'never'}:"
            f" {source['last_error']}"
        )
    return "\n".join(lines)


def _daemon_line(daemon: dict[str, Any] | None, running: bool) -> str:
    if not daemon:
        return "has never run on this database"
    if not running:
        when = daemon.get("stopped_at") or daemon.get("heartbeat_at")
        how = "stopped" if daemon.get("stopped_at") else "not running (no heartbeat)"
        return f"{how} {_ago(when)}; last status: {daemon.get('status') or '-'}"
    return (
        f"running, pid {daemon['pid']}, up {_ago(daemon['started_at'], suffix='')}\n"
        f"           {daemon['status']}"
    )


def _ago(timestamp: str | None, suffix: str = " ago") -> str:
    if not timestamp:
        return "never"
    seconds = max(0, int((utcnow() - datetime.fromisoformat(timestamp)).total_seconds()))
    for unit, size, sub, sub_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if seconds >= size:
            return f"{seconds // size}{unit} {seconds % size // sub_size}{sub}{suffix}"
    return f"{seconds}s{suffix}"
