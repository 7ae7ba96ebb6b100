"""What the pipeline must know about an article before it touches the database: the filter's
verdict and the article's fingerprint. Both are pure and cost far more CPU than storing the
article, so the parse workers compute them beside the parser, on every core, and the process
that owns the database only looks things up and writes.

An ``Analyzer`` is the recipe (the topic rules as JSON and the story similarity), small enough
to travel with every document to a worker; each process compiles a recipe's classifier once
and keeps it while the recipe stays the same (a reload with new rules brings a new recipe).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from monitor.classify.rules import TopicRules
from monitor.models import Article, Classification

if TYPE_CHECKING:
    from monitor.classify import Classifier
    from monitor.dedupe import Fingerprint

# Classifiers compiled in this process, by recipe digest: the current rules and, for the
# moment a reload takes effect, the previous ones.
_COMPILED: dict[str, Classifier] = {}
_KEEP_COMPILED = 2


@dataclass(frozen=True)
class Analysis:
    """One article's verdict and fingerprint (with its LSH band keys when it has a signature)."""

    classification: Classification
    fingerprint: Fingerprint
    bands: bytes | None = None  # LSH band keys, packed as stored (``dedupe.pack_bands``)


@dataclass(frozen=True)
class Analyzer:
    """Classifies and fingerprints articles under one set of rules; picklable."""

    rules_json: str
    similarity: float
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        text = f"{self.similarity}\n{self.rules_json}".encode()
        object.__setattr__(self, "digest", hashlib.sha256(text).hexdigest())

    @classmethod
    def for_rules(cls, topics: Mapping[str, TopicRules], similarity: float) -> Analyzer:
        """The recipe for validated rules; this process's classifier is made from them as
        they are (the workers rebuild them from the JSON)."""
        rules = {name: rule.model_dump(mode="json") for name, rule in topics.items()}
        analyzer = cls(json.dumps(rules), similarity)  # topic order is kept: alerts list it
        object.__setattr__(analyzer, "_validated", dict(topics))
        return analyzer

    @cached_property
    def classifier(self) -> Classifier:
        """This process's classifier for the recipe (made on first use: a poll in which
        nothing changed never imports or builds it)."""
        from monitor.classify import Classifier

        compiled = _COMPILED.get(self.digest)
        if compiled is None:
            rules = getattr(self, "_validated", None) or {
                name: TopicRules.model_validate(block)
                for name, block in json.loads(self.rules_json).items()
            }
            compiled = _remember(self.digest, Classifier(rules))
        return compiled

    def __getstate__(self) -> dict[str, object]:
        # The compiled classifier stays in its process: only the recipe travels.
        return {"rules_json": self.rules_json, "similarity": self.similarity}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["rules_json"], state["similarity"])  # type: ignore[misc]

    def classify(self, article: Article) -> Classification:
        """The verdict as the pipeline uses it: without the per-topic explanations (and, for
        an article that matched nothing, without scores and entities), which nothing stores
        and which would only cost pickling on the way back from a worker."""
        return self.classifier.matching(article.title, article.body)

    def analyze(self, article: Article) -> Analysis:
        return self.analyze_all([article])[0]

    def analyze_all(self, articles: Sequence[Article]) -> list[Analysis]:
        """Verdicts and fingerprints of a feed's articles (signatures and bands in one numpy
        pass for all of them)."""
        import numpy as np

        from monitor.dedupe import band_matrix, fingerprints, pack_band_rows

        fps = fingerprints(articles)
        signed = [fp.signature for fp in fps if fp.signature is not None]
        keys = iter(
            pack_band_rows(band_matrix(np.stack(signed), self.similarity)) if signed else []
        )
        return [
            Analysis(self.classify(a), fp, None if fp.signature is None else next(keys))
            for a, fp in zip(articles, fps, strict=True)
        ]


def _remember(digest: str, classifier: Classifier) -> Classifier:
    while len(_COMPILED) >= _KEEP_COMPILED:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[digest] = classifier
    return classifier
