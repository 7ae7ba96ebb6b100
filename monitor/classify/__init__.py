"""The keyword + entity filter: pure, no I/O. ``Classifier(rules).classify(title, text)``.

Rules (``monitor.classify.rules``) are compiled once into a single Aho-Corasick automaton of
terms; entities come from a process-wide recognizer built from packaged data
(``monitor.classify.entities``). ``classify`` folds the text once, finds every term and entity
in two passes, and scores each topic from those hits (``monitor.classify.scoring``).

The package's names are loaded on first use: the config needs only the rule models
(``monitor.classify.rules``), and a command that classifies nothing (a poll in which nothing
changed) should not pay for the entity tables and the matcher.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.classify.classifier import Classifier, default_rules
    from monitor.classify.rules import TopicRules

__all__ = ["Classifier", "TopicRules", "default_rules"]

_HOMES = {
    "Classifier": "monitor.classify.classifier",
    "default_rules": "monitor.classify.classifier",
    "TopicRules": "monitor.classify.rules",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
