"""The topic rule language as it appears under ``topics:`` in config.yaml (placeholder, see issue 3)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TopicRules(BaseModel):
    """Rules for one topic: an article matches when a phrase hits, context is present and no
    exclusion applies."""

    model_config = ConfigDict(extra="forbid")

    phrases: list[str] = Field(min_length=1)
    require_any: list[str] = []
    exclude: list[str] = []
    threshold: float = 0.5
