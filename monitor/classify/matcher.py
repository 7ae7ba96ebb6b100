"""Find every rule term in a text with one Aho-Corasick pass over its lower-cased form."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import ahocorasick

from monitor.classify.terms import expand
from monitor.classify.text import is_word_char

Span = tuple[int, int]


class TermIndex:
    """All terms of a rule set, compiled once; ``find`` maps term ids to where they occur."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._patterns: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        self._automaton: ahocorasick.Automaton | None = None

    def add(self, term: str) -> int:
        """Register a term (once) and return its id."""
        if term in self._ids:
            return self._ids[term]
        term_id = self._ids[term] = len(self._ids)
        for pattern in expand(term):
            self._patterns[pattern.text].append((term_id, pattern.prefix))
        self._automaton = None
        return term_id

    def add_all(self, terms: Iterable[str]) -> list[int]:
        return [self.add(term) for term in terms]

    def _build(self) -> ahocorasick.Automaton:
        automaton = ahocorasick.Automaton()
        for text, entries in self._patterns.items():
            automaton.add_word(text, (len(text), tuple(entries)))
        if len(automaton):
            automaton.make_automaton()
        return automaton

    def find(self, folded: str) -> dict[int, list[Span]]:
        """Whole-word occurrences of every term in an already folded text, by term id."""
        if self._automaton is None:
            self._automaton = self._build()
        hits: dict[int, list[Span]] = defaultdict(list)
        if not folded or not len(self._automaton):
            return hits
        size = len(folded)
        for last, (length, entries) in self._automaton.iter(folded):
            start, end = last - length + 1, last + 1
            if start and is_word_char(folded[start - 1]):
                continue
            closed = end == size or not is_word_char(folded[end])
            for term_id, prefix in entries:
                if prefix:
                    hits[term_id].append((start, _word_end(folded, end)))
                elif closed:
                    hits[term_id].append((start, end))
        return hits


def _word_end(text: str, index: int) -> int:
    """Where the word running through ``index`` ends."""
    size = len(text)
    while index < size and is_word_char(text[index]):
        index += 1
    return index
