"""``monitor run`` as a real process: it polls, alerts once, and exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest
from conftest import rss, start_daemon, write_config
from stories import SPORTS, SWAP


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_daemon_polls_alerts_once_and_stops_cleanly(tmp_path, server, receiver, stop):
    server.routes["/world.xml"] = rss([SWAP, SPORTS])
    config = write_config(
        tmp_path,
        f"""
defaults: {{interval: 1s}}
feeds: [{{name: loopback, url: "{server.url("/world.xml")}"}}]
notifiers: [{{name: ops, type: webhook, url: "{receiver.url("/hook")}"}}]
""",
    )
    daemon = start_daemon(config)
    try:
        hooks = receiver.wait_for_posts(1, "/hook", timeout=30)
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and len([r for r in server.requests if r.path == "/world.xml"]) < 3
        ):
            time.sleep(0.1)
    finally:
        daemon.send_signal(stop)
        _, stderr = daemon.communicate(timeout=20)

    assert daemon.returncode == 0, stderr
    assert len([r for r in server.requests if r.path == "/world.xml"]) >= 3  # polled repeatedly
    assert len(hooks) == 1 and len(receiver.posts("/hook")) == 1  # and alerted once
    assert "stopped" in stderr
    db = sqlite3.connect(tmp_path / "monitor.db")
    assert db.execute("SELECT status FROM alerts").fetchall() == [("sent",)]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
