"""Each notifier's message: Slack escaping against hostile titles, webhook signatures, Apprise."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

import pytest
from alerting import couriers, webhook
from conftest import Request

from monitor.config import NotifierConfig
from monitor.notify.apprise import apprise_message
from monitor.notify.slack import slack_message
from monitor.notify.webhook import verify


@pytest.fixture
def courier_for(tmp_path):
    yield from couriers(tmp_path)


SECRET = "s3cret-for-tests"
HOSTILE_TITLES = [
    "<!channel> Prisoner exchange agreed",
    "@here @channel @everyone prisoner swap now",
    "Swap confirmed <@U024BE7LH> <@W123|boss> <!subteam^S123>",
    "<https://evil.example/login|Click to verify your bank account> prisoner swap",
    "&lt;!channel&gt; already-escaped ping <!here|here> and <!everyone>",
    "Swap *bold* _it_ `code` ~strike~ > quote & ampersand",
]


def notifier(kind: str, url: str, name: str = "chat", **extra: Any) -> NotifierConfig:
    return NotifierConfig.model_validate({"name": name, "type": kind, "url": url, **extra})


def strings(node: Any) -> list[str]:
    """Every string anywhere in a JSON document."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def assert_harmless(text: str, article_urls: set[str]) -> None:
    """No channel or user mention and no link but the story's own."""
    for inside in re.findall(r"<([^>]*)>", text):
        url = inside.split("|", 1)[0]
        assert url in article_urls, f"forged link or mention: <{inside}>"
    assert not re.search(r"@(channel|here|everyone)\b", text), text
    assert "<!" not in text and "<@" not in text


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_slack_message_escapes_hostile_titles(receiver, courier_for, title):
    courier = courier_for(notifier("slack", receiver.url("/slack")))
    courier.enqueue(1, title=title)

    courier.deliver()

    body = receiver.posts("/slack")[0].json()
    url = "https://news.example.org/world/story-1"
    for text in strings(body):
        assert_harmless(text, {url})
    link = body["blocks"][0]["text"]["text"]
    assert link.startswith(f"*<{url}|") and link.endswith(">*")
    visible = link[len(f"*<{url}|") : -2]
    assert visible.replace("\u200b", "") == (
        title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    )


def test_slack_digest_escapes_hostile_titles_too(receiver, courier_for):
    courier = courier_for(notifier("slack", receiver.url("/slack"), rate_limit="1/1h"))
    for number, title in enumerate(HOSTILE_TITLES):
        courier.enqueue(number, title=title)

    courier.deliver()

    (post,) = receiver.posts("/slack")
    body = post.json()
    urls = {f"https://news.example.org/world/story-{n}" for n in range(len(HOSTILE_TITLES))}
    for text in strings(body):
        assert_harmless(text, urls)
    assert f"{len(HOSTILE_TITLES)} more matching stories" in body["text"]


def test_slack_message_shows_title_link_source_time_topics_entities_and_why(receiver, courier_for):
    courier = courier_for(notifier("slack", receiver.url("/slack")))
    courier.enqueue(7)

    courier.deliver()

    body = receiver.posts("/slack")[0].json()
    text = "\n".join(strings(body))
    assert "<https://news.example.org/world/story-7|Prisoner exchange number 7" in text
    assert "*loopback-world*" in text
    assert "Prisoner swap" in text and "prisoner exchange" in text  # topic and why
    assert "Abu Dhabi" in text  # entities
    assert body["text"].startswith("[Prisoner swap] Prisoner exchange number 7")


def test_webhook_signatures_verify_and_stop_replays(receiver, courier_for):
    courier = courier_for(webhook(receiver.url("/hook"), secret=SECRET))
    courier.enqueue(1)

    courier.deliver()

    (post,) = receiver.posts("/hook")
    headers, body = post.headers, post.body
    plain = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Monitor-Signature"] == plain  # exactly as the SPEC says
    stamp = headers["X-Monitor-Timestamp"]
    signed = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Monitor-Signature-V2"] == f"t={stamp},sha256={signed}"
    v2, now = headers["X-Monitor-Signature-V2"], int(stamp)
    assert verify(SECRET, body, v2, now=now + 10)
    assert not verify(SECRET, body, v2, now=now + 3600)  # a replay an hour later
    assert not verify(SECRET, body.replace(b"Prisoner", b"Hostage"), v2, now=now)
    assert not verify("wrong secret", body, v2, now=now)


def test_webhook_without_a_secret_sends_no_signature(receiver, courier_for):
    courier = courier_for(webhook(receiver.url("/hook")))
    courier.enqueue(1)

    courier.deliver()

    headers = receiver.posts("/hook")[0].headers
    assert "X-Monitor-Signature" not in headers and "X-Monitor-Signature-V2" not in headers
    assert headers["Idempotency-Key"]


def apprise_url(receiver, path: str = "/apprise") -> str:
    return receiver.url(path).replace("http://", "json://")


def test_apprise_delivers_through_its_json_plugin(receiver, courier_for):
    courier = courier_for(notifier("apprise", apprise_url(receiver), name="team-apprise"))
    (alert,) = courier.enqueue(3, title="@everyone Prisoner exchange <@U1> completed")

    report = courier.deliver()

    assert report.sent == 1
    message = receiver.posts("/apprise")[0].json()
    assert "Prisoner exchange" in message["title"] and "[Prisoner swap]" in message["title"]
    assert "https://news.example.org/world/story-3" in message["message"]
    assert alert in message["message"]  # the receiver can still drop repeats by id
    assert not re.search(r"@(everyone|U1)", message["title"])
    assert courier.rows()[0]["status"] == "sent"


def test_apprise_failures_and_timeouts_retry_then_recover(receiver, courier_for):
    answers = iter(["error", "hang"])

    def flaky(request: Request):
        answer = next(answers, "ok")
        if answer == "hang":
            time.sleep(1.5)
        return (500, {}, b"down") if answer == "error" else (200, {}, b"ok")

    receiver.routes["/apprise"] = flaky
    courier = courier_for(notifier("apprise", apprise_url(receiver), timeout="0.3s"))
    courier.enqueue(1)

    for _ in range(3):
        courier.deliver()
        courier.clock.advance(3600)

    (row,) = courier.rows()
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len(receiver.posts("/apprise")) == 3


def test_apprise_digest_is_one_notification(receiver, courier_for):
    courier = courier_for(notifier("apprise", apprise_url(receiver), rate_limit="1/10m"))
    courier.enqueue(*range(8))

    courier.deliver()

    (post,) = receiver.posts("/apprise")
    message = post.json()
    assert "8 more matching stories" in message["title"]
    assert message["message"].count("https://news.example.org/world/story-") == 8
    assert all(r["status"] == "sent" and r["digest_id"] for r in courier.rows())


def test_every_payload_is_valid_json_for_receivers(receiver, courier_for):
    courier = courier_for(webhook(receiver.url("/hook")))
    courier.enqueue(1)

    courier.deliver()

    body = receiver.posts("/hook")[0].body
    assert json.loads(body)["event"] == "match"
    assert receiver.posts("/hook")[0].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.org/a|<!channel>",
        "https://news.example.org/b><@U024BE7LH",
        "javascript:alert(1)",
    ],
)
def test_slack_link_cannot_be_broken_out_of_by_the_story_url(url):
    payload = {
        "id": "x",
        "topics": ["prisoner_swap"],
        "article": {"url": url, "title": "Prisoner swap", "source": "wire", "summary": ""},
        "entities": [],
        "why": {"prisoner_swap": ["prisoner swap"]},
    }

    body = slack_message(payload)

    link = body["blocks"][0]["text"]["text"]
    assert "<!" not in link and "<@" not in link
    if url.startswith("javascript"):
        assert "<" not in link  # shown as text, never a link
    else:
        assert link.count("<") == 1 and link.count(">") == 1 and link.count("|") == 1


def test_apprise_message_defangs_mentions_in_text_and_url():
    payload = {
        "id": "a1",
        "topics": ["prisoner_swap"],
        "article": {
            "url": "https://news.example.org/@everyone/swap?by=@here",
            "title": "@everyone prisoner swap <@123456>",
            "source": "@here wire",
            "summary": "Ping @channel now",
        },
        "entities": [{"text": "@everyone", "type": "ORG"}],
        "why": {"prisoner_swap": ["prisoner swap"]},
    }

    title, body = apprise_message(payload)

    for text in (title, body):
        assert not re.search(r"@(everyone|here|channel|123456)", text), text
    assert "https://news.example.org/%40everyone/swap?by=%40here" in body


def test_a_story_update_says_what_is_new():
    payload = {
        "id": "u1",
        "event": "story_update",
        "topics": ["prisoner_swap", "diplomacy"],
        "article": {"url": "https://news.example.org/u", "title": "Swap", "source": "wire"},
        "entities": [],
        "why": {"diplomacy": ["talks"]},
        "story": {"reason": "new_topic", "topics": ["diplomacy"], "alert": "a0"},
    }

    slack = slack_message(payload)
    title, body = apprise_message(payload)

    assert slack["text"].startswith("Update: this story now also matches diplomacy")
    assert "now also matches diplomacy" in slack["blocks"][0]["elements"][0]["text"]
    assert body.startswith("Update: this story now also matches diplomacy")
