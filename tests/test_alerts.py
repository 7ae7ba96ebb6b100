"""The outbox against loopback receivers that fail in every way a real one does, then recover."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from alerting import couriers, webhook
from conftest import LoopbackServer, Request

from monitor.config import NotifierConfig
from monitor.models import Article
from monitor.notify.outbox import backoff
from monitor.store import utcnow


@pytest.fixture
def courier_for(tmp_path):
    yield from couriers(tmp_path)


OK = (200, {}, b"ok")


def replies(*answers: tuple[int, dict[str, str], bytes]):
    """A route that gives these answers in turn, then 200 for ever."""
    queue = list(answers)
    return lambda request: queue.pop(0) if queue else OK


def seconds_until(row: dict, now: datetime) -> float:
    return (datetime.fromisoformat(row["next_attempt_at"]) - now).total_seconds()


def test_alert_is_committed_before_it_is_sent_and_marked_sent_after_2xx(
    tmp_path, receiver, courier_for
):
    seen_in_db: list[tuple[str, int]] = []

    def look_at_the_database(request: Request):
        db = sqlite3.connect(tmp_path / "monitor.db")  # another connection, as after a crash
        seen_in_db.extend(db.execute("SELECT status, attempts FROM alerts").fetchall())
        db.close()
        return OK

    receiver.routes["/hook"] = look_at_the_database
    courier = courier_for(webhook(receiver.url("/hook")))
    courier.enqueue(1)

    report = courier.deliver()

    assert seen_in_db == [("pending", 0)]
    assert report.sent == 1
    (row,) = courier.rows()
    assert row["status"] == "sent" and row["sent_at"] and row["attempts"] == 1


def test_every_retry_carries_the_same_id_in_header_and_body(receiver, courier_for):
    receiver.routes["/hook"] = replies((500, {}, b"boom"), (502, {}, b"bad gateway"))
    courier = courier_for(webhook(receiver.url("/hook")))
    (expected,) = courier.enqueue(1)

    for _ in range(3):
        courier.deliver()
        courier.clock.advance(3600)

    posts = receiver.posts("/hook")
    assert len(posts) == 3
    assert {p.headers["Idempotency-Key"] for p in posts} == {expected}
    assert {p.json()["id"] for p in posts} == {expected}
    assert courier.rows()[0]["status"] == "sent"


def test_server_errors_back_off_exponentially_then_recover(receiver, courier_for):
    receiver.routes["/hook"] = replies(*[(500, {}, b"down")] * 4)
    courier = courier_for(webhook(receiver.url("/hook"), backoff="10s", backoff_cap="1h"))
    courier.enqueue(1)

    delays = []
    for _ in range(4):
        courier.deliver()
        (row,) = courier.rows()
        delays.append(seconds_until(row, courier.clock.now))
        courier.clock.advance(delays[-1] + 1)
    courier.deliver()

    for attempt, delay in enumerate(delays):  # jitter keeps each in [50 %, 100 %] of its step
        step = 10 * 2**attempt
        assert step / 2 - 1 <= delay <= step + 1, (attempt, delays)
    (row,) = courier.rows()
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 5, None)


def test_backoff_is_capped_and_jittered():
    delays = {backoff(30, first=15, cap=600).total_seconds() for _ in range(50)}

    assert all(300 <= d <= 600 for d in delays)
    assert len(delays) > 1  # jitter spreads retries from many alerts apart


@pytest.mark.parametrize(
    "status, retry_after",
    [(429, "120"), (503, "HTTP-DATE")],
    ids=["429-seconds", "503-http-date"],
)
def test_retry_after_is_honoured(receiver, courier_for, status, retry_after):
    if retry_after == "HTTP-DATE":
        retry_after = format_datetime(utcnow() + timedelta(seconds=125), usegmt=True)
    receiver.routes["/hook"] = replies((status, {"Retry-After": retry_after}, b"slow down"))
    courier = courier_for(webhook(receiver.url("/hook"), backoff="1s"))
    courier.enqueue(1, 2)

    first = courier.deliver()
    courier.clock.advance(60)
    second = courier.deliver(), len(receiver.posts())
    courier.clock.advance(70)
    third = courier.deliver()

    assert first.retrying == 1 and first.held == 1  # the queue stops behind a refusal
    assert seconds_until(courier.rows()[0], courier.clock.now - timedelta(seconds=130)) >= 118
    assert second[0].sent == 0 and second[1] == 1  # a minute later nothing is tried
    assert third.sent == 2
    assert [r["status"] for r in courier.rows()] == ["sent", "sent"]


def test_timeouts_are_retried_and_recorded(receiver, courier_for):
    def hang(request: Request):
        time.sleep(1.5)
        return OK

    receiver.routes["/hook"] = hang
    courier = courier_for(webhook(receiver.url("/hook"), timeout="0.2s"))
    courier.enqueue(1)

    report = courier.deliver()

    (row,) = courier.rows()
    assert report.retrying == 1
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "timed out" in row["last_error"]

    receiver.routes["/hook"] = OK
    courier.clock.advance(3600)
    assert courier.deliver().sent == 1


def test_gone_410_fails_at_once_and_the_queue_moves_on(receiver, courier_for):
    receiver.routes["/hook"] = replies((410, {}, b"this hook was deleted"))
    courier = courier_for(webhook(receiver.url("/hook")))
    courier.enqueue(1, 2)

    report = courier.deliver()

    first, second = courier.rows()
    assert (first["status"], first["attempts"]) == ("failed", 1)
    assert "410" in first["last_error"] and "deleted" in first["last_error"]
    assert second["status"] == "sent"
    assert (report.failed, report.sent) == (1, 1)


def test_408_and_5xx_retry_but_other_4xx_do_not(receiver, courier_for):
    receiver.routes["/hook"] = replies((408, {}, b""), (400, {}, b"bad request"))
    courier = courier_for(webhook(receiver.url("/hook")))
    courier.enqueue(1)

    courier.deliver()
    assert courier.rows()[0]["status"] == "pending"
    courier.clock.advance(3600)
    courier.deliver()

    assert courier.rows()[0]["status"] == "failed"
    assert "HTTP 400" in courier.rows()[0]["last_error"]


def test_attempt_limit_marks_the_alert_failed_with_its_last_error(receiver, courier_for):
    receiver.routes["/hook"] = (503, {}, b"maintenance")
    courier = courier_for(webhook(receiver.url("/hook"), max_attempts=3))
    courier.enqueue(1)

    for _ in range(5):
        courier.deliver()
        courier.clock.advance(3600)

    (row,) = courier.rows()
    assert len(receiver.posts()) == 3
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"].startswith("gave up after 3 attempts: HTTP 503")


def test_a_failing_receiver_does_not_hold_up_another(receiver, courier_for):
    receiver.routes["/down"] = (500, {}, b"down")
    courier = courier_for(
        webhook(receiver.url("/down"), name="broken"), webhook(receiver.url("/up"), name="fine")
    )
    courier.enqueue(1, 2, 3)

    courier.deliver()

    statuses = {(r["notifier"], r["status"]) for r in courier.rows()}
    assert statuses == {("broken", "pending"), ("fine", "sent")}
    assert len(receiver.posts("/up")) == 3 and len(receiver.posts("/down")) == 1


def test_secret_url_never_reaches_the_database(courier_for):
    dead = LoopbackServer()
    url = dead.url("/hook/T000/B000/secret-token")
    dead.close()
    courier = courier_for(webhook(url))
    courier.enqueue(1)

    courier.deliver()

    (row,) = courier.rows()
    assert row["status"] == "pending" and row["last_error"]
    assert "secret-token" not in row["last_error"]


def test_an_alert_that_cannot_be_rendered_fails_visibly_and_the_queue_moves_on(
    receiver, courier_for
):
    courier = courier_for(NotifierConfig(name="chat", type="slack", url=receiver.url("/slack")))
    article_id = courier.store.insert_article(
        Article(url="https://x.example/1", title="t", source="s")
    )
    assert article_id is not None
    courier.store.enqueue_alert("broken", "chat", article_id, ["prisoner_swap"], {"id": "broken"})
    courier.enqueue(2)

    report = courier.deliver()

    broken, good = courier.rows()
    assert broken["status"] == "failed" and "internal error: KeyError" in broken["last_error"]
    assert good["status"] == "sent" and (report.failed, report.sent) == (1, 1)
