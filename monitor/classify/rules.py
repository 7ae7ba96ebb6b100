"""The topic rule language: one ``topics.<name>`` block of config.yaml, validated by pydantic.

An article's score for a topic is built from *signals*, each a piece of evidence with a weight
in (0, 1] saying how sure that evidence alone makes us. Signals combine like independent
witnesses (noisy-OR): ``score = 1 - (1 - w1) (1 - w2) …``, so two 0.5 signals give 0.75.

- ``any: [terms]`` fires when one of the terms occurs (term syntax: ``monitor.classify.terms``:
  inflections, ``prefix*``, ``=exact``, ``a|b`` alternatives).
- ``near: [terms]`` with ``to: [terms]`` and ``within: N`` fires when a term of each list occurs
  at most N words apart, in either order. ``near: "prisoner* NEAR/5 swap|exchange"`` is the
  same written on one line.
- ``entities: [GPE, NORP, …]`` with ``distinct: N`` fires when N different named entities of
  those types occur (e.g. two different countries; places and people count by their country).
  ``roles: [foreign minister, envoy]`` keeps only people whose curated role says so.
- ``repeat: N`` lets up to N pieces of evidence count, each adding the weight again: N
  different terms of an ``any`` list (a word repeated is one piece; one in the headline is
  one more), N occurrences of a
  ``near`` pair, N entities beyond ``distinct``.
- ``supporting: true`` marks evidence that only strengthens a case some other signal made
  (countries named, "meeting"): a topic whose fired signals are all supporting scores 0.

``require`` names the context a topic needs (for instance a state actor: a country, a demonym,
an international body, a leader or a government role); without it the score is 0.
``exclude`` lists look-alike contexts (sport trades, currency markets, films …): when at least
``min`` different terms of one occur, the score is multiplied by ``1 - penalty``.
``ignore`` lists phrases whose words never count as evidence ("exchange of fire",
"stock exchange"). A topic matches when its final score reaches ``threshold``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from monitor.classify.terms import check_term

Term = Annotated[str, AfterValidator(check_term)]
EntityType = Literal["PERSON", "GPE", "NORP", "ORG", "ROLE"]
Weight = Annotated[float, Field(gt=0, le=1)]

_NEAR = re.compile(r"^(?P<a>.+?)\s+NEAR/(?P<n>\d+)\s+(?P<b>.+)$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signal(_Rule):
    """One piece of evidence for a topic (see the module docstring for the kinds)."""

    name: str | None = None
    any: list[Term] | None = None
    near: list[Term] | None = None
    to: list[Term] | None = None
    within: int = Field(default=5, ge=0, le=100)
    entities: list[EntityType] | None = None
    distinct: int = Field(default=1, ge=1)
    roles: list[str] | None = None
    weight: Weight
    repeat: int = Field(default=1, ge=1, le=20)
    supporting: bool = False

    @model_validator(mode="before")
    @classmethod
    def _near_shorthand(cls, data: Any) -> Any:
        """Accept ``near: "a|b NEAR/5 c|d"`` as a one-line form of near/to/within."""
        if isinstance(data, dict) and isinstance(data.get("near"), str):
            match = _NEAR.match(data["near"].strip())
            if not match:
                raise ValueError(f"near: expected 'TERM NEAR/N TERM', got {data['near']!r}")
            if "to" in data or "within" in data:
                raise ValueError("near: the 'A NEAR/N B' form already gives 'to' and 'within'")
            data = {**data, "near": [match["a"]], "to": [match["b"]], "within": int(match["n"])}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Signal:
        kinds = [k for k in ("any", "near", "entities") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a signal needs exactly one of 'any', 'near' or 'entities'")
        if (self.near is None) != (self.to is None):
            raise ValueError("'near' and 'to' go together")
        if self.roles is not None and self.entities != ["PERSON"]:
            raise ValueError("'roles' filters people: use it with 'entities: [PERSON]'")
        if any(not getattr(self, k) for k in kinds + (["to"] if self.to is not None else [])):
            raise ValueError(f"'{kinds[0]}' may not be empty")
        return self

    @property
    def label(self) -> str:
        """How the signal is named in explanations."""
        if self.name:
            return self.name
        if self.near is not None and self.to is not None:
            return f"{self.near[0]} NEAR/{self.within} {self.to[0]}"
        if self.entities is not None:
            return f"{self.distinct}+ {'/'.join(self.entities)}"
        return (self.any or [""])[0]


class Requirement(_Rule):
    """Context a topic cannot do without: at least ``min`` mentions of these entities or terms."""

    entities: list[EntityType] = []
    any: list[Term] = []
    min: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _not_empty(self) -> Requirement:
        if not self.entities and not self.any:
            raise ValueError("require: give 'entities' or 'any' (or drop 'require')")
        return self


class Exclusion(_Rule):
    """A look-alike context; when ``min`` different terms occur the score is cut by ``penalty``."""

    name: str
    any: list[Term] = Field(min_length=1)
    min: int = Field(default=1, ge=1)
    penalty: Weight = 1.0


class TopicRules(_Rule):
    """Rules for one topic: weighted signals, required context, exclusions and a threshold."""

    description: str = ""
    threshold: float = Field(default=0.5, gt=0, le=1)
    signals: list[Signal] = Field(min_length=1)
    require: Requirement | None = None
    exclude: list[Exclusion] = []
    ignore: list[Term] = []
