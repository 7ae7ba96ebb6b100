"""The shipped rules on stories an analyst would recognise: real swaps, talks, and look-alikes."""

from __future__ import annotations

import pytest

from monitor.classify import Classifier, default_rules
from monitor.classify.classifier import _folded


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(default_rules())


def topics(clf: Classifier, title: str, text: str) -> list[str]:
    return clf.classify(title, text).topics


SWAP = (
    "Russia and US swap prisoners in Abu Dhabi",
    "Russia freed an American teacher in exchange for a Russian national jailed in the United "
    "States, the Kremlin said. Foreign Minister Sergey Lavrov said the exchange followed months "
    "of talks mediated by the United Arab Emirates, and the State Department thanked the Emirati "
    "envoy for his diplomacy.",
)
POW_SWAP = (
    "Ukraine and Russia exchange prisoners of war",
    "Ukraine and Russia exchanged 95 prisoners of war on Friday, Ukraine's coordination "
    "headquarters said, the latest of dozens of swaps since the invasion.",
)
TALKS = (
    "Foreign ministers meet in Geneva for ceasefire talks",
    "The foreign ministers of Armenia and Azerbaijan met in Geneva for a new round of peace talks "
    "mediated by the OSCE, and their envoys agreed to continue the dialogue next month.",
)


def test_the_seed_story_matches_both_topics(clf, shared_dir):
    seed = (shared_dir / "seeds" / "000_21992df74e6d58a5.txt").read_text(encoding="utf-8")
    title, _, text = seed.partition("\n")

    result = clf.classify(title, text)

    assert set(result.topics) == {"prisoner_swap", "diplomacy"}
    assert "prisoner exchange" in result.why["prisoner_swap"]
    lavrov = [e for e in result.entities if e.id == "sergey-lavrov"]
    assert lavrov and lavrov[0].type == "PERSON" and "Foreign Minister" in (lavrov[0].role or "")


def test_a_state_prisoner_swap_with_talks_is_both_topics(clf):
    result = clf.classify(*SWAP)

    assert result.topics == ["prisoner_swap", "diplomacy"]
    assert all(0.0 <= s <= 1.0 for s in result.scores.values())
    assert {"RU", "US", "AE", "sergey-lavrov"} <= {e.id for e in result.entities}


def test_a_bare_pow_exchange_is_a_swap_but_not_diplomacy(clf):
    assert topics(clf, *POW_SWAP) == ["prisoner_swap"]


def test_talks_between_states_are_diplomacy(clf):
    assert topics(clf, *TALKS) == ["diplomacy"]


@pytest.mark.parametrize(
    ("title", "text"),
    [
        pytest.param(
            "Lakers trade veteran guard to Nets for draft picks",
            "The Lakers swapped their veteran guard in exchange for two second-round draft picks "
            "and a pick swap, the team's president said ahead of the NBA trade deadline. The "
            "guard was released by Boston last season.",
            id="sport trade",
        ),
        pytest.param(
            "Rupee slips against the dollar",
            "The Indian rupee fell 12 paise on the interbank foreign exchange market as the "
            "central bank extended its currency swap line with Japan; forex dealers said state-run "
            "banks were buying dollars.",
            id="currency exchange",
        ),
        pytest.param(
            "Crypto exchange hacked, withdrawals frozen",
            "A cryptocurrency exchange in Singapore said hackers stole $40 million from its hot "
            "wallets; the exchange released a statement promising users would be compensated in "
            "return for patience.",
            id="crypto exchange",
        ),
        pytest.param(
            "Stocks rally as investors cheer trade deal",
            "Shares on the Tokyo Stock Exchange rose after the US and Japan agreed a trade deal; "
            "investors swapped bonds for equities as the central bank held interest rates.",
            id="markets",
        ),
        pytest.param(
            "Review: a Cold War thriller about a spy swap",
            "Tom Hanks stars in this film as a lawyer sent to Berlin to negotiate the exchange of "
            "a captured Soviet spy for an American pilot. The director keeps the plot taut and "
            "the performances are superb.",
            id="film",
        ),
        pytest.param(
            "Season 3 finale: the prisoner exchange goes wrong",
            "In the episode, the rebels agree to trade their prisoner for the captured queen, but "
            "the plot twists when the character escapes. The series returns next year.",
            id="tv",
        ),
        pytest.param(
            "Inmate freed on parole after 20 years",
            "A California inmate was released on parole on Tuesday after a board found he posed "
            "no risk; prison officials said prisoners released early are supervised.",
            id="parole",
        ),
        pytest.param(
            "Police and suspect exchange fire",
            "A suspect was killed after an exchange of fire with police in Texas; officers "
            "exchanged gunfire with him after he took a hostage in a store.",
            id="exchange of fire",
        ),
    ],
)
def test_look_alikes_are_not_prisoner_swaps(clf, title, text):
    assert "prisoner_swap" not in topics(clf, title, text)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        pytest.param(
            "Union and Boeing resume contract talks",
            "Negotiations between the union and the company resumed; union members on strike "
            "rejected the contract because of pension terms, the union's president said.",
            id="labour talks",
        ),
        pytest.param(
            "Bank in advanced talks to acquire rival",
            "The bank is in advanced talks to acquire its rival in a deal worth $40 billion per "
            "share terms, and shareholders will vote on the merger, the board said.",
            id="corporate talks",
        ),
        pytest.param(
            "Rappers hold peace summit",
            "The two rappers ended their beef at a peace summit; fans of the album and the song "
            "cheered the truce.",
            id="hip-hop truce",
        ),
        pytest.param(
            "Climber reaches Everest summit for 30th time",
            "The Nepali climber reached the summit of Everest again; Nepal's government issued "
            "400 permits to foreign climbers for the expedition season.",
            id="mountaineering summit",
        ),
        pytest.param(
            "Parties agree coalition deal after lengthy talks",
            "The Social Democrats and the Greens agreed a coalition deal with the chancellor's "
            "party after weeks of exploratory talks; the foreign ministry goes to the Greens.",
            id="coalition talks",
        ),
        pytest.param(
            "Senate reaches budget deal after bipartisan talks",
            "Senate Democrats and Republicans reached a budget deal after talks at the White "
            "House, averting a government shutdown, lawmakers said.",
            id="legislature",
        ),
        pytest.param(
            "Microsoft Exchange servers hacked by state-backed group",
            "Hackers backed by a foreign government exploited a vulnerability in Microsoft "
            "Exchange; officials in Washington urged companies to patch, and talks with vendors "
            "continue.",
            id="software exchange",
        ),
        pytest.param(
            "Luxury house names new brand ambassador",
            "The fashion brand named the actress its global ambassador for a luxury campaign "
            "shot in Paris.",
            id="brand ambassador",
        ),
    ],
)
def test_look_alikes_are_not_diplomacy(clf, title, text):
    assert "diplomacy" not in topics(clf, title, text)


def test_a_swap_story_in_a_sports_section_still_counts(clf):
    title = "WNBA star freed in prisoner exchange with Russia"
    text = (
        "The basketball player was traded for a Russian arms dealer in a prisoner exchange, "
        "ending her detention in Russia, President Biden said; the NBA and WNBA had lobbied."
    )

    assert "prisoner_swap" in topics(clf, title, text)


def test_scoring_without_explanations_gives_the_same_verdicts(clf, shared_dir):
    """The parse workers score without collecting evidence for topics that do not match,
    and without weighing it for topics whose required context is missing; over every
    labelled article that must change nothing the log stores."""
    import json

    rows = [
        json.loads(line)
        for name in ("devset.jsonl", "devset-multilingual.jsonl")
        for line in (shared_dir / "data" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(rows) > 100
    no_context = 0
    for row in rows:
        title, text = row["title"], row.get("text") or row.get("summary") or ""
        full, brief = clf.classify(title, text), clf.classify(title, text, explain=False)
        assert (brief.topics, brief.scores, brief.why) == (full.topics, full.scores, full.why)
        assert brief.entities == full.entities
        for name, verdict in brief.verdicts.items():
            explained = full.verdicts[name]
            if not verdict.core_found:
                assert not explained.core_found
                continue
            assert verdict.context_found == explained.context_found
            if not verdict.context_found:  # settled by the missing context alone
                assert (verdict.score, verdict.signals) == (0.0, [])
                no_context += 1
                continue
            assert verdict.core_found == explained.core_found
            assert verdict.evidence_score == explained.evidence_score
            assert verdict.signals == explained.signals or not verdict.matched
    assert no_context > 10  # the shortcut is exercised


def _stored_verdict(clf: Classifier, title: str, text: str):
    """What ``classify`` without explanations leaves the log: the verdict of a match, without
    the per-topic verdicts; nothing for an article that matches no topic."""
    from dataclasses import replace

    result = clf.classify(title, text, explain=False)
    return replace(result, verdicts={}) if result.topics else None


def test_matching_settles_an_article_without_context_before_resolving_entities(clf, monkeypatch):
    """The parse workers' verdict: an article that names no state, party or person cannot
    meet either topic's required context, so it is settled without resolving its entities;
    one that does is judged in full, and both agree with ``classify``."""
    faceless = (
        "Officials discuss a prisoner exchange",
        "The minister said talks on a prisoner exchange and a ceasefire would go on, and the "
        "envoy met the delegation again for the negotiations.",
    )
    stories = [SWAP, POW_SWAP, TALKS, faceless]
    expected = [_stored_verdict(clf, title, text) for title, text in stories]
    assert [bool(e) for e in expected] == [True, True, True, False]

    recognizer = clf._compiled[0]
    resolved: list[str] = []
    real = recognizer.resolve
    monkeypatch.setattr(
        recognizer, "resolve", lambda norm, c: resolved.append(norm) or real(norm, c)
    )
    verdicts = [clf.matching(title, text) for title, text in stories]
    assert verdicts[:3] == expected[:3]
    assert (verdicts[3].topics, verdicts[3].scores, verdicts[3].entities) == ([], {}, [])
    assert len(resolved) == 3  # every story but the faceless one


def test_matching_agrees_with_classify_over_the_labelled_articles(clf, shared_dir):
    """Over every labelled article, the shortcut changes nothing the log stores, and it is
    taken (it fails if an article with context were settled, or if none ever were)."""
    import json

    rows = [
        json.loads(line)
        for name in ("devset.jsonl", "devset-multilingual.jsonl")
        for line in (shared_dir / "data" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    _, index, topics = clf._compiled
    settled = 0
    for row in rows:
        title, text = row["title"], row.get("text") or row.get("summary") or ""
        verdict, stored = clf.matching(title, text), _stored_verdict(clf, title, text)
        if stored is None:
            assert (verdict.topics, verdict.scores, verdict.entities) == ([], {}, [])
        else:
            assert verdict == stored
        hits, candidates = index.find(_folded(title, text)[0])
        settled += not any(topic.may_match(hits, candidates) for topic in topics.values())
    assert settled > 20
