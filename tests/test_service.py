"""``monitor run`` as systemd runs it: sd_notify over a real socket, SIGHUP reload, SIGTERM,
structured logs and the Prometheus endpoint, all against a real daemon process."""

from __future__ import annotations

import asyncio
import json
import pickle
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    REPO,
    LoopbackServer,
    free_port,
    rss,
    run_monitor,
    start_daemon,
    write_config,
)
from stories import SPORTS, SWAP

from monitor.models import Article


class NotifySocket:
    """A Unix datagram socket standing in for systemd's, recording every message it gets."""

    def __init__(self) -> None:
        # sockaddr_un paths are limited to 107 bytes, so not under pytest's long tmp_path.
        self.dir = tempfile.TemporaryDirectory(prefix="nm-")
        self.path = str(Path(self.dir.name) / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append(fields)

    def with_key(self, key: str) -> list[dict[str, str]]:
        return [m for m in list(self.messages) if key in m]

    def wait_for(self, key: str, count: int = 1, timeout: float = 30) -> list[dict[str, str]]:
        wait_until(lambda: len(self.with_key(key)) >= count, timeout)
        return self.with_key(key)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        self.dir.cleanup()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    listener = NotifySocket()
    yield listener
    listener.close()


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def stop(daemon: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> str:
    if daemon.poll() is None:
        daemon.send_signal(sig)
    try:
        _, stderr = daemon.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        daemon.kill()
        _, stderr = daemon.communicate()
    return stderr


def polls(server: LoopbackServer, path: str) -> int:
    return len([r for r in server.requests if r.path == path])


def feed_config(tmp_path: Path, feeds: dict[str, str], extra: str = "") -> Path:
    listed = ", ".join(f'{{name: {name}, url: "{url}"}}' for name, url in feeds.items())
    return write_config(tmp_path, f"defaults: {{interval: 1s}}\nfeeds: [{listed}]\n{extra}")


def test_daemon_tells_systemd_ready_watchdog_status_and_stopping(tmp_path, server, notify_socket):
    server.routes["/world.xml"] = rss([SPORTS])
    config = feed_config(tmp_path, {"world": server.url("/world.xml")})
    daemon = start_daemon(config, NOTIFY_SOCKET=notify_socket.path, WATCHDOG_USEC="1000000")
    try:
        ready = notify_socket.wait_for("READY")
        watchdogs = notify_socket.wait_for("WATCHDOG", count=3)
        status = run_monitor("status", "--format", "json", "--config", str(config))
    finally:
        stderr = stop(daemon)

    assert daemon.returncode == 0 and "Traceback" not in stderr, stderr
    assert ready[0]["READY"] == "1" and "feeds" in ready[0]["STATUS"]
    assert all(m["WATCHDOG"] == "1" for m in watchdogs)
    first_ready = notify_socket.messages.index(ready[0])
    assert first_ready < notify_socket.messages.index(watchdogs[0])  # READY comes first
    stopping = notify_socket.with_key("STOPPING")
    assert stopping and stopping[0]["STOPPING"] == "1"
    assert "SIGTERM" in stopping[0]["STATUS"]
    assert not notify_socket.with_key("WATCHDOG")[-1:] or notify_socket.messages.index(
        stopping[0]
    ) > notify_socket.messages.index(watchdogs[0])
    summary = json.loads(status.stdout)
    assert summary["running"] is True and summary["daemon"]["pid"] == daemon.pid


def test_sighup_applies_added_and_removed_feeds_and_notifiers(
    tmp_path, server, receiver, notify_socket
):
    server.routes["/old.xml"] = rss([SPORTS])
    server.routes["/new.xml"] = rss([SWAP])
    config = feed_config(tmp_path, {"old": server.url("/old.xml")})
    daemon = start_daemon(config, NOTIFY_SOCKET=notify_socket.path)
    try:
        notify_socket.wait_for("READY")
        assert wait_until(lambda: polls(server, "/old.xml") >= 1)
        feed_config(
            tmp_path,
            {"new": server.url("/new.xml")},
            f'notifiers: [{{name: ops, type: webhook, url: "{receiver.url("/hook")}"}}]',
        )
        daemon.send_signal(signal.SIGHUP)
        notify_socket.wait_for("RELOADING")
        notify_socket.wait_for("READY", count=2)
        hooks = receiver.wait_for_posts(1, "/hook")
        old_polls = polls(server, "/old.xml")
        time.sleep(2.5)  # more than two intervals of the removed feed
        old_polls_later = polls(server, "/old.xml")
    finally:
        stderr = stop(daemon)

    assert daemon.returncode == 0 and "Traceback" not in stderr, stderr
    assert polls(server, "/new.xml") >= 1  # the added feed is polled
    assert len(hooks) == 1 and hooks[0].json()["article"]["source"] == "new"  # the added notifier
    assert old_polls_later == old_polls  # the removed feed is no longer polled
    assert "reloaded" in stderr and "1 added, 1 removed" in stderr


def test_invalid_config_on_sighup_is_rejected_and_the_old_one_keeps_running(
    tmp_path, server, notify_socket
):
    server.routes["/world.xml"] = rss([SPORTS])
    config = feed_config(tmp_path, {"world": server.url("/world.xml")})
    daemon = start_daemon(config, NOTIFY_SOCKET=notify_socket.path)
    try:
        notify_socket.wait_for("READY")
        config.write_text("feeds: [{name: Bad Name, url: nowhere}]\n")
        daemon.send_signal(signal.SIGHUP)
        notify_socket.wait_for("READY", count=2)
        before = polls(server, "/world.xml")
        still_polling = wait_until(lambda: polls(server, "/world.xml") >= before + 2)
    finally:
        stderr = stop(daemon)

    assert daemon.returncode == 0 and "Traceback" not in stderr, stderr
    assert "reload rejected" in stderr and "feeds[0:Bad Name].name" in stderr
    assert still_polling  # the running config stayed in force


def test_json_logs_give_one_line_per_poll_with_counts(tmp_path, server):
    server.routes["/world.xml"] = rss([SWAP, SPORTS])
    server.routes["/broken.xml"] = (503, {}, b"down")
    config = feed_config(
        tmp_path, {"world": server.url("/world.xml"), "broken": server.url("/broken.xml")}
    )
    result = run_monitor("poll", "--once", "--log-format", "json", "--config", str(config))

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    passes = {line["source"]: line for line in lines if line.get("event") == "poll"}
    assert set(passes) == {"world", "broken"}
    world = passes["world"]
    assert (world["entries"], world["new"], world["matched"], world["level"]) == (2, 2, 1, "info")
    assert passes["broken"]["level"] == "warning" and "503" in passes["broken"]["error"]


def test_prometheus_endpoint_counts_fetches_articles_matches_and_alerts(
    tmp_path, server, receiver, notify_socket
):
    server.routes["/world.xml"] = rss([SWAP, SPORTS])
    port = free_port()
    config = feed_config(
        tmp_path,
        {"world": server.url("/world.xml")},
        f'notifiers: [{{name: ops, type: webhook, url: "{receiver.url("/hook")}"}}]\n'
        f"metrics: {{port: {port}}}",
    )
    daemon = start_daemon(config, NOTIFY_SOCKET=notify_socket.path)
    try:
        notify_socket.wait_for("READY")
        receiver.wait_for_posts(1, "/hook")
        metrics = ""

        def scraped() -> bool:
            nonlocal metrics
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                metrics = r.read().decode()
            return 'newsmonitor_alerts{status="sent"} 1.0' in metrics

        sent_seen = wait_until(scraped)
    finally:
        stderr = stop(daemon)

    assert daemon.returncode == 0 and "Traceback" not in stderr, stderr
    assert sent_seen, metrics
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("newsmonitor_")
    }
    assert values['newsmonitor_fetches_total{kind="feed",outcome="ok",source="world"}'] >= 1
    assert values['newsmonitor_articles_stored_total{source="world"}'] == 2
    assert values['newsmonitor_articles_matched_total{source="world"}'] == 1
    assert values['newsmonitor_alerts{status="pending"}'] == 0
    assert values["newsmonitor_delivery_latency_seconds_count"] == 1
    assert values['newsmonitor_alert_deliveries_total{outcome="sent"}'] == 1


def test_sigterm_finishes_the_poll_in_flight_then_exits_0(tmp_path, server, notify_socket):
    arrived = threading.Event()

    def slow_feed(request):
        arrived.set()
        time.sleep(1.5)
        return (200, {"Content-Type": "application/rss+xml"}, rss([SWAP]))

    server.routes["/slow.xml"] = slow_feed
    config = feed_config(tmp_path, {"slow": server.url("/slow.xml")})
    daemon = start_daemon(config, NOTIFY_SOCKET=notify_socket.path)
    try:
        assert arrived.wait(30)
        daemon.send_signal(signal.SIGTERM)  # while the feed is still answering
        daemon.wait(timeout=15)
    finally:
        stderr = stop(daemon)

    assert daemon.returncode == 0 and "Traceback" not in stderr, stderr
    assert "feed slow: 1 entries, 1 new, 1 matched" in stderr  # the poll was finished, not cut
    assert notify_socket.with_key("STOPPING")


def test_watchdog_pings_stop_while_the_database_does_not_answer(tmp_path, caplog):
    from monitor.config import load_config
    from monitor.daemon import Daemon
    from monitor.systemd import SystemdNotifier

    config = load_config(write_config(tmp_path, "feeds: []"))
    with tempfile.TemporaryDirectory(prefix="nm-") as folder:
        path = str(Path(folder) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)

        def drained() -> list[str]:
            got = []
            while True:
                try:
                    got.append(sock.recv(4096).decode())
                except BlockingIOError:
                    return got

        def withheld() -> int:
            return sum("withholding" in r.getMessage() for r in caplog.records)

        async def scenario() -> tuple[list[str], list[str]]:
            systemd = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
            daemon = Daemon(config, systemd)
            daemon.scheduler.start(paused=True)
            watchdog = asyncio.create_task(daemon._watchdog(0.05))
            while len(healthy := drained()) < 1:
                await asyncio.sleep(0.05)
            daemon.service.store.close()  # the database stops answering
            while withheld() < 2:
                await asyncio.sleep(0.05)
            unhealthy = drained()
            daemon.stopping.set()
            await watchdog
            daemon.scheduler.shutdown(wait=False)
            await daemon.service.client.aclose()
            return healthy, unhealthy

        healthy, unhealthy = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
        sock.close()

    assert healthy and all(m == "WATCHDOG=1" for m in healthy)
    assert [m for m in unhealthy if "WATCHDOG" in m] == []  # withheld: systemd would restart us


def test_apply_swaps_rules_and_notifiers_and_diffs_jobs(tmp_path):
    """What SIGHUP does once the new config has validated, observed from inside the daemon."""
    import yaml

    from monitor.config import load_config
    from monitor.daemon import Daemon

    old = load_config(
        feed_config(tmp_path, {"a": "http://127.0.0.1:9/a", "b": "http://127.0.0.1:9/b"})
    )
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())["topics"]
    (tmp_path / "new.yaml").write_text(
        yaml.safe_dump(
            {
                "database": str(tmp_path / "monitor.db"),
                "defaults": {"interval": "1s"},
                "feeds": [
                    {"name": "b", "url": "http://127.0.0.1:9/b2"},
                    {"name": "c", "url": "http://127.0.0.1:9/c"},
                ],
                "spiders": [
                    {"name": "site", "spider": "news_sitemap", "url": "http://127.0.0.1:9/s.xml"}
                ],
                "topics": {"prisoner_swap": shipped["prisoner_swap"]},
                "notifiers": [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
            }
        )
    )
    new = load_config(tmp_path / "new.yaml")

    async def scenario() -> tuple[set[str], list[str], list[str], list[str], list[str]]:
        daemon = Daemon(old)
        daemon.schedule()
        daemon.scheduler.start(paused=True)
        daemon.apply(new)
        jobs = {job.id for job in daemon.scheduler.get_jobs()}
        verdict = daemon.service.pipeline.classifier.classify(SWAP["title"], SWAP["description"])
        # What the parse workers classify with: the recipe they are sent with each document.
        analyzer = daemon.service.feeds.analyzer
        assert analyzer is not None
        worker = pickle.loads(pickle.dumps(analyzer)).classify(
            Article(
                url="https://x.example/a",
                title=SWAP["title"],
                source="b",
                summary=SWAP["description"],
            )
        )
        notifiers = [n.name for n in daemon.service.pipeline.notifiers]
        outbox = list(daemon.service.outbox.notifiers)
        daemon.scheduler.shutdown(wait=False)
        await daemon.service.aclose()
        return jobs, verdict.topics, worker.topics, notifiers, outbox

    jobs, topics, worker_topics, notifiers, outbox = asyncio.run(scenario())

    assert {j for j in jobs if j.startswith("feed:")} == {"feed:b", "feed:c"}  # a removed, c added
    assert "spider:site" in jobs  # a spider added by the reload is scheduled too
    assert topics == ["prisoner_swap"]  # the new rules classify, not the old ones
    assert worker_topics == ["prisoner_swap"]  # in the parse workers too
    assert notifiers == ["ops"] and outbox == ["ops"]  # new alerts go to the new notifier
