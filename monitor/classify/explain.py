"""Explain a classification to a person: which rules fired, with what, against what threshold."""

from __future__ import annotations

from monitor.models import Classification, Entity, TopicVerdict


def explain(result: Classification, title: str = "", label: str | None = None) -> str:
    """A few readable lines per topic: verdict, score vs threshold, evidence, exclusions."""
    head = f"{label}: {title}" if label else title
    lines = [head] if head else []
    for topic, verdict in result.verdicts.items():
        lines += _topic_lines(topic, verdict)
    lines.append(f"  entities: {_entities(result.entities) or '(none)'}")
    return "\n".join(lines)


def _topic_lines(topic: str, verdict: TopicVerdict) -> list[str]:
    mark = "MATCH" if verdict.matched else "no"
    relation = ">=" if verdict.matched else "<"
    lines = [
        f"  {topic}: {mark}  score {verdict.score:.2f} {relation} threshold {verdict.threshold:.2f}"
    ]
    for evidence in verdict.signals:
        terms = ", ".join(repr(t) for t in evidence.terms[:6])
        lines.append(f"    + {evidence.weight:.2f}  {evidence.rule}: {terms}")
    for exclusion in verdict.exclusions:
        terms = ", ".join(repr(t) for t in exclusion.terms[:6])
        lines.append(f"    x {1 - exclusion.weight:.2f}  excluded as {exclusion.rule}: {terms}")
    if not verdict.core_found:
        lines.append("    ! none of the topic's own (not supporting) signals fired")
    if not verdict.context_found:
        lines.append(
            f"    ! required context missing (evidence alone scored {verdict.evidence_score:.2f})"
        )
    return lines


def _entities(entities: list[Entity]) -> str:
    parts = []
    for e in entities:
        detail = f"{e.type}" + (f", {e.role}" if e.role else "")
        parts.append(f"{e.text} ({detail})")
    return "; ".join(parts)
