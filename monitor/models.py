"""Values that flow through the pipeline: articles, entities, classifications. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Article:
    """One story as seen at one source, already normalised (canonical URL, plain text, UTC)."""

    url: str
    title: str
    source: str
    summary: str = ""
    text: str = ""
    published: datetime | None = None
    guid: str | None = None
    author: str | None = None
    language: str | None = None

    @property
    def body(self) -> str:
        """The fullest text we have: extracted text, else the feed summary."""
        return self.text or self.summary


@dataclass(frozen=True)
class Entity:
    """A named entity found in an article: ``type`` is PERSON, GPE, NORP, ORG, ROLE …

    ``id`` is stable across spellings (ISO country code, organisation id, person slug);
    ``role`` says who a PERSON is ("Foreign Minister, Russian Federation")."""

    text: str
    type: str
    id: str | None = None
    role: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"text": self.text, "type": self.type}
        if self.id:
            out["id"] = self.id
        if self.role:
            out["role"] = self.role
        return out


@dataclass(frozen=True)
class Evidence:
    """One rule that fired for a topic: its label, the text it matched, and its weight.

    For a signal ``weight`` is what it added to the score; for an exclusion, the penalty."""

    rule: str
    terms: list[str]
    weight: float


@dataclass(frozen=True)
class TopicVerdict:
    """How one topic's score came about, for ``monitor classify --explain`` and reviews."""

    score: float
    threshold: float
    matched: bool
    signals: list[Evidence] = field(default_factory=list)
    exclusions: list[Evidence] = field(default_factory=list)
    context_found: bool = True
    evidence_score: float = 0.0
    core_found: bool = True


@dataclass(frozen=True)
class Classification:
    """The filter's verdict on one article: matching topics, scores for all, and why."""

    topics: list[str]
    scores: dict[str, float]
    entities: list[Entity] = field(default_factory=list)
    why: dict[str, list[str]] = field(default_factory=dict)
    verdicts: dict[str, TopicVerdict] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "topics": self.topics,
            "scores": self.scores,
            "entities": [e.as_dict() for e in self.entities],
            "why": self.why,
        }


@dataclass
class IngestReport:
    """Counts from one batch of articles."""

    seen: int = 0
    new: int = 0
    matched: int = 0
    alerts: int = 0

    def __iadd__(self, other: IngestReport) -> IngestReport:
        self.seen += other.seen
        self.new += other.new
        self.matched += other.matched
        self.alerts += other.alerts
        return self

    def counts(self) -> dict[str, int]:
        """The counts as structured log fields (``entries`` is what the source delivered)."""
        return {
            "entries": self.seen,
            "new": self.new,
            "matched": self.matched,
            "alerts": self.alerts,
        }
