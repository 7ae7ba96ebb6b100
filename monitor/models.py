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
    """A named entity found in an article: ``type`` is PERSON, GPE, NORP, ORG, ROLE …"""

    text: str
    type: str
    id: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"text": self.text, "type": self.type}
        if self.id:
            out["id"] = self.id
        return out


@dataclass(frozen=True)
class Classification:
    """The filter's verdict on one article: matching topics, scores for all, and why."""

    topics: list[str]
    scores: dict[str, float]
    entities: list[Entity] = field(default_factory=list)
    why: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "topics": self.topics,
            "scores": self.scores,
            "entities": [e.as_dict() for e in self.entities],
            "why": self.why,
        }
