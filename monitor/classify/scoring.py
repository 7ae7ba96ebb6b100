"""Turn term hits and entity mentions into one topic's score and explanation (pure)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from monitor.classify.entities import Candidate, Mention
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
    title_end: int = 0  # the title is folded[:title_end]
    # entity type -> distinct entity (country for places and people, else id) -> first text
    distinct: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        distinct: dict[str, dict[str, str]] = {}
        for m in self.mentions:
            distinct.setdefault(m.info.type, {}).setdefault(m.info.country or m.info.id, m.text)
        object.__setattr__(self, "distinct", distinct)

    def count(self, types: Iterable[str]) -> int:
        """Mentions of entities of these types."""
        wanted = set(types)
        return sum(1 for m in self.mentions if m.info.type in wanted)


def _spans(doc: Document, term_ids: frozenset[int], ignored: set[int]) -> list[Span]:
    """Distinct occurrences of any of the terms, minus those that begin or end inside an
    ignored phrase (``ignored`` holds the character positions those phrases cover)."""
    hits = doc.hits
    spans = {span for term_id in term_ids & hits.keys() for span in hits[term_id]}
    if ignored:
        spans = {s for s in spans if s[0] not in ignored and s[1] - 1 not in ignored}
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
    # weight_of(n) for every n up to ``repeat`` (more occurrences weigh no more)
    _weights: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weight, repeat = self.rule.weight, self.rule.repeat
        table = tuple(round(1 - (1 - weight) ** n, 4) for n in range(repeat + 1))
        object.__setattr__(self, "_weights", table)

    def observe(self, doc: Document, ignored: set[int]) -> tuple[int, list[str]]:
        """How many times the signal's evidence occurs, and the matched text."""
        if self.rule.entities is not None:
            return self._entities(doc)
        folded = doc.folded
        if self.rule.near is None:
            firsts = self._firsts(doc, ignored)
            return self._any_count(doc, firsts), [folded[s:e] for s, e in firsts]
        pairs = self._pairs(doc, ignored)
        return len(pairs), [f"{folded[slice(*a)]} ~ {folded[slice(*b)]}" for a, b in pairs]

    def count(self, doc: Document, ignored: set[int]) -> int:
        """What ``observe`` counts, without the matched text (scoring an article that will
        not match needs no explanation)."""
        rule = self.rule
        if rule.entities is not None:
            return self._entities(doc)[0]
        if rule.near is not None:
            return len(self._pairs(doc, ignored))
        if ignored:
            return self._any_count(doc, self._firsts(doc, ignored))
        # _any_count(_firsts(...)) without sorting: distinct first occurrences, and whether
        # the earliest of them is in the headline.
        hits = doc.hits
        firsts = {hits[term_id][0] for term_id in self.terms.intersection(hits)}
        return len(firsts) + (min(firsts)[1] <= doc.title_end) if firsts else 0

    def weight_of(self, count: int) -> float:
        """The evidence ``count`` occurrences give (as ``weigh`` records it)."""
        return self._weights[min(count, self.rule.repeat)]

    def _firsts(self, doc: Document, ignored: set[int]) -> list[Span]:
        """The first occurrence of each term of the list that occurs (a word said five times
        is one piece of evidence; two terms of the list on the same words are one)."""
        firsts = set()
        for term_id in self.terms & doc.hits.keys():
            spans = doc.hits[term_id]
            if ignored:
                spans = [s for s in spans if s[0] not in ignored and s[1] - 1 not in ignored]
            if spans:
                firsts.add(spans[0])
        return sorted(firsts)

    @staticmethod
    def _any_count(doc: Document, firsts: list[Span]) -> int:
        """Distinct terms that occur, plus one when the headline has one."""
        return len(firsts) + (bool(firsts) and firsts[0][1] <= doc.title_end)

    def _pairs(self, doc: Document, ignored: set[int]) -> list[tuple[Span, Span]]:
        """Occurrences with a partner term close by, in text order; stops once ``repeat``
        are found."""
        spans = _spans(doc, self.terms, ignored)
        partners = _spans(doc, self.partners, ignored)
        within, found = self.rule.within, []
        reach = (within + 1) * _MAX_CHARS_PER_WORD
        starts = [p[0] for p in partners]
        for span in spans:
            lo, hi = bisect_left(starts, span[0] - reach), bisect_right(starts, span[0] + reach)
            for other in partners[lo:hi]:
                if other != span and _distance(doc.folded, span, other) <= within:
                    first, second = sorted((span, other))
                    found.append((first, second))
                    break
            if len(found) >= self.rule.repeat:
                break
        return found

    def _entities(self, doc: Document) -> tuple[int, list[str]]:
        names: dict[str, str] = {}
        if self.rule.roles is not None:
            roles = [r.lower() for r in self.rule.roles]
            for m in doc.mentions:
                role = (m.info.role or "").lower() if m.info.type == "PERSON" else ""
                if role and any(r in role for r in roles):
                    names.setdefault(m.info.id, m.text)
        for kind in self.rule.entities or () if self.rule.roles is None else ():
            for key, text in doc.distinct.get(kind, {}).items():
                names.setdefault(key, text)
        count = len(names) - self.rule.distinct + 1
        return (count, list(names.values())) if count > 0 else (0, [])

    def weigh(self, doc: Document, ignored: set[int]) -> Evidence | None:
        """The evidence this signal gives, or None when it does not fire."""
        count, matched = self.observe(doc, ignored)
        if count <= 0:
            return None
        return Evidence(self.rule.label, list(dict.fromkeys(matched)), self.weight_of(count))


@dataclass(frozen=True)
class CompiledExclusion:
    """An exclusion with its terms resolved to ids."""

    rule: Exclusion
    terms: frozenset[int]

    def fires(self, doc: Document) -> bool:
        return len(self.terms & doc.hits.keys()) >= self.rule.min

    def weigh(self, doc: Document) -> Evidence | None:
        present = self.terms & doc.hits.keys()
        if len(present) < self.rule.min:
            return None
        firsts = sorted(doc.hits[t][0] for t in present)
        matched = list(dict.fromkeys(doc.folded[s:e] for s, e in firsts))
        return Evidence(self.rule.name, matched, self.rule.penalty)


@dataclass(frozen=True)
class CompiledRequirement:
    """Required context with its terms resolved to ids."""

    rule: Requirement
    terms: frozenset[int]

    def met(self, doc: Document) -> bool:
        count = doc.count(self.rule.entities) if self.rule.entities else 0
        count += sum(len(doc.hits[t]) for t in self.terms & doc.hits.keys())
        return count >= self.rule.min

    def possible(self, hits: Hits, candidates: Iterable[Candidate]) -> bool:
        """Whether ``met`` can hold once the candidates are resolved: each candidate becomes
        at most one mention, of one of its entries' types."""
        needed = self.rule.min - sum(len(hits[t]) for t in self.terms & hits.keys())
        if needed <= 0 or not self.rule.entities:
            return needed <= 0
        wanted = self.entity_types
        for _, _, entries in candidates:
            for entry in entries:
                if entry.info.type in wanted:
                    needed -= 1
                    if not needed:
                        return True
                    break
        return False

    @cached_property
    def entity_types(self) -> frozenset[str]:
        return frozenset(self.rule.entities)


class CompiledTopic:
    """One topic's rules, compiled against a shared TermIndex."""

    def __init__(self, rules: TopicRules, index: TermIndex) -> None:
        def ids(terms: Iterable[str]) -> frozenset[int]:
            return frozenset(index.add_all(terms))

        self.rules = rules
        self.signals = [
            CompiledSignal(s, ids(s.any or s.near or []), ids(s.to or [])) for s in rules.signals
        ]
        self.exclusions = [CompiledExclusion(x, ids(x.any)) for x in rules.exclude]
        self.requirement = (
            CompiledRequirement(rules.require, ids(rules.require.any)) if rules.require else None
        )
        self.ignore = ids(rules.ignore)
        # Terms without which no core signal can fire: an article with none of them scores 0
        # whatever else it says, so most articles (about neither topic) are settled at once.
        core = [s for s in self.signals if not s.rule.supporting]
        self.core_terms: frozenset[int] | None = (
            None
            if any(s.rule.entities is not None for s in core)
            else frozenset().union(*(s.terms for s in core))
        )

    def may_match(self, hits: Hits, candidates: Iterable[Candidate]) -> bool:
        """False when the article cannot match, whatever its entities turn out to be: none of
        the core terms occurs, or too few candidates could give the required context."""
        if self.core_terms is not None and self.core_terms.isdisjoint(hits):
            return False
        return self.requirement is None or self.requirement.possible(hits, candidates)

    def _ignored(self, doc: Document) -> set[int]:
        """Character positions covered by this topic's ignored phrases ("exchange of fire")."""
        hits = doc.hits
        return {i for t in self.ignore & hits.keys() for s, e in hits[t] for i in range(s, e)}

    def judge(self, doc: Document, explain: bool = True) -> TopicVerdict:
        """Score the document against this topic and say why (without ``explain``, only when
        it matches: the verdict on an article that does not match carries its score and
        flags but not the evidence, which is much of the work of finding it).

        Without ``explain``, a document that lacks the topic's required context is settled
        before its evidence is weighed: it scores 0 whatever the evidence says. Its verdict
        says the context is missing; its ``evidence_score`` and ``core_found`` are not
        worked out. Six in ten items of the real feeds in ``../shared/corpora`` name no
        state, party or person, and the diplomacy rules require one."""
        threshold = self.rules.threshold
        if self.core_terms is not None and not self.core_terms & doc.hits.keys():
            return TopicVerdict(score=0.0, threshold=threshold, matched=False, core_found=False)
        if explain:
            return self._explained(doc)
        if self.requirement is not None and not self.requirement.met(doc):
            return TopicVerdict(score=0.0, threshold=threshold, matched=False, context_found=False)
        ignored = self._ignored(doc)
        weights, core, hits = [], False, doc.hits
        for signal in self.signals:
            if signal.terms and signal.terms.isdisjoint(hits):
                continue  # none of its terms occurs (most signals, for most articles)
            count = signal.count(doc, ignored)
            if count > 0:
                weights.append(signal.weight_of(count))
                core = core or not signal.rule.supporting
        raw = _noisy_or(weights)
        score = raw if core else 0.0
        for exclusion in self.exclusions if score else ():
            if exclusion.fires(doc):
                score *= 1 - exclusion.rule.penalty
        score = round(score, 4)
        if score >= threshold:
            return self._explained(doc)
        return TopicVerdict(
            score=score,
            threshold=threshold,
            matched=False,
            evidence_score=round(raw, 4),
            core_found=core,
        )

    def _explained(self, doc: Document) -> TopicVerdict:
        ignored = self._ignored(doc)
        fired = [(s, e) for s in self.signals if (e := s.weigh(doc, ignored))]
        evidence = [e for _, e in fired]
        exclusions = [e for x in self.exclusions if (e := x.weigh(doc))]
        context = self.requirement is None or self.requirement.met(doc)
        core = any(not s.rule.supporting for s, _ in fired)
        raw = _noisy_or(e.weight for e in evidence)
        score = raw if core else 0.0
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
            core_found=core,
        )


def _noisy_or(weights: Iterable[float]) -> float:
    """Combine independent pieces of evidence: 1 - Π(1 - w)."""
    missing = 1.0
    for weight in weights:
        missing *= 1 - weight
    return 1 - missing
