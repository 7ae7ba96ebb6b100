"""Turn term hits and entity mentions into one topic's score and explanation (pure)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.classify.entities import Mention
from monitor.classify.matcher import Span, TermIndex
from monitor.classify.rules import Exclusion, Requirement, Signal, TopicRules
from monitor.models import Evidence, TopicVerdict

Hits = dict[int, list[Span]]
# Words are at most this many characters apart per word of distance: a cheap pre-check that
# skips counting spaces for pairs that are obviously too far apart.
_MAX_CHARS_PER_WORD = 40


@dataclass(frozen=True)
class Document:
    """An article prepared once for all topics: folded text, term hits, entity mentions."""

    folded: str
    hits: Hits
    mentions: list[Mention]


def _spans(doc: Document, term_ids: frozenset[int], ignored: list[Span]) -> list[Span]:
    """Distinct occurrences of any of the terms, minus those inside ignored phrases."""
    hits = doc.hits
    spans = {span for term_id in term_ids & hits.keys() for span in hits[term_id]}
    if ignored:
        spans = {s for s in spans if not any(s[0] < e and b < s[1] for b, e in ignored)}
    return sorted(spans)


def _distance(folded: str, a: Span, b: Span) -> int:
    """Words from one span to the other (0 when they overlap, 1 when adjacent)."""
    first, second = (a, b) if a[0] <= b[0] else (b, a)
    if second[0] < first[1]:
        return 0
    return folded.count(" ", first[1], second[0])


@dataclass(frozen=True)
class CompiledSignal:
    """A signal with its terms resolved to ids in the shared TermIndex."""

    rule: Signal
    terms: frozenset[int]
    partners: frozenset[int]

    def observe(self, doc: Document, ignored: list[Span]) -> tuple[int, list[str]]:
        """How many times the signal's evidence occurs, and the matched text."""
        if self.rule.entities is not None:
            return self._entities(doc)
        spans = _spans(doc, self.terms, ignored)
        if self.rule.near is None:
            return len(spans), [doc.folded[s:e] for s, e in spans]
        return self._near(doc, spans, _spans(doc, self.partners, ignored))

    def _near(
        self, doc: Document, spans: list[Span], partners: list[Span]
    ) -> tuple[int, list[str]]:
        """Occurrences with a partner term close by; stops once ``repeat`` are found."""
        within, found = self.rule.within, []
        reach = (within + 1) * _MAX_CHARS_PER_WORD
        starts = [p[0] for p in partners]
        for span in spans:
            lo, hi = bisect_left(starts, span[0] - reach), bisect_right(starts, span[0] + reach)
            for other in partners[lo:hi]:
                if other != span and _distance(doc.folded, span, other) <= within:
                    first, second = sorted((span, other))
                    found.append(f"{doc.folded[slice(*first)]} ~ {doc.folded[slice(*second)]}")
                    break
            if len(found) >= self.rule.repeat:
                break
        return len(found), found

    def _entities(self, doc: Document) -> tuple[int, list[str]]:
        wanted = set(self.rule.entities or ())
        names: dict[str, str] = {}
        for m in doc.mentions:
            if m.info.type in wanted:
                names.setdefault(m.info.country or m.info.id, m.text)
        count = len(names) - self.rule.distinct + 1
        return (count, list(names.values())) if count > 0 else (0, [])

    def weigh(self, doc: Document, ignored: list[Span]) -> Evidence | None:
        """The evidence this signal gives, or None when it does not fire."""
        count, matched = self.observe(doc, ignored)
        if count <= 0:
            return None
        added = 1 - (1 - self.rule.weight) ** min(count, self.rule.repeat)
        return Evidence(self.rule.label, _unique(matched), round(added, 4))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class CompiledExclusion:
    """An exclusion with its terms resolved to ids."""

    rule: Exclusion
    terms: list[int]

    def weigh(self, doc: Document) -> Evidence | None:
        present = [t for t in self.terms if doc.hits.get(t)]
        if len(present) < self.rule.min:
            return None
        matched = [doc.folded[slice(*doc.hits[t][0])] for t in present]
        return Evidence(self.rule.name, _unique(matched), self.rule.penalty)


@dataclass(frozen=True)
class CompiledRequirement:
    """Required context with its terms resolved to ids."""

    rule: Requirement
    terms: list[int]

    def met(self, doc: Document) -> bool:
        wanted = set(self.rule.entities)
        count = sum(1 for m in doc.mentions if m.info.type in wanted)
        count += sum(len(doc.hits.get(t, ())) for t in self.terms)
        return count >= self.rule.min


class CompiledTopic:
    """One topic's rules, compiled against a shared TermIndex."""

    def __init__(self, rules: TopicRules, index: TermIndex) -> None:
        self.rules = rules
        self.signals = [
            CompiledSignal(
                s,
                frozenset(index.add_all(s.any or s.near or [])),
                frozenset(index.add_all(s.to or [])),
            )
            for s in rules.signals
        ]
        self.exclusions = [CompiledExclusion(x, index.add_all(x.any)) for x in rules.exclude]
        self.requirement = (
            CompiledRequirement(rules.require, index.add_all(rules.require.any))
            if rules.require
            else None
        )
        self.ignore = index.add_all(rules.ignore)

    def judge(self, doc: Document) -> TopicVerdict:
        """Score the document against this topic and say why."""
        ignored = sorted(span for t in self.ignore for span in doc.hits.get(t, ()))
        evidence = [e for s in self.signals if (e := s.weigh(doc, ignored))]
        exclusions = [e for x in self.exclusions if (e := x.weigh(doc))]
        context = self.requirement is None or self.requirement.met(doc)
        raw = _noisy_or(e.weight for e in evidence)
        score = raw
        for exclusion in exclusions:
            score *= 1 - exclusion.weight
        score = round(score if context else 0.0, 4)
        return TopicVerdict(
            score=score,
            threshold=self.rules.threshold,
            matched=score >= self.rules.threshold,
            signals=evidence,
            exclusions=exclusions,
            context_found=context,
            evidence_score=round(raw, 4),
        )


def _noisy_or(weights: Iterable[float]) -> float:
    """Combine independent pieces of evidence: 1 - Π(1 - w)."""
    missing = 1.0
    for weight in weights:
        missing *= 1 - weight
    return 1 - missing
