"""No floods: a per-notifier rate limit, with the overflow sent as one digest, nothing dropped."""

from __future__ import annotations

import pytest
from alerting import couriers, webhook
from conftest import Request

from monitor.notify.outbox import plan_messages
from monitor.store import AlertRow


@pytest.fixture
def courier_for(tmp_path):
    yield from couriers(tmp_path)


OK = (200, {}, b"ok")


def test_a_burst_over_the_rate_limit_goes_out_as_one_digest(receiver, courier_for):
    courier = courier_for(webhook(receiver.url("/hook"), rate_limit="3/10m"))
    ids = courier.enqueue(*range(50))  # a summit: fifty stories at once

    report = courier.deliver()

    posts = [p.json() for p in receiver.posts("/hook")]
    assert [p["event"] for p in posts] == ["match", "match", "digest"]
    digest = posts[2]
    assert digest["count"] == 48 and len(digest["alerts"]) == 48
    assert digest["reason"] == "rate limit 3/10m"
    assert [a["id"] for a in digest["alerts"]] == ids[2:]  # each alert keeps its own id
    assert receiver.posts("/hook")[2].headers["Idempotency-Key"] == digest["id"]
    rows = courier.rows()
    assert all(r["status"] == "sent" for r in rows)  # nothing dropped
    assert {r["digest_id"] for r in rows[2:]} == {digest["id"]}
    assert (report.sent, report.digests) == (50, 1)


def test_alerts_beyond_a_full_window_wait_and_then_go_out(receiver, courier_for):
    courier = courier_for(webhook(receiver.url("/hook"), rate_limit="3/10m"))
    courier.enqueue(*range(10))
    courier.deliver()

    courier.clock.advance(120)
    courier.enqueue(*range(10, 15))
    waiting = courier.deliver()

    assert waiting.sent == 0 and waiting.held == 5
    assert len(receiver.posts()) == 3
    assert [r["status"] for r in courier.rows()[10:]] == ["pending"] * 5

    courier.clock.advance(9 * 60)  # the first window has passed
    later = courier.deliver()

    events = [p.json()["event"] for p in receiver.posts()[3:]]
    assert events == ["match", "match", "digest"]
    assert later.sent == 5
    assert all(r["status"] == "sent" for r in courier.rows())


def test_a_failed_digest_is_sent_again_with_the_same_id_and_members(receiver, courier_for):
    refused = []

    def refuse_first_digest(request: Request):
        if request.json()["event"] == "digest" and not refused:
            refused.append(request.json()["id"])
            return (503, {}, b"busy")
        return OK

    receiver.routes["/hook"] = refuse_first_digest
    courier = courier_for(webhook(receiver.url("/hook"), rate_limit="2/10m"))
    courier.enqueue(*range(6))
    courier.deliver()
    courier.enqueue(6)  # arrives while the digest waits to be retried
    courier.clock.advance(300)

    courier.deliver()

    digests = [p.json() for p in receiver.posts() if p.json()["event"] == "digest"]
    assert len(digests) == 2
    assert digests[0]["id"] == digests[1]["id"] == refused[0]
    assert digests[0]["alerts"] == digests[1]["alerts"]
    rows = courier.rows()
    assert [r["status"] for r in rows] == ["sent"] * 6 + ["pending"]  # the newcomer waits its turn


def test_without_a_rate_limit_every_alert_is_its_own_message(receiver, courier_for):
    courier = courier_for(webhook(receiver.url("/hook")))
    courier.enqueue(*range(12))

    courier.deliver()

    assert [p.json()["event"] for p in receiver.posts()] == ["match"] * 12


def _alerts(count: int, digest: str | None = None) -> list[AlertRow]:
    return [AlertRow(f"a{i}", "ops", i, {}, "pending", 0, None, digest) for i in range(count)]


@pytest.mark.parametrize(
    "due, room, singles, digest_size",
    [(5, None, 5, 0), (5, 5, 5, 0), (6, 5, 4, 2), (5, 1, 0, 5), (1, 1, 1, 0), (5, 0, 0, 0)],
)
def test_plan_fits_due_alerts_into_the_room_left(due, room, singles, digest_size):
    plan = plan_messages(_alerts(due), room)

    assert len(plan.messages) == singles
    assert len(plan.new_digest.alerts if plan.new_digest else []) == digest_size
    assert plan.held == due - singles - digest_size
