"""``Classifier``: rules compiled into one automaton, and the shipped rules (see the package)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property, lru_cache
from importlib import resources

from monitor import safe_yaml
from monitor.classify.entities import (
    Candidate,
    EntityRecognizer,
    default_recognizer,
    unique_entities,
)
from monitor.classify.matcher import TermIndex
from monitor.classify.rules import TopicRules
from monitor.classify.scoring import CompiledTopic, Document, Hits
from monitor.classify.text import normalize
from monitor.models import Classification


class Classifier:
    """Decides which topics an article belongs to, with scores, entities and reasons."""

    def __init__(
        self, topics: Mapping[str, TopicRules], recognizer: EntityRecognizer | None = None
    ) -> None:
        self._rules = dict(topics)
        self._given_recognizer = recognizer

    @cached_property
    def _compiled(self) -> tuple[EntityRecognizer, TermIndex, dict[str, CompiledTopic]]:
        """The recognizer, automaton and compiled topics, built on first use: a pass in which
        nothing changed (most of them) never pays for them."""
        recognizer = self._given_recognizer or default_recognizer()
        index = TermIndex(recognizer.table)
        topics = {name: CompiledTopic(rules, index) for name, rules in self._rules.items()}
        index.build()
        return recognizer, index, topics

    def compile(self) -> Classifier:
        """Build everything now (to find a problem in the rules before they are used)."""
        _ = self._compiled
        return self

    @property
    def topic_names(self) -> list[str]:
        return list(self._rules)

    def matching(self, title: str, text: str) -> Classification:
        """The verdict as the log stores it: for an article that matches, what ``classify``
        gives without explanations and without the per-topic verdicts; for one that does
        not, no topics and nothing else. An article that no topic can match whatever its
        entities turn out to be (most: no core term, or no candidate for the required
        context) is settled before its entities are resolved."""
        folded, norm = _folded(title, text)
        recognizer, index, topics = self._compiled
        hits, candidates = index.find(folded)
        if not any(topic.may_match(hits, candidates) for topic in topics.values()):
            return _NO_MATCH
        result = self._judged(title, norm, folded, hits, candidates, explain=False)
        return replace(result, verdicts={}) if result.topics else _NO_MATCH

    def classify(self, title: str, text: str, explain: bool = True) -> Classification:
        """Score every topic for one article; pure and deterministic.

        The article is normalised and lower-cased once, read once by the shared automaton
        (rule terms and entity names), and then each topic is scored from those hits. Without
        ``explain`` the verdicts of topics that do not match hold no evidence (the scores,
        topics, entities and reasons for the matching topics are the same)."""
        folded, norm = _folded(title, text)
        hits, candidates = self._compiled[1].find(folded)
        return self._judged(title, norm, folded, hits, candidates, explain)

    def _judged(
        self,
        title: str,
        norm: str,
        folded: str,
        hits: Hits,
        candidates: list[Candidate],
        explain: bool,
    ) -> Classification:
        recognizer, _, topics = self._compiled
        mentions = recognizer.resolve(norm, candidates)
        doc = Document(folded, hits, mentions, len(normalize(title)))
        verdicts = {name: topic.judge(doc, explain) for name, topic in topics.items()}
        return Classification(
            topics=[name for name, v in verdicts.items() if v.matched],
            scores={name: v.score for name, v in verdicts.items()},
            entities=unique_entities(mentions),
            why={
                name: [term for e in v.signals for term in e.terms]
                for name, v in verdicts.items()
                if v.matched
            },
            verdicts=verdicts,
        )


_NO_MATCH = Classification(topics=[], scores={})


def _folded(title: str, text: str) -> tuple[str, str]:
    """An article's normalised text (title, a separator, body) and its lower-cased form."""
    norm = normalize(f"{title}\n|\n{text}" if title else text)
    folded = norm.lower()
    if len(folded) != len(norm):  # rare scripts whose lower case changes length
        folded = "".join(c.lower()[0] for c in norm)
    return folded, norm


@lru_cache(maxsize=1)
def default_rules() -> dict[str, TopicRules]:
    """The shipped topic rules (``monitor/data/default_rules.yaml``, mirrored in config.yaml)."""
    raw = safe_yaml.load(
        resources.files("monitor.data").joinpath("default_rules.yaml").read_text(encoding="utf-8")
    )
    return {name: TopicRules.model_validate(block) for name, block in raw["topics"].items()}
